// Worker side of the worker engine: receives batches, runs the user's handler, reports results.
import type { ConsumerMessage, HandlerContext } from "../../core/message.ts";
import { openParentPort } from "./port.ts";
import { decodeTask, fromWireError, type ToWorker, toWireError, type WireError, type WireTask } from "./protocol.ts";
import { Reporter } from "./reporter.ts";

/** The handler a worker entry module passes to {@linkcode runWorker}. */
export type WorkerHandler = (message: ConsumerMessage, context: HandlerContext) => Promise<void> | void;

/** A message whose handler is running; its signal exists once the handler asked for it. */
interface Running {
  controller: AbortController | undefined;
  /** Set when the parent cancelled the attempt. */
  reason: Error | undefined;
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
export function runWorker(handler: WorkerHandler): void {
  if (started) throw new Error("runWorker() was already called in this worker");
  started = true;
  const running = new Map<number, Running>();
  const finish = (id: number, error?: WireError): void => {
    running.delete(id);
    reporter.add(id, error);
  };

  const start = (task: WireTask, payloads: ArrayBuffer): void => {
    const entry: Running = { controller: undefined, reason: undefined };
    running.set(task.id, entry);
    const context: HandlerContext = {
      attempt: task.attempt,
      // Created on first use: an AbortController per message costs tens of µs in a Bun worker.
      get signal(): AbortSignal {
        if (entry.controller === undefined) {
          entry.controller = new AbortController();
          if (entry.reason !== undefined) entry.controller.abort(entry.reason);
        }
        return entry.controller.signal;
      },
    };
    let result: Promise<void> | void;
    try {
      result = handler(decodeTask(task, payloads), context);
    } catch (error) {
      return finish(task.id, toWireError(error));
    }
    if (result === undefined || typeof result.then !== "function") return finish(task.id);
    result.then(() => finish(task.id), (error: unknown) => finish(task.id, toWireError(error)));
  };

  const port = openParentPort((message: ToWorker) => {
    if (message.type === "run") {
      reporter.turnStarted();
      for (const task of message.tasks) start(task, message.payloads);
    } else if (message.type === "init") {
      reporter.configure(new Int32Array(message.posted), message.lowWater);
    } else {
      const reason = fromWireError(message.reason);
      for (const id of message.ids) {
        const entry = running.get(id);
        if (entry === undefined) continue;
        entry.reason = reason;
        entry.controller?.abort(reason);
      }
    }
  });
  const reporter = new Reporter(port);
  port.post({ type: "ready" });
}
