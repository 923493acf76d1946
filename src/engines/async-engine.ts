import type { ConsumerMessage, HandlerContext, MessageHandler } from "../core/message.ts";
import type { ExecutionEngine } from "./engine.ts";
import { HandlerTimeoutError } from "./handler-timeout-error.ts";

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

  async execute(message: ConsumerMessage, context: HandlerContext): Promise<void> {
    this.#running++;
    try {
      if (this.#timeoutMs === undefined) return await this.#handler(message, context);
      await this.#withTimeout(message, context, this.#timeoutMs);
    } finally {
      this.#running--;
    }
  }

  /**
   * A function cannot be killed: on timeout the attempt's signal aborts, and the attempt counts as
   * failed once the handler returns (handlers should honour `signal`).
   */
  async #withTimeout(message: ConsumerMessage, context: HandlerContext, timeoutMs: number): Promise<void> {
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
    }
    if (timeout.signal.aborted) throw timeout.signal.reason;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
