import type { Clock, Timer } from "../clock.ts";
import { TokenBucket } from "../token-bucket.ts";

/** Ticks brought forward, over time: at most four per interval besides the regular ticks… */
const EARLY_TICKS_PER_INTERVAL = 4;
/**
 * …and two at once: a consumer often catches up twice within moments (one partition's buffer runs
 * dry while its last fetch is on the way, then everything is done), and the second is the one that
 * commits the end: spacing it a quarter interval after the first delayed it for nothing.
 */
const EARLY_TICK_BURST = 2;

/**
 * The commit tick: every `commitIntervalMs`, and sooner once the consumer has caught up (nothing
 * fetched is left to run). Then nothing would move the positions before the next tick, and waiting
 * only delays what a restart, a rebalance or a lag reading relies on. A tick brought forward comes
 * at once while the early ticks' budget allows (two at once, four per interval): a trickle of
 * messages, each finishing alone, commits at most four times per interval besides the regular ticks.
 */
export class CommitTicker {
  readonly #clock: Clock;
  readonly #intervalMs: number;
  /** Runs one tick; `false` when ticking is over (the consumer stops). */
  readonly #onTick: () => boolean;
  #timer: Timer | undefined;
  #dueAt = 0;
  /** Each tick brought forward takes a token when it runs. */
  readonly #earlyTicks: TokenBucket;
  /** The scheduled tick was brought forward. */
  #early = false;

  constructor(clock: Clock, intervalMs: number, onTick: () => boolean) {
    this.#clock = clock;
    this.#intervalMs = intervalMs;
    this.#onTick = onTick;
    this.#earlyTicks = new TokenBucket((EARLY_TICKS_PER_INTERVAL * 1000) / intervalMs, EARLY_TICK_BURST, clock.now());
  }

  /** Starts ticking: the first tick comes one interval from now. */
  start(): void {
    this.#schedule(this.#intervalMs);
  }

  stop(): void {
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The consumer caught up: brings the next tick forward (not before the early ticks' budget allows). */
  soon(): void {
    if (this.#timer === undefined) return;
    const now = this.#clock.now();
    const at = this.#earlyTicks.availableAt(now);
    if (at >= this.#dueAt) return;
    this.#clock.clearTimeout(this.#timer);
    this.#schedule(at - now, true);
  }

  #schedule(delayMs: number, early = false): void {
    this.#dueAt = this.#clock.now() + delayMs;
    this.#early = early;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      if (this.#early) this.#earlyTicks.take(this.#clock.now());
      if (this.#onTick()) this.#schedule(this.#intervalMs);
    }, delayMs);
  }
}
