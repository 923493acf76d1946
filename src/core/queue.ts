/** FIFO queue with O(1) push and shift (arrays shift in O(n) once they grow large). */
export class Queue<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  shift(): T | undefined {
    if (this.#head === this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** The item `index` places from the front, without taking it (`undefined` past the end). */
  at(index: number): T | undefined {
    return index < this.length ? this.#items[this.#head + index] : undefined;
  }

  /** Inserts `item` before the first item matching `before` (at the end if none). O(n): for rare paths only. */
  insertBefore(item: T, before: (other: T) => boolean): void {
    let i = this.#head;
    while (i < this.#items.length && !before(this.#items[i] as T)) i++;
    if (i === this.#head && this.#head > 0) this.#items[--this.#head] = item;
    else this.#items.splice(i, 0, item);
  }

  /** Removes and returns the first item matching `predicate`. O(n): for rare paths only. */
  removeFirst(predicate: (item: T) => boolean): T | undefined {
    for (let i = this.#head; i < this.#items.length; i++) {
      const item = this.#items[i] as T;
      if (!predicate(item)) continue;
      this.#items.splice(i, 1);
      return item;
    }
    return undefined;
  }
}
