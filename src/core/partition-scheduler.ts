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
 * The key lanes of one partition. Every fetched item is in exactly one of four places:
 * - waiting behind its lane (an earlier item of its key is admitted or running),
 * - admissible: first of its lane (or laneless) but not admitted into the in-flight window yet,
 * - ready: admitted and free to start,
 * - started (running, or waiting for a retry, which comes back through `retry`).
 *
 * Waiting and admissible items are the partition's buffer; ready and started ones are in flight.
 * Only the first item of a lane is ever admitted, so the in-flight window is spent on distinct
 * keys: a burst of one key waits in the buffer instead of filling the window. Lanes take turns
 * in both queues, so a hot key never starves the others.
 */
export class PartitionScheduler<T extends Laned> {
  readonly #ready = new Queue<T>();
  readonly #admissible = new Queue<T>();
  /**
   * Lanes whose first item is admissible, ready or started, and the items waiting behind it;
   * `null` while none waits (the common case, so no queue is allocated for it).
   */
  readonly #lanes = new Map<string, Queue<T> | null>();
  #waiting = 0;
  /**
   * Batch handlers only: lanes some of whose waiting items were taken into a batch beside their
   * first item (`takeWaiting`), and how many of those are not released yet. Such a lane moves on
   * only once all its taken items are released.
   */
  readonly #taken = new Map<string, number>();

  /** Items admitted and free to start now. */
  get readyCount(): number {
    return this.#ready.length;
  }

  /** Items that could be admitted now: the first of their lane. */
  get admissibleCount(): number {
    return this.#admissible.length;
  }

  /** Items not admitted yet (admissible, or waiting behind their lane): the buffer. */
  get bufferedCount(): number {
    return this.#admissible.length + this.#waiting;
  }

  /** Accepts a newly fetched item, in offset order. */
  enqueue(item: T): void {
    if (item.lane === null) {
      this.#admissible.push(item);
      return;
    }
    const lane = this.#lanes.get(item.lane);
    if (lane === undefined) {
      this.#lanes.set(item.lane, null);
      this.#admissible.push(item);
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

  /** Admits the next admissible item into the ready queue and returns it, or `undefined`. */
  admit(): T | undefined {
    const item = this.#admissible.shift();
    if (item !== undefined) this.#ready.push(item);
    return item;
  }

  /** Next item to start, or `undefined`. The item's lane stays busy until `release`. */
  next(): T | undefined {
    return this.#ready.shift();
  }

  /**
   * Takes the ready or admissible item matching `predicate` out of turn (e.g. the one blocking the
   * commit), with whether it was admitted already. O(n): for rare paths only.
   */
  nextMatching(predicate: (item: T) => boolean): { item: T; admitted: boolean } | undefined {
    const ready = this.#ready.removeFirst(predicate);
    if (ready !== undefined) return { item: ready, admitted: true };
    const admissible = this.#admissible.removeFirst(predicate);
    return admissible === undefined ? undefined : { item: admissible, admitted: false };
  }

  /** The next item to start, left in place; `undefined` when none is ready. */
  peekReady(): T | undefined {
    return this.#ready.at(0);
  }

  /** The next item waiting behind `lane`'s first, left in place; `undefined` when none waits. */
  peekWaiting(lane: string): T | undefined {
    return this.#lanes.get(lane)?.at(0);
  }

  /**
   * For a batch: takes the next item waiting behind `lane` (its first item is in the batch), or
   * `undefined`. It starts with the batch; the lane stays busy until every item taken is released.
   */
  takeWaiting(lane: string): T | undefined {
    const item = this.#lanes.get(lane)?.shift();
    if (item === undefined) return undefined;
    this.#waiting--;
    this.#taken.set(lane, (this.#taken.get(lane) ?? 0) + 1);
    return item;
  }

  /** Whether items of `lane` taken by `takeWaiting` are still out (not released nor given back). */
  hasTaken(lane: string): boolean {
    return this.#taken.has(lane);
  }

  /**
   * How many items one batch could take now, counted up to `limit`: each ready item, and the items
   * waiting behind its lane. O(ready items).
   */
  takeableCount(limit: number): number {
    let count = 0;
    for (let i = 0; count < limit; i++) {
      const item = this.#ready.at(i);
      if (item === undefined) break;
      count += 1 + (item.lane === null ? 0 : this.#lanes.get(item.lane)?.length ?? 0);
    }
    return Math.min(count, limit);
  }

  /**
   * Gives back an item taken by `takeWaiting` that did not run (a chain broken before it): it
   * waits behind its lane again, before the first waiting item that `follows` it, and counts as
   * released (the lane moves on once every item taken with it is released or given back).
   */
  giveBack(item: T, follows: (other: T) => boolean): void {
    const laneName = item.lane!;
    let lane = this.#lanes.get(laneName);
    if (lane === undefined) return; // cannot happen: the lane stays busy while an item of it is taken
    if (lane === null) this.#lanes.set(laneName, lane = new Queue<T>());
    lane.insertBefore(item, follows);
    this.#waiting++;
    this.release(item);
  }

  /** Puts a started item back to run again (a retry). Its lane stays busy meanwhile. */
  retry(item: T): void {
    this.#ready.push(item);
  }

  /** The item is finished for good: the next item of its lane becomes admissible. */
  release(item: T): void {
    if (item.lane === null) return;
    if (this.#taken.size > 0 && this.#releaseTaken(item.lane)) return;
    const lane = this.#lanes.get(item.lane);
    if (lane === undefined) return;
    const next = lane?.shift();
    if (next === undefined) {
      this.#lanes.delete(item.lane);
      return;
    }
    this.#waiting--;
    this.#admissible.push(next);
  }

  /** One of a batch's items of `lane` is released: `false` once it is the last one (the lane moves on). */
  #releaseTaken(lane: string): boolean {
    const taken = this.#taken.get(lane);
    if (taken === undefined) return false;
    if (taken === 1) this.#taken.delete(lane);
    else this.#taken.set(lane, taken - 1);
    return true;
  }
}
