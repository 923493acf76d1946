// Worker side, whatever the thread: runs the tasks of the batches the engine sends, answers
// cancels, and reports results. A real worker (runWorker) and the simulation's fake thread both
// drive this one class, so the simulation exercises the worker code that ships.
import { Attempt } from "../../core/attempt.ts";
import { type Clock, systemClock } from "../../core/clock.ts";
import { pendingResult } from "../../core/handler-result.ts";
import type { MessageHandler } from "../../core/message.ts";
import type { ParentPort } from "./port.ts";
import { decodeTask, fromWireError, toWireError, type ToWorker, type WireError, type WireTask } from "./protocol.ts";
import { Reporter } from "./reporter.ts";

/** Runs the engine's tasks with `handler` and posts their results to `port`. */
export class TaskRunner {
  readonly #handler: MessageHandler;
  readonly #reporter: Reporter;
  readonly #clock: Clock;
  /** Running handlers by task id; each attempt is the handler's context (its signal made on first use). */
  readonly #running = new Map<number, Attempt>();

  /** `clock`: only the simulation passes one (the reporter's timers then run in virtual time). */
  constructor(handler: MessageHandler, port: ParentPort, clock: Clock = systemClock) {
    this.#handler = handler;
    this.#clock = clock;
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
    for (const id of ids) this.#running.get(id)?.abort(reason);
  }

  #start(task: WireTask, payloads: ArrayBuffer): void {
    const attempt = new Attempt(task.attempt, this.#clock.now());
    this.#running.set(task.id, attempt);
    let pending: Promise<unknown> | undefined;
    try {
      pending = pendingResult(this.#handler(decodeTask(task, payloads), attempt));
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
