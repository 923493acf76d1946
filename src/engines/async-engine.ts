import type { ConsumerMessage, HandlerContext, MessageHandler } from "../core/message.ts";
import type { ExecutionEngine } from "./engine.ts";

/** Runs handlers on the event loop, at most `concurrency` at a time. For I/O-bound handlers. */
export class AsyncEngine implements ExecutionEngine {
  readonly #handler: MessageHandler;
  readonly #concurrency: number;
  #running = 0;

  constructor(handler: MessageHandler, concurrency: number) {
    this.#handler = handler;
    this.#concurrency = concurrency;
  }

  get idleSlots(): number {
    return this.#concurrency - this.#running;
  }

  async execute(message: ConsumerMessage, context: HandlerContext): Promise<void> {
    this.#running++;
    try {
      await this.#handler(message, context);
    } finally {
      this.#running--;
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
