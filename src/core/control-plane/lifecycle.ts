import { LifecycleError } from "../errors.ts";

/**
 * Where the consumer is in its life. `starting`: start() runs; `closing`: close() drains and
 * commits; both end in `running` or `closed`.
 */
export type Phase = "idle" | "starting" | "running" | "closing" | "closed";

/**
 * The consumer's life as one state machine: its phase, whether new work may still start, whether
 * it failed, and whether close() came while start() ran. Every transition is a method, so no two
 * flags can disagree.
 */
export class Lifecycle {
  #phase: Phase = "idle";
  /** Cleared when close() stops waiting or the engine failed: from then on nothing new starts. */
  #startsWork = true;
  #failed = false;
  #closeRequested = false;

  get phase(): Phase {
    return this.#phase;
  }

  /** Running or closing: ticks, commits and (while `startsWork`) new attempts go on. */
  get active(): boolean {
    return this.#phase === "running" || this.#phase === "closing";
  }

  /** New attempts may start. */
  get startsWork(): boolean {
    return this.#startsWork && this.active;
  }

  /** The consumer stopped because of a failure (its `error` event says which). */
  get failed(): boolean {
    return this.#failed;
  }

  /** close() was called while start() ran: start rejects, close shuts down what started. */
  get closeRequested(): boolean {
    return this.#closeRequested;
  }

  /** @throws {LifecycleError} when the consumer was started or closed before. */
  beginStart(): void {
    if (this.#phase === "closing" || this.#phase === "closed") {
      throw new LifecycleError("the consumer is closed: a closed consumer cannot start again; create a new one");
    }
    if (this.#phase !== "idle") throw new LifecycleError("the consumer was already started");
    this.#phase = "starting";
  }

  started(): void {
    this.#phase = "running";
  }

  /** close() during start(): returns whether this is the first such call. */
  requestClose(): boolean {
    if (this.#closeRequested) return false;
    this.#closeRequested = true;
    return true;
  }

  beginClose(): void {
    this.#phase = "closing";
  }

  /** Nothing new starts from now on; returns whether work was still starting until now. */
  stopStartingWork(): boolean {
    const was = this.#startsWork;
    this.#startsWork = false;
    return was;
  }

  fail(): void {
    this.#failed = true;
  }

  closed(): void {
    this.#phase = "closed";
  }

  /** Why start() rejects when close() came first. */
  closedWhileStarting(): LifecycleError {
    return new LifecycleError(
      this.#failed
        ? "the consumer failed while starting (its error event says why) and is closed"
        : "close() was called while start() was in progress: the consumer is closed",
    );
  }
}
