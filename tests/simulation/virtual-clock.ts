// Virtual time for the seeded simulation: timers fire in (time, creation) order, and between two
// timers every microtask runs (as on a real event loop), so one seed replays one run exactly.
import type { Clock, Timer } from "../../src/core/clock.ts";

interface Entry {
  readonly at: number;
  readonly seq: number;
  readonly callback: () => void;
  /** Who created it: leaks are checked per owner after close(). */
  readonly owner: string;
  cancelled: boolean;
  /** Where it was created, when `debug` is on. */
  readonly stack?: string;
}

/** Resolves after every microtask queued so far (and those they queue) has run. */
export function flushMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class VirtualClock {
  #now = 0;
  #seq = 0;
  /** Binary min-heap by (at, seq). */
  readonly #heap: Entry[] = [];
  readonly #live = new Map<Entry, true>();
  /** Timers fired so far: a measure of a run's length. */
  fired = 0;
  /** Record where each timer was created (slow; for explaining a leak). */
  debug = false;

  /** Current virtual time in milliseconds. */
  get now(): number {
    return this.#now;
  }

  /** A `Clock` whose timers are tagged with `owner`. */
  clock(owner: string): Clock {
    return {
      now: () => this.#now,
      setTimeout: (callback, ms) => this.#add(callback, ms, owner) as unknown as Timer,
      clearTimeout: (timer) => {
        const entry = timer as unknown as Entry | undefined;
        if (entry === undefined || entry.cancelled) return;
        entry.cancelled = true;
        this.#live.delete(entry);
      },
    };
  }

  /** Timers not yet fired nor cancelled, per owner. */
  pending(owner?: string): number {
    let count = 0;
    for (const entry of this.#live.keys()) if (owner === undefined || entry.owner === owner) count++;
    return count;
  }

  /** Where the pending timers of `owner` were created (with `debug` on). */
  pendingStacks(owner: string): string[] {
    return [...this.#live.keys()].filter((entry) => entry.owner === owner).map((entry) =>
      entry.stack ?? "(no stack: debug off)"
    );
  }

  /** Owners of pending timers (for leak reports). */
  pendingOwners(): string[] {
    return [...new Set([...this.#live.keys()].map((entry) => entry.owner))];
  }

  /** Time of the next timer, or `undefined` when none is pending. */
  get nextAt(): number | undefined {
    this.#dropCancelled();
    return this.#heap[0]?.at;
  }

  /**
   * Fires the next timer (advancing time to it) after letting microtasks run. Returns false when
   * no timer is pending.
   */
  async step(): Promise<boolean> {
    await flushMicrotasks();
    this.#dropCancelled();
    const entry = this.#pop();
    if (entry === undefined) return false;
    this.#live.delete(entry);
    this.#now = entry.at;
    this.fired++;
    entry.callback();
    await flushMicrotasks();
    return true;
  }

  /** Steps until `until()` holds, virtual time passes `deadline`, or no timer is left. */
  async runUntil(until: () => boolean, deadline: number): Promise<boolean> {
    for (;;) {
      if (until()) return true;
      let next = this.nextAt;
      if (next === undefined || next > deadline) {
        // Pending microtasks may still create timers.
        await flushMicrotasks();
        next = this.nextAt;
        if (until()) return true;
        if (next === undefined || next > deadline) {
          this.#now = Math.max(this.#now, Math.min(deadline, next ?? deadline));
          return false;
        }
      }
      await this.step();
    }
  }

  #add(callback: () => void, ms: number, owner: string): Entry {
    const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
    const entry: Entry = {
      at: this.#now + delay,
      seq: this.#seq++,
      callback,
      owner,
      cancelled: false,
      ...(this.debug ? { stack: new Error().stack?.split("\n").slice(3, 9).join("\n") } : {}),
    };
    this.#live.set(entry, true);
    const heap = this.#heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
    return entry;
  }

  #dropCancelled(): void {
    while (this.#heap[0]?.cancelled) this.#pop();
  }

  #pop(): Entry | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && before(heap[left]!, heap[smallest]!)) smallest = left;
      if (right < heap.length && before(heap[right]!, heap[smallest]!)) smallest = right;
      if (smallest === i) break;
      [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
      i = smallest;
    }
    return top;
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
