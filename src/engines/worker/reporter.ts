// Worker side: when to post completed results back to the parent. Every post wakes the parent
// thread (tens of µs of CPU on each side), so results are grouped whenever the worker has enough
// work in hand, and posted at once when it is running low.
import { type Clock, systemClock, type Timer } from "../../core/clock.ts";
import type { ParentPort } from "./port.ts";
import type { WireError } from "./protocol.ts";

/** Running low, a result that waited this long in the current turn goes out at once. */
const EAGER_REPORT_MS = 0.2;
/** No result is held longer than this (handlers that await: completions arrive one by one). */
const MAX_HOLD_MS = 1;

/** Collects results and decides when to post them. */
export class Reporter {
  readonly #port: ParentPort;
  readonly #clock: Clock;
  #ok: number[] = [];
  #failed: { id: number; error: WireError }[] = [];
  /** Messages the parent has posted to this worker so far (shared memory the parent updates). */
  #posted: Int32Array | undefined;
  /** Report once no more than this many messages are posted but not completed. */
  #lowWater = 0;
  #completed = 0;
  #lastReport: number;
  #oldestPending = 0;
  #microtaskQueued = false;
  #timer: Timer | undefined;

  /** `clock`: the system clock in a real worker, the simulation's in a fake one. */
  constructor(port: ParentPort, clock: Clock = systemClock) {
    this.#port = port;
    this.#clock = clock;
    this.#lastReport = clock.now();
  }

  configure(posted: Int32Array, lowWater: number): void {
    this.#posted = posted;
    this.#lowWater = lowWater;
  }

  /** A batch arrived: the eager delay counts from now. */
  turnStarted(): void {
    this.#lastReport = this.#clock.now();
  }

  add(id: number, error: WireError | undefined): void {
    const now = this.#clock.now();
    if (this.#ok.length + this.#failed.length === 0) this.#oldestPending = now;
    if (error === undefined) this.#ok.push(id);
    else this.#failed.push({ id, error });
    this.#completed++;
    const ahead = this.#posted === undefined ? 0 : Atomics.load(this.#posted, 0) - this.#completed;
    if (ahead <= this.#lowWater) {
      // Running low: the parent should send more now. A synchronous handler that ran a while
      // reports at once, so the next message arrives while this worker runs the rest of its batch.
      if (now - this.#lastReport >= EAGER_REPORT_MS) this.flush();
      else if (!this.#microtaskQueued) {
        this.#microtaskQueued = true;
        queueMicrotask(() => this.flush());
      }
    } else if (now - this.#oldestPending >= MAX_HOLD_MS) {
      this.flush();
    } else {
      this.#timer ??= this.#clock.setTimeout(() => this.flush(), MAX_HOLD_MS);
    }
  }

  flush(): void {
    this.#microtaskQueued = false;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#ok.length + this.#failed.length === 0) return;
    this.#port.post({ type: "done", ok: this.#ok, failed: this.#failed });
    this.#ok = [];
    this.#failed = [];
    this.#lastReport = this.#clock.now();
  }
}
