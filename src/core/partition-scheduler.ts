import { bytesToBinaryString } from "./binary-string.ts";
import { Queue } from "./queue.ts";

/**
 * How messages of one partition may overlap.
 * - `key`: one message per key at a time, in offset order; messages with a null key have no order.
 * - `partition`: one message of the partition at a time, in offset order.
 * - `unordered`: any message may run at any time.
 */
export type Ordering = "key" | "partition" | "unordered";

/** The lane a message waits in: messages of one lane run one at a time. `null` means no lane. */
export function laneOf(ordering: Ordering, key: Uint8Array | null): string | null {
  if (ordering === "partition") return "";
  if (ordering === "unordered" || key === null) return null;
  return bytesToBinaryString(key);
}

interface Laned {
  readonly lane: string | null;
}

/**
 * The ready queue of one partition. An item is ready when its lane has nothing running; the
 * other items of a lane wait behind it in offset order. Lanes take turns in the ready queue, so a
 * hot key never starves the others.
 */
export class PartitionScheduler<T extends Laned> {
  readonly #ready = new Queue<T>();
  /**
   * Lanes with a running item, and the items waiting behind it; `null` while none waits (the
   * common case, so no queue is allocated for it).
   */
  readonly #lanes = new Map<string, Queue<T> | null>();
  #waiting = 0;

  /** Items ready to run now. */
  get readyCount(): number {
    return this.#ready.length;
  }

  /** Items accepted and not yet started (ready or waiting for their lane). */
  get queuedCount(): number {
    return this.#ready.length + this.#waiting;
  }

  /** Accepts a newly fetched item, in offset order. */
  enqueue(item: T): void {
    if (item.lane === null) {
      this.#ready.push(item);
      return;
    }
    const lane = this.#lanes.get(item.lane);
    if (lane === undefined) {
      this.#lanes.set(item.lane, null);
      this.#ready.push(item);
      return;
    }
    this.#waiting++;
    if (lane) {
      lane.push(item);
    } else {
      const queue = new Queue<T>();
      queue.push(item);
      this.#lanes.set(item.lane, queue);
    }
  }

  /** Next item to start, or `undefined`. The item's lane stays busy until `release`. */
  next(): T | undefined {
    return this.#ready.shift();
  }

  /** Takes the ready item matching `predicate` out of turn (e.g. the one blocking the commit). */
  nextMatching(predicate: (item: T) => boolean): T | undefined {
    return this.#ready.removeFirst(predicate);
  }

  /** Puts a started item back to run again (a retry). Its lane stays busy meanwhile. */
  retry(item: T): void {
    this.#ready.push(item);
  }

  /** The item is finished for good: the next item of its lane becomes ready. */
  release(item: T): void {
    if (item.lane === null) return;
    const lane = this.#lanes.get(item.lane);
    if (lane === undefined) return;
    const next = lane?.shift();
    if (next === undefined) {
      this.#lanes.delete(item.lane);
      return;
    }
    this.#waiting--;
    this.#ready.push(next);
  }
}
