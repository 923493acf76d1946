/** Slots of a queue's first storage; it doubles when full. */
const FIRST_CAPACITY = 8;

/**
 * FIFO queue with O(1) push and shift: a ring over storage that doubles when full and is kept
 * when the queue drains (queues here empty and refill for every message: an array dropped and
 * grown again each time was a share of the consumer's garbage).
 */
export class Queue<T> {
  #items: (T | undefined)[] = new Array<T | undefined>(FIRST_CAPACITY);
  /** `#items.length - 1`: the capacity is a power of two. */
  #mask = FIRST_CAPACITY - 1;
  #head = 0;
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(item: T): void {
    if (this.#length > this.#mask) this.#grow();
    this.#items[(this.#head + this.#length) & this.#mask] = item;
    this.#length++;
  }

  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const head = this.#head;
    const item = this.#items[head];
    this.#items[head] = undefined;
    this.#head = (head + 1) & this.#mask;
    this.#length--;
    return item;
  }

  /** The item `index` places from the front, without taking it (`undefined` past the end). */
  at(index: number): T | undefined {
    return index >= 0 && index < this.#length ? this.#items[(this.#head + index) & this.#mask] : undefined;
  }

  /** Inserts `item` before the first item matching `before` (at the end if none). O(n): for rare paths only. */
  insertBefore(item: T, before: (other: T) => boolean): void {
    this.#rebuild((items) => {
      const index = items.findIndex(before);
      items.splice(index < 0 ? items.length : index, 0, item);
    });
  }

  /** Removes and returns the first item matching `predicate`. O(n): for rare paths only. */
  removeFirst(predicate: (item: T) => boolean): T | undefined {
    for (let i = 0; i < this.#length; i++) {
      const item = this.#items[(this.#head + i) & this.#mask] as T;
      if (!predicate(item)) continue;
      this.#rebuild((items) => items.splice(i, 1));
      return item;
    }
    return undefined;
  }

  /** Doubles the storage, the items first in it. */
  #grow(): void {
    const items = new Array<T | undefined>((this.#mask + 1) * 2);
    for (let i = 0; i < this.#length; i++) items[i] = this.#items[(this.#head + i) & this.#mask];
    this.#items = items;
    this.#mask = items.length - 1;
    this.#head = 0;
  }

  /** Takes every item out, lets `edit` change the list, and queues it again. */
  #rebuild(edit: (items: T[]) => void): void {
    const items: T[] = [];
    while (this.#length > 0) items.push(this.shift() as T);
    edit(items);
    for (const item of items) this.push(item);
  }
}
