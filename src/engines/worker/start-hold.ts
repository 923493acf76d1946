// Worker side: a handler's `context.pause(ms)` (in this worker, or in another one, relayed by the
// engine) must also hold the tasks this worker already has queued: they passed the consumer's
// gate before the pause, but have not started.
import type { Clock, Timer } from "../../core/clock.ts";

/** Whether queued tasks may start, and a wake-up when a pause ends. */
export class StartHold {
  readonly #clock: Clock;
  /** Starts queued tasks again. */
  readonly #resume: () => void;
  /** Nothing queued starts before this (`clock.now()` time); -Infinity while no pause is on. */
  #until = -Infinity;
  #timer: Timer | undefined;

  constructor(clock: Clock, resume: () => void) {
    this.#clock = clock;
    this.#resume = resume;
  }

  /** A pause of `ms` from now; the latest end wins. */
  extend(ms: number): void {
    this.#until = Math.max(this.#until, this.#clock.now() + ms);
  }

  /** Whether queued tasks must wait now; if so, `resume` is called once the pause may have ended. */
  get holding(): boolean {
    if (this.#until === -Infinity) return false;
    const left = this.#until - this.#clock.now();
    if (left <= 0) {
      this.#until = -Infinity;
      return false;
    }
    // An extended pause finds this timer early: `resume` asks again and a new one is armed.
    this.#timer ??= this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#resume();
    }, Math.ceil(left));
    return true;
  }

  /** The thread is gone: no wake-up. */
  stop(): void {
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
