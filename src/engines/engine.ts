import type { ConsumerMessage, HandlerContext } from "../core/message.ts";

/**
 * Runs handler attempts. The control plane decides what runs and when; an engine only decides
 * where (event loop, worker) and how many at once.
 */
export interface ExecutionEngine {
  /** How many more attempts the engine can start right now. */
  readonly idleSlots: number;
  /** Runs one attempt; rejects with the handler's error. */
  execute(message: ConsumerMessage, context: HandlerContext): Promise<void>;
  /** Releases the engine's resources once no attempt is running. */
  close(): Promise<void>;
}
