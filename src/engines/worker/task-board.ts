// Shared memory between the engine and one worker: where each task the worker was sent stands.
// The worker claims a task before running it and marks it finished before it takes the next one,
// so when a worker dies or is terminated the engine reads, not guesses, which tasks never started
// (they go to another worker, not attempted), which finished (their result stands, reported or
// not) and which were running (their attempt failed). Reports by message stay the fast path; the
// board is the record.
import { type Clock, systemClock } from "../../core/clock.ts";

/** Not yet claimed by the worker. */
export const QUEUED = 0;
/** Claimed: its handler started. */
export const RUNNING = 1;
/** Its handler returned. */
export const SUCCEEDED = 2;
/** Its handler threw or rejected. */
export const FAILED = 3;
/** Taken back by the engine before the worker claimed it: it will never run there. */
export const WITHDRAWN = 4;

export type TaskState = typeof QUEUED | typeof RUNNING | typeof SUCCEEDED | typeof FAILED | typeof WITHDRAWN;

/** A state word is `ticket * 8 + state`: a slot's word never matches an earlier task's ticket. */
const STATE_SPAN = 8;
const TICKETS = 2 ** 28;
/**
 * Int32 header: messages posted so far, messages finished so far, and whether the worker is
 * inside the engine's code right now (running a handler's synchronous part).
 */
const POSTED = 0;
const FINISHED = 1;
const IN_CODE = 2;
const HEADER = 3;

/** The ticket of a task id, as written in its slot's word. */
export function ticketOf(id: number): number {
  return id % TICKETS;
}

/**
 * One worker's board: a header and, per task slot, a state word (Int32, atomic) and the time its
 * handler started (Float64, ms: `clock.now()` plus {@linkcode boardOffset}).
 */
export class TaskBoard {
  readonly buffer: SharedArrayBuffer;
  readonly slots: number;
  readonly #words: Int32Array;
  readonly #startedAt: Float64Array;

  /** A new board with `slots` task slots (main side), or the view of one received (worker side). */
  constructor(slots: number, buffer?: SharedArrayBuffer) {
    const wordBytes = Math.ceil(((HEADER + slots) * 4) / 8) * 8;
    this.buffer = buffer ?? new SharedArrayBuffer(wordBytes + slots * 8);
    this.slots = slots;
    this.#words = new Int32Array(this.buffer, 0, HEADER + slots);
    this.#startedAt = new Float64Array(this.buffer, wordBytes, slots);
  }

  // Main side.

  /** Puts a task in `slot` before it is posted. */
  place(slot: number, id: number): void {
    this.#startedAt[slot] = Infinity; // until the worker writes it, after claiming
    Atomics.store(this.#words, HEADER + slot, ticketOf(id) * STATE_SPAN + QUEUED);
  }

  /** Counts messages posted: the worker compares it with what it finished. */
  addPosted(count: number): void {
    Atomics.add(this.#words, POSTED, count);
  }

  /** Takes a task back if the worker has not claimed it: true when it will never run there. */
  withdraw(slot: number, id: number): boolean {
    return this.#leaveQueued(slot, id, WITHDRAWN);
  }

  /** Where the task `id` in `slot` stands (QUEUED if the slot holds another task's word: not yet placed). */
  state(slot: number, id: number): TaskState {
    const word = Atomics.load(this.#words, HEADER + slot);
    if (Math.floor(word / STATE_SPAN) !== ticketOf(id)) return QUEUED;
    return (word % STATE_SPAN) as TaskState;
  }

  /**
   * Whether the worker is running the engine's code (and with it some handler's synchronous
   * part). On a runtime whose terminate() lets running code finish (Deno), a terminated worker
   * that is not in it runs nothing more.
   */
  get inCode(): boolean {
    return Atomics.load(this.#words, IN_CODE) === 1;
  }

  /** Messages the worker finished so far (reported or not). */
  get finished(): number {
    return Atomics.load(this.#words, FINISHED);
  }

  /** When the task in `slot` started; Infinity while the worker has claimed it but not yet said when. */
  startedAt(slot: number): number {
    return this.#startedAt[slot]!;
  }

  // Worker side.

  /** Messages the engine posted so far. */
  get posted(): number {
    return Atomics.load(this.#words, POSTED);
  }

  /** The worker enters (true) or leaves (false) the engine's code. */
  setInCode(inside: boolean): void {
    Atomics.store(this.#words, IN_CODE, inside ? 1 : 0);
  }

  /** Claims a task before running it: false when the engine withdrew it. */
  claim(slot: number, id: number, now: number): boolean {
    if (!this.#leaveQueued(slot, id, RUNNING)) return false;
    this.#startedAt[slot] = now;
    return true;
  }

  /** Marks a claimed task finished. */
  finish(slot: number, id: number, ok: boolean): void {
    Atomics.store(this.#words, HEADER + slot, ticketOf(id) * STATE_SPAN + (ok ? SUCCEEDED : FAILED));
    Atomics.add(this.#words, FINISHED, 1);
  }

  /** Moves the task from QUEUED to `state` unless it left QUEUED first: whoever moves it wins. */
  #leaveQueued(slot: number, id: number, state: typeof RUNNING | typeof WITHDRAWN): boolean {
    const queued = ticketOf(id) * STATE_SPAN + QUEUED;
    return Atomics.compareExchange(this.#words, HEADER + slot, queued, queued + state) === queued;
  }
}

/**
 * What to add to `clock.now()` for times on the board, comparable across threads:
 * `performance.now()` counts from each thread's own origin, so the system clock adds it; a virtual
 * clock (the simulation's) is already one for every fake thread.
 */
export function boardOffset(clock: Clock): number {
  return clock === systemClock ? performance.timeOrigin : 0;
}
