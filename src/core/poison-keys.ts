import type { PoisonKeySettings } from "./settings.ts";

interface KeyFailures {
  failures: number;
  /** Cooling while `now() < coolUntil`. */
  coolUntil: number;
  lastFailureAt: number;
}

/**
 * Final failures per key of one partition; `maxFailures` of them cool the key down. Only messages
 * that ran count: a message refused *because* its key is cooling is no evidence against the key,
 * and counting it would renew the cooldown for as long as the key keeps receiving messages.
 */
export class PoisonKeys {
  readonly #settings: PoisonKeySettings;
  readonly #now: () => number;
  readonly #lanes = new Map<string, KeyFailures>();

  constructor(settings: PoisonKeySettings, now: () => number) {
    this.#settings = settings;
    this.#now = now;
  }

  /** Counts a final failure of a message of `lane` that ran; the `maxFailures`-th opens its cooldown. */
  recordFailure(lane: string): void {
    const now = this.#now();
    const entry = this.#lanes.get(lane) ?? { failures: 0, coolUntil: 0, lastFailureAt: now };
    entry.failures++;
    entry.lastFailureAt = now;
    if (entry.failures >= this.#settings.maxFailures) {
      entry.failures = 0;
      entry.coolUntil = now + this.#settings.cooldownMs;
    }
    this.#lanes.set(lane, entry);
  }

  isCooling(lane: string): boolean {
    const entry = this.#lanes.get(lane);
    return entry !== undefined && entry.coolUntil > this.#now();
  }

  /** Keys tracked now (cooling, or with failures in the last `cooldownMs`). */
  get size(): number {
    return this.#lanes.size;
  }

  /**
   * Forgets keys that are not cooling and have not failed for `cooldownMs`: a key's failures
   * count towards a cooldown only while they are recent, and the map stays as small as the set
   * of keys failing now.
   */
  prune(): void {
    const now = this.#now();
    const { cooldownMs } = this.#settings;
    for (const [lane, entry] of this.#lanes) {
      if (entry.coolUntil <= now && now - entry.lastFailureAt >= cooldownMs) this.#lanes.delete(lane);
    }
  }
}
