import { bytesToBinaryString } from "../binary-string.ts";
import type { Clock, Timer } from "../clock.ts";
import type { StartPauseReason } from "../metrics-snapshot.ts";
import { MinHeap } from "../min-heap.ts";
import { TokenBucket } from "../token-bucket.ts";

/** One token bucket: its refill rate and how many tokens it holds at most. */
export interface BucketSettings {
  readonly messagesPerSecond: number;
  readonly burst: number;
}

/** The `rateLimit` option, resolved: a consumer-wide bucket and one per message key, each optional. */
export interface RateLimitSettings {
  readonly global?: BucketSettings | undefined;
  readonly perKey?: BucketSettings | undefined;
}

/** What the throttle needs of a message waiting to start. */
export interface Throttled {
  readonly message: { readonly key: Uint8Array | null };
  /** Held-back messages are counted per partition (for its pause reason). */
  readonly partition: object;
}

/** What the dispatcher asks of the throttle: before each start, and for each attempt's `pause(ms)`. */
export interface StartGate<T> {
  readonly engaged: boolean;
  isOpen(now: number): boolean;
  admit(item: T, now: number): boolean;
  /**
   * Takes the tokens of one more message of `item`'s key if they are there now (a batch taking the
   * messages behind a key); never parks anything: `false` and the batch stops taking that key.
   */
  takeAnother(item: T, now: number): boolean;
  /**
   * A batch that runs again (a retry), which starts whole or not at all: `first` passes as in
   * `admit` (parked with the batch behind it when it may not start), and the other `items` take
   * their tokens on credit.
   */
  admitAgain(first: T, items: readonly T[], now: number): boolean;
  readonly pause: (ms: number) => void;
}

/** A gate that holds nothing back: for a dispatcher tested without a throttle. */
export const OPEN_GATE: StartGate<unknown> = {
  engaged: false,
  isOpen: () => true,
  admit: () => true,
  takeAnother: () => true,
  admitAgain: () => true,
  pause: () => {},
};

/** Per-key buckets are swept (full ones forgotten) once this many more exist than after the last sweep. */
const SWEEP_AT_LEAST = 1024;
/** Longest timer a runtime keeps (2^31 − 1 ms): a longer one would fire at once. */
const MAX_TIMER_MS = 2_147_483_647;
/** Float drift allowance when counting whole tokens. */
const EPSILON = 1e-9;

/**
 * The gate every start passes (`admit`, called per message by the dispatcher): the rate limit's
 * tokens and the handlers' `context.pause(ms)`. A message that may not start yet is not run and
 * does not hold an engine slot: it is parked here (still queued in the in-flight window) and given
 * back through `release` once its tokens are due, while messages of other keys go on. One timer,
 * on the consumer's clock, wakes the dispatcher when the next token or the pause's end is due.
 */
export class Throttle<T extends Throttled> implements StartGate<T> {
  readonly #clock: Clock;
  readonly #global: TokenBucket | undefined;
  readonly #perKey: BucketSettings | undefined;
  /** Gives a parked message back to its partition's ready queue. */
  readonly #release: (item: T) => void;
  /** Tells the dispatcher that starts may go on. */
  readonly #wake: () => void;
  readonly #keyBuckets = new Map<string, TokenBucket>();
  #sweepAt = SWEEP_AT_LEAST;
  /** Messages waiting for their key's token, by key, and those keys by when their token is due. */
  readonly #byKey = new Map<string, T[]>();
  readonly #due = new MinHeap<string>();
  /** Messages waiting for the consumer-wide gate (global tokens or a handler's pause). */
  #waiting: T[] = [];
  /** Parked messages per partition, and in all. */
  readonly #parkedIn = new Map<object, number>();
  #parked = 0;
  /** The dispatcher stopped starting work at the closed gate: it is woken when the gate opens. */
  #blocked = false;
  /** No new work starts before this (`Clock.now()` time); -Infinity when no pause was asked. */
  #pausedUntil = -Infinity;
  #timer: Timer | undefined;
  #timerAt = Infinity;
  #stopped = false;

  constructor(settings: RateLimitSettings | undefined, clock: Clock, release: (item: T) => void, wake: () => void) {
    this.#clock = clock;
    const global = settings?.global;
    this.#global = global && new TokenBucket(global.messagesPerSecond, global.burst, clock.now());
    this.#perKey = settings?.perKey;
    this.#release = release;
    this.#wake = wake;
  }

  /** Whether starts need checking at all: a rate limit is set, or a handler's pause may be on. */
  get engaged(): boolean {
    return this.#global !== undefined || this.#perKey !== undefined || this.#pausedUntil !== -Infinity;
  }

  /**
   * A handler's back-off: no new message starts for `ms` (running ones go on). The latest end
   * wins: a shorter pause never shortens one in effect.
   */
  readonly pause = (ms: number): void => {
    this.#pausedUntil = Math.max(this.#pausedUntil, this.#clock.now() + ms);
  };

  /**
   * Whether the consumer-wide gate (global tokens, handler pause) lets a start through at `now`.
   * When it does not, the dispatcher is woken once it does.
   */
  isOpen(now: number): boolean {
    const opensAt = this.#opensAt(now);
    if (opensAt <= now) return true;
    this.#blocked = true;
    this.#arm(opensAt, now);
    return false;
  }

  /**
   * Lets `item` start at `now`, taking its tokens (`true`), or parks it until they are due
   * (`false`): the caller then leaves it to the throttle, which gives it back through `release`.
   */
  admit(item: T, now: number): boolean {
    if (!this.engaged) return true;
    const key = this.#perKey !== undefined && item.message.key !== null
      ? bytesToBinaryString(item.message.key)
      : undefined;
    const keyBucket = key === undefined ? undefined : this.#bucketOf(key, now);
    if (keyBucket !== undefined && !keyBucket.has(now)) {
      this.#parkForKey(key!, keyBucket, item, now);
      return false;
    }
    const opensAt = this.#opensAt(now);
    if (opensAt > now) {
      this.#count(item, 1);
      this.#waiting.push(item);
      this.#arm(opensAt, now);
      return false;
    }
    keyBucket?.take(now);
    this.#global?.take(now);
    return true;
  }

  takeAnother(item: T, now: number): boolean {
    if (!this.engaged) return true;
    if (this.#opensAt(now) > now) return false;
    const keyBucket = this.#perKey !== undefined && item.message.key !== null
      ? this.#bucketOf(bytesToBinaryString(item.message.key), now)
      : undefined;
    if (keyBucket !== undefined && !keyBucket.has(now)) return false;
    keyBucket?.take(now);
    this.#global?.take(now);
    return true;
  }

  admitAgain(first: T, items: readonly T[], now: number): boolean {
    if (!this.admit(first, now)) return false;
    if (this.#global === undefined && this.#perKey === undefined) return true;
    // Borrowed, so a batch larger than a burst still runs; the starts after it wait for the repayment.
    for (const item of items) {
      if (item === first) continue;
      if (this.#perKey !== undefined && item.message.key !== null) {
        this.#bucketOf(bytesToBinaryString(item.message.key), now).borrow(now);
      }
      this.#global?.borrow(now);
    }
    return true;
  }

  /**
   * Why ready messages wait now, given how many are ready (not parked) over all partitions: a
   * handler's pause (reported while it lasts), or tokens; `null` when nothing is held back.
   */
  reason(ready: number, now: number): StartPauseReason {
    if (this.#pausedUntil > now) return "handlerPause";
    return this.#parked > 0 || (this.#blocked && ready > 0) ? "rateLimit" : null;
  }

  /** Messages held back now, given how many are ready (not parked) over all partitions. */
  held(ready: number, now: number): number {
    return this.#parked + (this.#closed(now) ? ready : 0);
  }

  /**
   * Why a partition with `ready` messages (not parked) waits for the throttle: when none of its
   * messages that could start may start now; `null` when it does not wait for it.
   */
  partitionReason(partition: object, ready: number, now: number): StartPauseReason {
    const parked = this.#parkedIn.get(partition) ?? 0;
    if (parked + ready === 0) return null;
    if (ready > 0 && !this.#closed(now)) return null;
    return this.#pausedUntil > now ? "handlerPause" : "rateLimit";
  }

  /** Whether messages of `partition` are parked here (they still count as ready work). */
  holds(partition: object): boolean {
    return this.#parkedIn.has(partition);
  }

  /** The consumer closes: no more wake-ups. */
  stop(): void {
    this.#stopped = true;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #closed(now: number): boolean {
    return this.#blocked || this.#pausedUntil > now;
  }

  #opensAt(now: number): number {
    const tokenAt = this.#global?.availableAt(now) ?? now;
    return tokenAt > this.#pausedUntil ? tokenAt : this.#pausedUntil;
  }

  #bucketOf(key: string, now: number): TokenBucket {
    let bucket = this.#keyBuckets.get(key);
    if (bucket === undefined) {
      if (this.#keyBuckets.size >= this.#sweepAt) this.#sweep(now);
      const { messagesPerSecond, burst } = this.#perKey!;
      bucket = new TokenBucket(messagesPerSecond, burst, now);
      this.#keyBuckets.set(key, bucket);
    }
    return bucket;
  }

  /** Forgets full buckets of keys with nothing parked: a new bucket is the same. Amortized O(1) per key. */
  #sweep(now: number): void {
    for (const [key, bucket] of this.#keyBuckets) {
      if (!this.#byKey.has(key) && bucket.isFull(now)) this.#keyBuckets.delete(key);
    }
    this.#sweepAt = Math.max(SWEEP_AT_LEAST, 2 * this.#keyBuckets.size);
  }

  #parkForKey(key: string, bucket: TokenBucket, item: T, now: number): void {
    this.#count(item, 1);
    const parked = this.#byKey.get(key);
    if (parked !== undefined) {
      parked.push(item);
      return;
    }
    this.#byKey.set(key, [item]);
    const due = bucket.availableAt(now);
    this.#due.push(due, key);
    this.#arm(due, now);
  }

  #count(item: T, change: 1 | -1): void {
    const count = (this.#parkedIn.get(item.partition) ?? 0) + change;
    if (count === 0) this.#parkedIn.delete(item.partition);
    else this.#parkedIn.set(item.partition, count);
    this.#parked += change;
  }

  /** One timer for the earliest wake-up: a sooner one replaces it. */
  #arm(at: number, now: number): void {
    if (this.#stopped || at >= this.#timerAt) return;
    this.#clock.clearTimeout(this.#timer);
    this.#timerAt = at;
    // Whole milliseconds, rounded up: a timer that fires early would only be armed again.
    this.#timer = this.#clock.setTimeout(this.#fire, Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(at - now))));
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = this.#clock.now();
    if (this.#pausedUntil <= now) this.#pausedUntil = -Infinity;
    let released = this.#releaseKeys(now);
    if (this.#opensAt(now) <= now) {
      const waiting = this.#waiting;
      this.#waiting = [];
      for (const item of waiting) this.#give(item);
      released ||= waiting.length > 0 || this.#blocked;
      this.#blocked = false;
    }
    this.#rearm(now);
    if (released) this.#wake();
  };

  /** Gives back, for each key whose token is due, as many messages as it has tokens. */
  #releaseKeys(now: number): boolean {
    let released = false;
    while (this.#due.lowest !== undefined && this.#due.lowest <= now) {
      const key = this.#due.pop()!;
      const parked = this.#byKey.get(key);
      if (parked === undefined) continue;
      const bucket = this.#keyBuckets.get(key)!;
      const count = Math.max(1, Math.floor(bucket.tokens(now) + EPSILON));
      for (const item of parked.splice(0, count)) this.#give(item);
      released = true;
      if (parked.length === 0) this.#byKey.delete(key);
      else this.#due.push(bucket.availableAt(now, count), key);
    }
    return released;
  }

  #give(item: T): void {
    this.#count(item, -1);
    this.#release(item);
  }

  #rearm(now: number): void {
    const keyDue = this.#due.lowest ?? Infinity;
    const gateDue = this.#waiting.length > 0 || this.#blocked ? this.#opensAt(now) : Infinity;
    const next = keyDue < gateDue ? keyDue : gateDue;
    if (next !== Infinity) this.#arm(next, now);
  }
}
