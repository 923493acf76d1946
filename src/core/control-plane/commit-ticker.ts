import type { Clock, Timer } from "../clock.ts";

/** Share of `commitIntervalMs` kept between two ticks brought forward. */
const EARLY_TICK_SPACING = 0.25;

/**
 * The commit tick: every `commitIntervalMs`, and sooner once the consumer has caught up (nothing in
 * flight). Then nothing would move the positions before the next tick, and waiting only delays
 * what a restart, a rebalance or a lag reading relies on. A tick brought forward comes at once
 * unless another one was brought forward less than a quarter interval before: a trickle of
 * messages, each finishing alone, commits at most four times per interval besides the regular ticks.
 */
export class CommitTicker {
  readonly #clock: Clock;
  readonly #intervalMs: number;
  /** Runs one tick; `false` when ticking is over (the consumer stops). */
  readonly #onTick: () => boolean;
  #timer: Timer | undefined;
  #dueAt = 0;
  /** When the last tick brought forward ran. */
  #lastEarlyAt = -Infinity;
  /** The scheduled tick was brought forward. */
  #early = false;

  constructor(clock: Clock, intervalMs: number, onTick: () => boolean) {
    this.#clock = clock;
    this.#intervalMs = intervalMs;
    this.#onTick = onTick;
  }

  /** Starts ticking: the first tick comes one interval from now. */
  start(): void {
    this.#schedule(this.#intervalMs);
  }

  stop(): void {
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The consumer caught up: brings the next tick forward (not before the spacing allows). */
  soon(): void {
    if (this.#timer === undefined) return;
    const now = this.#clock.now();
    const at = Math.max(now, this.#lastEarlyAt + this.#intervalMs * EARLY_TICK_SPACING);
    if (at >= this.#dueAt) return;
    this.#clock.clearTimeout(this.#timer);
    this.#schedule(at - now, true);
  }

  #schedule(delayMs: number, early = false): void {
    this.#dueAt = this.#clock.now() + delayMs;
    this.#early = early;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      if (this.#early) this.#lastEarlyAt = this.#clock.now();
      if (this.#onTick()) this.#schedule(this.#intervalMs);
    }, delayMs);
  }
}
