import { Queue } from "./queue.ts";

/**
 * Members taking turns: each is queued at most once, and goes to the back when it comes again.
 * Membership is a boolean field of the member named by `flag` (cheaper than a set on this path,
 * which runs for every message).
 */
export class Rotation<Flag extends string, T extends Record<Flag, boolean>> {
  readonly #queue = new Queue<T>();
  readonly #flag: Flag;

  constructor(flag: Flag) {
    this.#flag = flag;
  }

  /** Members waiting for their turn. */
  get size(): number {
    return this.#queue.length;
  }

  /** Queues `member` unless it is queued already. */
  add(member: T): void {
    if (member[this.#flag]) return;
    member[this.#flag] = true as T[Flag];
    this.#queue.push(member);
  }

  /** The member whose turn it is, taken out of the rotation; `undefined` when none waits. */
  next(): T | undefined {
    const member = this.#queue.shift();
    if (member !== undefined) member[this.#flag] = false as T[Flag];
    return member;
  }
}
