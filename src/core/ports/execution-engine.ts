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
   * Runs one attempt; `attempt` is the handler's context. Tells `ended` once how it ended: failed
   * with the handler's error, or with {@linkcode EngineFailedError} when the engine itself cannot
   * run handlers any more (that is the consumer's failure, not the message's, and does not count as
   * an attempt). Never throws, and never calls `ended` before it returned.
   */
  execute<A extends Attempt>(message: ConsumerMessage, attempt: A, ended: AttemptEnded<A>): void;
  /**
   * Whether its handler is a batch handler: attempts then run through `executeBatch`. Settled
   * once start() resolved (the worker engine learns it from its module); absent means `false`.
   */
  readonly runsBatches?: boolean;
  /**
   * Runs one attempt of the batch handler over `messages`, in one slot; `attempt` is the whole
   * batch's context. Ends as `execute` does. Present on engines that can run batch handlers.
   */
  executeBatch?<A extends Attempt>(messages: readonly ConsumerMessage[], attempt: A, ended: AttemptEnded<A>): void;
  /**
   * Runs consecutive messages of one lane (a key, or a partition in partition order), each in its
   * own attempt, one after another where the first runs, without a round trip to the control plane
   * between them (engines whose round trip costs more than a short handler: the worker engine).
   * Each attempt ends through `ended`, as `execute`'s. A message starts only once the one before
   * it succeeded in an attempt nobody gave up on; otherwise it never starts (or what it did counts
   * for nothing) and it ends failed with {@linkcode NotStartedError}, always before the message
   * that broke the chain ends. Present on engines that chain.
   */
  executeChain?<A extends Attempt>(
    messages: readonly ConsumerMessage[],
    attempts: readonly A[],
    ended: AttemptEnded<A>,
  ): void;
  /** Releases the engine's resources once no attempt is running. */
  close(): Promise<void>;
}

/**
 * How an attempt ended: `failed` is false when its handler succeeded, else `error` says why. A
 * callback rather than a promise per attempt: the hot path's promises and their jobs were a
 * measurable share of the consumer's own time per message.
 */
export type AttemptEnded<A extends Attempt> = (attempt: A, failed: boolean, error: unknown) => void;

/** Tells `ended` in a later microtask: for an attempt that ends as it is asked to run, never inside the call. */
export function endSoon<A extends Attempt>(ended: AttemptEnded<A>, attempt: A, failed: boolean, error?: unknown): void {
  queueMicrotask(() => ended(attempt, failed, error));
}

/**
 * A chain that cannot start (`error` refuses its first message): its followers end as not started,
 * then its first with `error`, each in a later microtask, in the order `executeChain` promises.
 */
export function endChainSoon<A extends Attempt>(ended: AttemptEnded<A>, attempts: readonly A[], error: unknown): void {
  for (let i = 1; i < attempts.length; i++) endSoon(ended, attempts[i]!, true, new NotStartedError());
  endSoon(ended, attempts[0]!, true, error);
}

/** An engine whose handler takes batches. */
export type BatchEngine = ExecutionEngine & Required<Pick<ExecutionEngine, "executeBatch">>;

/** Whether `engine` runs a batch handler (known once its start() resolved). */
export function runsBatches(engine: ExecutionEngine): engine is BatchEngine {
  return engine.runsBatches === true && engine.executeBatch !== undefined;
}

/**
 * A chained attempt ({@linkcode ExecutionEngine.executeChain}) that did not happen because a
 * message before it in its chain did not succeed: its message goes back to wait behind its lane,
 * not attempted. The control plane's own signal: never shown to a handler or a user.
 */
export class NotStartedError extends Error {
  override readonly name = "NotStartedError";
}
