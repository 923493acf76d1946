// Worker side of the worker engine: receives batches, runs the user's handler, reports results.
import type { ConsumerMessage, HandlerContext } from "../../core/message.ts";
import { openParentPort, type ParentPort } from "./port.ts";
import { decodeTask, fromWireError, type ToWorker, toWireError, type WireError, type WireTask } from "./protocol.ts";

/** The handler a worker entry module passes to {@linkcode runWorker}. */
export type WorkerHandler = (message: ConsumerMessage, context: HandlerContext) => Promise<void> | void;

/**
 * Results are posted together once per microtask, so a batch of quick handlers costs one message
 * back. A result that has waited this long (CPU-bound handlers running back to back) goes out at
 * once, so the parent can send the next message while this worker computes the rest.
 */
const EAGER_REPORT_MS = 0.2;

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
  const running = new Map<number, AbortController>();
  let ok: number[] = [];
  let failed: { id: number; error: WireError }[] = [];
  let reportQueued = false;
  let lastReport = performance.now();

  const flush = (): void => {
    reportQueued = false;
    if (ok.length === 0 && failed.length === 0) return;
    port.post({ type: "done", ok, failed });
    ok = [];
    failed = [];
    lastReport = performance.now();
  };

  const finish = (id: number, error?: WireError): void => {
    running.delete(id);
    if (error === undefined) ok.push(id);
    else failed.push({ id, error });
    if (performance.now() - lastReport >= EAGER_REPORT_MS) flush();
    else if (!reportQueued) {
      reportQueued = true;
      queueMicrotask(flush);
    }
  };

  const start = (task: WireTask): void => {
    const controller = new AbortController();
    running.set(task.id, controller);
    let result: Promise<void> | void;
    try {
      result = handler(decodeTask(task), { signal: controller.signal, attempt: task.attempt });
    } catch (error) {
      return finish(task.id, toWireError(error));
    }
    // A synchronous handler reports at once: see EAGER_REPORT_MS.
    if (result === undefined || typeof result.then !== "function") return finish(task.id);
    result.then(() => finish(task.id), (error: unknown) => finish(task.id, toWireError(error)));
  };

  const port: ParentPort = openParentPort((message: ToWorker) => {
    if (message.type === "run") {
      lastReport = performance.now();
      for (const task of message.tasks) start(task);
    } else {
      const reason = fromWireError(message.reason);
      for (const id of message.ids) running.get(id)?.abort(reason);
    }
  });
  port.post({ type: "ready" });
}
