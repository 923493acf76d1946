// Worker side of the worker engine: the entry point a worker module calls.
import type { BatchHandler, MessageHandler } from "../../core/message.ts";
import { openParentPort } from "./port.ts";
import { TaskRunner } from "./task-runner.ts";

/** The handler a worker entry module passes to {@linkcode runWorker}: the consumer's `MessageHandler`. */
export type WorkerHandler = MessageHandler;

/** What a worker entry module passes to {@linkcode runWorker} to run a batch handler instead. */
export interface WorkerBatchOptions {
  /** Called with a batch of one partition's messages, built by the consumer from its `batch` option. */
  readonly batchHandler: BatchHandler;
}

let started = false;

/**
 * Makes this worker run `handler` for the messages the worker engine sends it. Call it once, at
 * the top level of the worker entry module, before any top-level `await`.
 *
 * The messages of one batch start together (a synchronous handler runs them one after the other);
 * each gets its own `context.signal`, aborted when the consumer cancels the attempt.
 *
 * @example
 * ```ts
 * // worker.ts, passed to the consumer as new URL("./worker.ts", import.meta.url)
 * import { runWorker } from "@pyrallel/consumer/worker";
 * runWorker((message) => { resize(message.value!); });
 * ```
 */
export function runWorker(handler: WorkerHandler): void;
/**
 * Makes this worker run a batch handler: the consumer builds batches (its `batch` option: at most
 * `maxMessages`, a key's messages consecutive and in offset order, no key in two running batches)
 * and sends each to one worker as one task, with one `context` (signal, attempt) for the batch. A
 * batch that throws is retried as a whole. Call it once, at the top level, before any `await`.
 *
 * @example
 * ```ts
 * // bulk-worker.ts
 * import { runWorker } from "@pyrallel/consumer/worker";
 * runWorker({ batchHandler: (messages) => { indexAll(messages.map((m) => m.value!)); } });
 * ```
 */
export function runWorker(options: WorkerBatchOptions): void;
export function runWorker(handler: WorkerHandler | WorkerBatchOptions): void {
  if (started) throw new Error("runWorker() was already called in this worker");
  started = true;
  // The runner posts through `port`, which exists before the first message can arrive.
  const runner: TaskRunner = new TaskRunner(handler, { post: (message, transfer) => port.post(message, transfer) });
  const port = openParentPort((message) => runner.receive(message), () => runner.exiting());
  port.post({ type: "ready", batches: typeof handler !== "function" });
}
