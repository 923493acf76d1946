// Worker side of the worker engine: the entry point a worker module calls.
import type { MessageHandler } from "../../core/message.ts";
import { openParentPort } from "./port.ts";
import { TaskRunner } from "./task-runner.ts";

/** The handler a worker entry module passes to {@linkcode runWorker}: the consumer's `MessageHandler`. */
export type WorkerHandler = MessageHandler;

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
export function runWorker(handler: WorkerHandler): void {
  if (started) throw new Error("runWorker() was already called in this worker");
  started = true;
  // The runner posts through `port`, which exists before the first message can arrive.
  const runner: TaskRunner = new TaskRunner(handler, { post: (message, transfer) => port.post(message, transfer) });
  const port = openParentPort((message) => runner.receive(message), () => runner.exiting());
  port.post({ type: "ready" });
}
