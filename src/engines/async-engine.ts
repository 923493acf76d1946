import type { Attempt } from "../core/attempt.ts";
import { type Clock, systemClock, type Timer } from "../core/clock.ts";
import { pendingResult } from "../core/handler-result.ts";
import type { ConsumerMessage, MessageHandler } from "../core/message.ts";
import type { ExecutionEngine } from "../core/ports/execution-engine.ts";
import { HandlerTimeoutError } from "../core/errors.ts";

const DONE: Promise<void> = Promise.resolve();

/** Options of {@linkcode AsyncEngine}. */
export interface AsyncEngineSettings {
  /** Handlers running at once. */
  readonly concurrency: number;
  /** Per attempt: the attempt's signal aborts after this long. */
  readonly handlerTimeoutMs?: number | undefined;
  readonly clock?: Clock | undefined;
}

/**
 * Runs handlers on the event loop, at most `concurrency` at a time. For I/O-bound handlers.
 *
 * A function cannot be stopped: on `handlerTimeoutMs` the attempt's signal aborts and the attempt
 * counts as failed once the handler returns; a handler that ignores its signal keeps its slot (and
 * its key) until it returns. The worker engine can terminate a stuck handler's thread instead.
 */
export class AsyncEngine implements ExecutionEngine {
  readonly #handler: MessageHandler;
  readonly #concurrency: number;
  readonly #timeoutMs: number | undefined;
  readonly #clock: Clock;
  /** Timeout timers of running attempts: close() clears those of handlers that never return. */
  readonly #timers = new Set<Timer>();
  #running = 0;

  constructor(handler: MessageHandler, settings: AsyncEngineSettings) {
    this.#handler = handler;
    this.#concurrency = settings.concurrency;
    this.#timeoutMs = settings.handlerTimeoutMs;
    this.#clock = settings.clock ?? systemClock;
  }

  get idleSlots(): number {
    return this.#concurrency - this.#running;
  }

  start(): Promise<void> {
    return DONE;
  }

  /** Not `async`: a synchronous handler costs no extra promise, an async one a single `then`. */
  execute(message: ConsumerMessage, attempt: Attempt): Promise<void> {
    this.#running++;
    let pending: Promise<unknown> | undefined;
    try {
      pending = pendingResult(this.#handler(message, attempt));
    } catch (error) {
      this.#running--;
      return Promise.reject(error);
    }
    if (pending === undefined) {
      this.#running--;
      return DONE;
    }
    const timeoutMs = this.#timeoutMs;
    if (timeoutMs === undefined) return pending.then(this.#settled, this.#rejected);
    const timer = this.#clock.setTimeout(() => {
      this.#timers.delete(timer);
      attempt.abort(new HandlerTimeoutError(timeoutMs));
    }, timeoutMs);
    this.#timers.add(timer);
    const settle = () => {
      this.#clock.clearTimeout(timer);
      this.#timers.delete(timer);
      this.#running--;
    };
    return pending.then(settle, (error: unknown) => {
      settle();
      throw error;
    });
  }

  readonly #settled = (): void => {
    this.#running--;
  };

  readonly #rejected = (error: unknown): never => {
    this.#running--;
    throw error;
  };

  close(): Promise<void> {
    for (const timer of this.#timers) this.#clock.clearTimeout(timer);
    this.#timers.clear();
    return DONE;
  }
}
