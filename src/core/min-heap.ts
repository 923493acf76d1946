/** A binary min-heap of values by a numeric priority (ties in no particular order). */
export class MinHeap<T> {
  readonly #priorities: number[] = [];
  readonly #values: T[] = [];

  get size(): number {
    return this.#values.length;
  }

  /** The lowest priority held, or `undefined` when empty. */
  get lowest(): number | undefined {
    return this.#priorities[0];
  }

  push(priority: number, value: T): void {
    const priorities = this.#priorities;
    const values = this.#values;
    let index = values.length;
    priorities.push(priority);
    values.push(value);
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (priorities[parent]! <= priority) break;
      priorities[index] = priorities[parent]!;
      values[index] = values[parent]!;
      index = parent;
    }
    priorities[index] = priority;
    values[index] = value;
  }

  /** Removes and returns the value of lowest priority, or `undefined` when empty. */
  pop(): T | undefined {
    const priorities = this.#priorities;
    const values = this.#values;
    if (values.length === 0) return undefined;
    const top = values[0];
    const lastPriority = priorities.pop()!;
    const lastValue = values.pop()!;
    const size = values.length;
    if (size === 0) return top;
    let index = 0;
    for (;;) {
      let child = 2 * index + 1;
      if (child >= size) break;
      if (child + 1 < size && priorities[child + 1]! < priorities[child]!) child++;
      if (priorities[child]! >= lastPriority) break;
      priorities[index] = priorities[child]!;
      values[index] = values[child]!;
      index = child;
    }
    priorities[index] = lastPriority;
    values[index] = lastValue;
    return top;
  }
}
