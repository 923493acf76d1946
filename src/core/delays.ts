import type { Clock, Timer } from "./clock.ts";

/**
 * Waits that end early when their owner shuts down: a retry backoff pending at close() must
 * neither keep a timer alive nor act after the owner closed.
 */
export class Delays {
  readonly #clock: Clock;
  readonly #pending = new Map<Timer, (fired: boolean) => void>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Resolves `true` after `ms`, or `false` as soon as `cancelAll()` runs. */
  wait(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = this.#clock.setTimeout(() => {
        this.#pending.delete(timer);
        resolve(true);
      }, ms);
      this.#pending.set(timer, resolve);
    });
  }

  /** Ends every pending wait now, with `false`. */
  cancelAll(): void {
    for (const [timer, resolve] of this.#pending) {
      this.#clock.clearTimeout(timer);
      resolve(false);
    }
    this.#pending.clear();
  }
}
