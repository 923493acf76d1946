import type { Attempt } from "../core/attempt.ts";
import { type Clock, systemClock, type Timer } from "../core/clock.ts";
import { pendingResult } from "../core/handler-result.ts";
import type { BatchHandler, ConsumerMessage, EngineHandler, MessageHandler } from "../core/message.ts";
import type { ExecutionEngine } from "../core/ports/execution-engine.ts";
import { HandlerTimeoutError } from "../core/errors.ts";

const DONE: Promise<void> = Promise.resolve();
/**
 * Synchronous handlers that run without the event loop turning in between (each one's end starts
 * the next through microtasks, with the consumer's own work between them) yield the loop after
 * this long, so timers and I/O (heartbeats, fetches, commits, the user's own server) run.
 */
const SYNC_SLICE_MS = 50;

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
  readonly #handler: MessageHandler | undefined;
  readonly #batchHandler: BatchHandler | undefined;
  readonly #concurrency: number;
  readonly #timeoutMs: number | undefined;
  readonly #clock: Clock;
  /** Timeout timers of running attempts: close() clears those of handlers that never return. */
  readonly #timers = new Set<Timer>();
  #running = 0;
  /** Start of the current slice: the first synchronous handler since the event loop last turned. */
  #sliceStart = 0;
  /** A slice is on: its timer, set when it began, has not fired, so the loop has not turned since. */
  #inSlice = false;
  /** A slice ran out: nothing starts until the event loop has run its timers and I/O. */
  #yielding = false;

  constructor(handler: EngineHandler, settings: AsyncEngineSettings) {
    if (typeof handler === "function") this.#handler = handler;
    else this.#batchHandler = handler.batchHandler;
    this.#concurrency = settings.concurrency;
    this.#timeoutMs = settings.handlerTimeoutMs;
    this.#clock = settings.clock ?? systemClock;
  }

  get runsBatches(): boolean {
    return this.#batchHandler !== undefined;
  }

  get idleSlots(): number {
    return this.#yielding ? 0 : this.#concurrency - this.#running;
  }

  start(): Promise<void> {
    return DONE;
  }

  execute(message: ConsumerMessage, attempt: Attempt): Promise<void> {
    const handler = this.#handler;
    if (handler === undefined) return Promise.reject(new TypeError("this engine runs a batch handler"));
    return this.#run(handler, message, attempt);
  }

  /** One attempt of the batch handler, in one slot; settles as `execute` does. */
  executeBatch(messages: readonly ConsumerMessage[], attempt: Attempt): Promise<void> {
    const handler = this.#batchHandler;
    if (handler === undefined) return Promise.reject(new TypeError("this engine runs a message handler"));
    return this.#run(handler, messages, attempt);
  }

  /** Not `async`: a synchronous handler costs no extra promise, an async one a single `then`. */
  #run<Input>(handler: (input: Input, context: Attempt) => unknown, input: Input, attempt: Attempt): Promise<void> {
    this.#running++;
    let pending: Promise<unknown> | undefined;
    try {
      pending = pendingResult(handler(input, attempt));
    } catch (error) {
      this.#running--;
      return Promise.reject(error);
    }
    return this.#settle(pending, attempt);
  }

  /** Frees the slot when the handler's result settles, aborting the attempt on `handlerTimeoutMs`. */
  #settle(pending: Promise<unknown> | undefined, attempt: Attempt): Promise<void> {
    if (pending === undefined) return this.#ranSync(attempt.startedAt);
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

  /**
   * A synchronous handler returned. Once SYNC_SLICE_MS passed since the first synchronous handler
   * after the loop last turned, this one keeps its slot until a timer fires (and so after the
   * loop's pending I/O): no new attempt starts meanwhile. Without it, a chain of CPU-bound handlers
   * blocks the loop for seconds and the group drops the member. The loop's turn is told by a timer
   * set when the slice began, not by a pause between handlers: the consumer's own work between two
   * fast handlers (decoding a response, a commit, a garbage collection) can take a millisecond
   * while the loop stays blocked, and each such pause began a new slice.
   */
  #ranSync(startedAt: number): Promise<void> {
    const end = this.#clock.now();
    if (!this.#inSlice) {
      this.#inSlice = true;
      this.#sliceStart = startedAt;
      this.#clock.setTimeout(this.#loopTurned, 0);
    }
    if (end - this.#sliceStart < SYNC_SLICE_MS) {
      this.#running--;
      return DONE;
    }
    this.#yielding = true;
    return new Promise((resolve) => {
      this.#clock.setTimeout(() => {
        this.#yielding = false;
        this.#running--;
        resolve();
      }, 0);
    });
  }

  readonly #loopTurned = (): void => {
    this.#inSlice = false;
  };

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
