// Worker side, whatever the thread: runs the tasks of the batches the engine sends, answers
// cancels, and reports results. A real worker (runWorker) and the simulation's fake thread both
// drive this one class, so the simulation exercises the worker code that ships.
import { type Clock, systemClock } from "../../core/clock.ts";
import type { ConsumerMessage, HandlerContext } from "../../core/message.ts";
import type { ParentPort } from "./port.ts";
import { decodeTask, fromWireError, type ToWorker, toWireError, type WireError, type WireTask } from "./protocol.ts";
import { Reporter } from "./reporter.ts";

/** The handler a worker entry module passes to `runWorker`. */
export type WorkerHandler = (message: ConsumerMessage, context: HandlerContext) => Promise<void> | void;

/** A message whose handler is running; its signal exists once the handler asked for it. */
interface Running {
  controller: AbortController | undefined;
  /** Set when the parent cancelled the attempt. */
  reason: Error | undefined;
}

/** Runs the engine's tasks with `handler` and posts their results to `port`. */
export class TaskRunner {
  readonly #handler: WorkerHandler;
  readonly #reporter: Reporter;
  readonly #running = new Map<number, Running>();

  /** `clock`: only the simulation passes one (the reporter's timers then run in virtual time). */
  constructor(handler: WorkerHandler, port: ParentPort, clock: Clock = systemClock) {
    this.#handler = handler;
    this.#reporter = new Reporter(port, clock);
  }

  /** Handles one message from the engine. */
  receive(message: ToWorker): void {
    if (message.type === "run") {
      this.#reporter.turnStarted();
      for (const task of message.tasks) this.#start(task, message.payloads);
    } else if (message.type === "init") {
      this.#reporter.configure(new Int32Array(message.posted), message.lowWater);
    } else {
      this.#cancel(message.ids, fromWireError(message.reason));
    }
  }

  /** Aborts every running handler's signal: the thread is going away (the fake thread's terminate). */
  abortAll(reason: Error): void {
    this.#cancel([...this.#running.keys()], reason);
  }

  #cancel(ids: readonly number[], reason: Error): void {
    for (const id of ids) {
      const entry = this.#running.get(id);
      if (entry === undefined || entry.reason !== undefined) continue;
      entry.reason = reason;
      entry.controller?.abort(reason);
    }
  }

  #start(task: WireTask, payloads: ArrayBuffer): void {
    const entry: Running = { controller: undefined, reason: undefined };
    this.#running.set(task.id, entry);
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
    let pending: Promise<unknown> | undefined;
    try {
      pending = adopt(this.#handler(decodeTask(task, payloads), context));
    } catch (error) {
      return this.#finish(task.id, toWireError(error));
    }
    if (pending === undefined) return this.#finish(task.id);
    // A thenable that never calls back keeps its task running, like a promise that never settles.
    pending.then(() => this.#finish(task.id), (error: unknown) => this.#finish(task.id, toWireError(error)));
  }

  #finish(id: number, error?: WireError): void {
    this.#running.delete(id);
    this.#reporter.add(id, error);
  }
}

/**
 * The handler's result as a promise, or `undefined` when it returned no thenable (finished
 * synchronously: no promise is made). Throws when reading `then` throws; a `then` that throws or
 * returns anything odd is handled by Promise.resolve, which calls it in a later job.
 */
function adopt(result: unknown): Promise<unknown> | undefined {
  if ((typeof result !== "object" && typeof result !== "function") || result === null) return undefined;
  if (typeof (result as { then?: unknown }).then !== "function") return undefined;
  return Promise.resolve(result);
}
