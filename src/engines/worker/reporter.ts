// Worker side: when to post finished tasks' results back to the engine. Every post wakes the
// engine's thread (tens of µs of CPU on each side), so results are grouped, but never held long:
// the engine needs them to refill this worker and to release the next message of each key.
import { type Clock, systemClock, type Timer } from "../../core/clock.ts";
import type { ParentPort } from "./port.ts";
import type { WireError } from "./protocol.ts";
import type { TaskBoard } from "./task-board.ts";

/** Running low: the worker holds no more than this much work (its messages × the mean handler time). */
const LOW_WORK_MS = 2;
/** Running low, results go out at most this often: every report costs both threads tens of µs. */
const EAGER_REPORT_MS = 1;
/**
 * No result waits longer than this, counting the next handler's expected run before a report. The
 * engine keeps twice this much work queued here (dispatcher.ts), so holding results this long
 * never starves the worker; 4 ms woke the engine's thread twice as often for 5–10% less throughput
 * with 0.1–0.3 ms handlers on 2 cores.
 */
const MAX_HOLD_MS = 8;
/** Weight of the newest handler time in the running mean. */
const TASK_TIME_WEIGHT = 1 / 8;

/** Collects results and decides when to post them. */
export class Reporter {
  readonly #port: ParentPort;
  readonly #clock: Clock;
  #board: TaskBoard | undefined;
  #ok: number[] = [];
  #failed: { slot: number; error: WireError }[] = [];
  #completed = 0;
  #running = 0;
  /** Since when some handler has been running (while #running > 0). */
  #busySince = 0;
  /** Time some handler was running, since the last report. */
  #busyMs = 0;
  /** Running mean of one handler's duration: how long a result would wait behind the next one. */
  #taskMs = 0;
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

  /** The board says how many messages the engine posted. */
  configure(board: TaskBoard): void {
    this.#board = board;
  }

  /** A handler is about to start: results that would wait too long behind it go out first. */
  started(now: number): void {
    if (this.#running++ === 0) this.#busySince = now;
    this.#consider(now);
  }

  /** A handler finished (`startedAt` on this reporter's clock). */
  add(slot: number, error: WireError | undefined, startedAt: number): void {
    const now = this.#clock.now();
    this.#taskMs += (now - startedAt - this.#taskMs) * TASK_TIME_WEIGHT;
    if (--this.#running === 0) this.#busyMs += now - this.#busySince;
    if (this.#ok.length + this.#failed.length === 0) this.#oldestPending = now;
    if (error === undefined) this.#ok.push(slot);
    else this.#failed.push({ slot, error });
    this.#completed++;
    this.#consider(now);
  }

  /**
   * Posts now when this worker runs low on work (rate-limited), or when a result would otherwise
   * wait more than MAX_HOLD_MS; else at the end of this turn or by a timer.
   */
  #consider(now: number): void {
    const pending = this.#ok.length + this.#failed.length;
    if (pending === 0) return;
    const unfinished = this.#board === undefined ? 0 : this.#board.posted - this.#completed;
    const low = unfinished * this.#taskMs <= LOW_WORK_MS;
    const age = now - this.#oldestPending;
    if (low ? now - this.#lastReport >= EAGER_REPORT_MS : age + this.#taskMs >= MAX_HOLD_MS) return this.flush(now);
    if (low && !this.#microtaskQueued) {
      // A synchronous handler loop never yields: this runs once the worker has nothing queued.
      this.#microtaskQueued = true;
      queueMicrotask(() => this.flush());
    }
    this.#timer ??= this.#clock.setTimeout(() => this.flush(), Math.max(0, MAX_HOLD_MS - age));
  }

  /** Posts the results collected so far (`now`: when the caller just read the clock). */
  flush(now?: number): void {
    this.#microtaskQueued = false;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#ok.length + this.#failed.length === 0) return;
    now ??= this.#clock.now();
    let busyMs = this.#busyMs;
    if (this.#running > 0) {
      busyMs += now - this.#busySince;
      this.#busySince = now;
    }
    this.#busyMs = 0;
    this.#port.post({ type: "done", ok: this.#ok, failed: this.#failed, busyMs });
    this.#ok = [];
    this.#failed = [];
    this.#lastReport = now;
  }
}
