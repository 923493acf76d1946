import type { PoisonKeySettings } from "./settings.ts";

/** Final failures per key of one partition; enough of them cool the key down. */
export class PoisonKeys {
  readonly #settings: PoisonKeySettings;
  readonly #now: () => number;
  readonly #lanes = new Map<string, { failures: number; coolUntil: number }>();

  constructor(settings: PoisonKeySettings, now: () => number) {
    this.#settings = settings;
    this.#now = now;
  }

  /** Counts a final failure of `lane`; the `maxFailures`-th opens its cooldown. */
  recordFailure(lane: string): void {
    const entry = this.#lanes.get(lane) ?? { failures: 0, coolUntil: 0 };
    entry.failures++;
    if (entry.failures >= this.#settings.maxFailures) {
      entry.failures = 0;
      entry.coolUntil = this.#now() + this.#settings.cooldownMs;
    }
    this.#lanes.set(lane, entry);
  }

  isCooling(lane: string): boolean {
    const entry = this.#lanes.get(lane);
    return entry !== undefined && entry.coolUntil > this.#now();
  }
}
