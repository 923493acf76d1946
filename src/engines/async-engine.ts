import type { ConsumerMessage, HandlerContext, MessageHandler } from "../core/message.ts";
import type { ExecutionEngine } from "./engine.ts";
import { HandlerTimeoutError } from "./handler-timeout-error.ts";

const DONE: Promise<void> = Promise.resolve();

/** Runs handlers on the event loop, at most `concurrency` at a time. For I/O-bound handlers. */
export class AsyncEngine implements ExecutionEngine {
  readonly #handler: MessageHandler;
  readonly #concurrency: number;
  readonly #timeoutMs: number | undefined;
  #running = 0;

  constructor(handler: MessageHandler, options: { concurrency: number; handlerTimeoutMs?: number }) {
    this.#handler = handler;
    this.#concurrency = options.concurrency;
    this.#timeoutMs = options.handlerTimeoutMs;
  }

  get idleSlots(): number {
    return this.#concurrency - this.#running;
  }

  /** Not `async`: a synchronous handler costs no extra promise, an async one a single `then`. */
  execute(message: ConsumerMessage, context: HandlerContext): Promise<void> {
    if (this.#timeoutMs !== undefined) return this.#executeWithTimeout(message, context, this.#timeoutMs);
    this.#running++;
    let result: Promise<void> | void;
    try {
      result = this.#handler(message, context);
    } catch (error) {
      this.#running--;
      return Promise.reject(error);
    }
    if (result === undefined || typeof (result as Promise<void>).then !== "function") {
      this.#running--;
      return DONE;
    }
    return result.then(this.#settled, this.#rejected);
  }

  readonly #settled = (): void => {
    this.#running--;
  };

  readonly #rejected = (error: unknown): never => {
    this.#running--;
    throw error;
  };

  /**
   * A function cannot be killed: on timeout the attempt's signal aborts, and the attempt counts as
   * failed once the handler returns (handlers should honour `signal`).
   */
  async #executeWithTimeout(message: ConsumerMessage, context: HandlerContext, timeoutMs: number): Promise<void> {
    this.#running++;
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(new HandlerTimeoutError(timeoutMs)), timeoutMs);
    const signal = AbortSignal.any([context.signal, timeout.signal]);
    try {
      await this.#handler(message, { attempt: context.attempt, signal });
    } catch (error) {
      // A handler that gave up because of the timeout failed because of the timeout.
      throw timeout.signal.aborted ? timeout.signal.reason : error;
    } finally {
      clearTimeout(timer);
      this.#running--;
    }
    if (timeout.signal.aborted) throw timeout.signal.reason;
  }

  close(): Promise<void> {
    return DONE;
  }
}
