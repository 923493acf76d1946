import type { Attempt } from "../attempt.ts";
import type { ConsumerMessage } from "../message.ts";
// deno-lint-ignore no-unused-vars -- EngineFailedError is named in the TSDoc
import type { EngineFailedError } from "../errors.ts";

/**
 * Runs handler attempts. The control plane decides what runs and when; an engine only decides
 * where (event loop, worker) and how many at once.
 */
export interface ExecutionEngine {
  /** How many more attempts the engine can start right now. */
  readonly idleSlots: number;
  /**
   * Gets ready to run handlers (e.g. the worker engine starts its pool and waits for a worker
   * to load the module). Rejects with {@linkcode EngineFailedError} when it cannot.
   */
  start(): Promise<void>;
  /**
   * Runs one attempt; `attempt` is the handler's context. Rejects with the handler's error, or
   * with {@linkcode EngineFailedError} when the engine itself cannot run handlers any more: that
   * is the consumer's failure, not the message's, and does not count as an attempt. Never throws
   * synchronously.
   */
  execute(message: ConsumerMessage, attempt: Attempt): Promise<void>;
  /**
   * Whether its handler is a batch handler: attempts then run through `executeBatch`. Settled
   * once start() resolved (the worker engine learns it from its module); absent means `false`.
   */
  readonly runsBatches?: boolean;
  /**
   * Runs one attempt of the batch handler over `messages`, in one slot; `attempt` is the whole
   * batch's context. Settles as `execute` does. Present on engines that can run batch handlers.
   */
  executeBatch?(messages: readonly ConsumerMessage[], attempt: Attempt): Promise<void>;
  /** Releases the engine's resources once no attempt is running. */
  close(): Promise<void>;
}

/** An engine whose handler takes batches. */
export type BatchEngine = ExecutionEngine & Required<Pick<ExecutionEngine, "executeBatch">>;

/** Whether `engine` runs a batch handler (known once its start() resolved). */
export function runsBatches(engine: ExecutionEngine): engine is BatchEngine {
  return engine.runsBatches === true && engine.executeBatch !== undefined;
}
