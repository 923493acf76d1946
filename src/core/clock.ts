/**
 * Time and timers as the consumer sees them. Production uses {@linkcode systemClock}; the seeded
 * simulation passes a virtual clock, so one seed replays one run exactly and hours of timeouts,
 * backoffs and commit ticks take milliseconds.
 */
export interface Clock {
  /** Milliseconds on a monotonic clock: only differences are meaningful. */
  now(): number;
  /** Calls `callback` once after `ms` milliseconds. */
  setTimeout(callback: () => void, ms: number): Timer;
  /** Cancels a timer; `undefined` and fired timers are ignored. */
  clearTimeout(timer: Timer | undefined): void;
}

declare const timerBrand: unique symbol;
/** A pending timer of a {@linkcode Clock}; opaque. */
export type Timer = { readonly [timerBrand]: true };

/** The runtime's own clock: `performance.now()` and the global timers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms) as unknown as Timer,
  clearTimeout: (timer) => clearTimeout(timer as unknown as Parameters<typeof clearTimeout>[0]),
};

/** Resolves after `ms` on `clock`. */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}
