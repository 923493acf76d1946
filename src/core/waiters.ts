import type { Clock } from "./clock.ts";

/** Promises that resolve when a condition holds (checked on demand) or a timeout passes. */
export class Waiters {
  readonly #clock: Clock;
  #waiters: { condition: () => boolean; resolve: () => void }[] = [];

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Resolves once `condition` holds at a `check()`, or after `timeoutMs`. */
  until(condition: () => boolean, timeoutMs: number): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = {
        condition,
        resolve: () => {
          this.#clock.clearTimeout(timer);
          this.#waiters = this.#waiters.filter((other) => other !== waiter);
          resolve();
        },
      };
      const timer = this.#clock.setTimeout(waiter.resolve, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Ends every wait now (its owner shut down): nothing is left waiting, no timer left behind. */
  releaseAll(): void {
    for (const waiter of [...this.#waiters]) waiter.resolve();
  }

  /** Re-evaluates the conditions; cheap when nobody waits. */
  check(): void {
    if (this.#waiters.length === 0) return;
    for (const waiter of [...this.#waiters]) if (waiter.condition()) waiter.resolve();
  }
}
