// The throttling variant of a seeded run: a rate limit (consumer-wide, per key or both) and
// handlers that call context.pause(ms), picked from the seed's own stream so that every other
// pick of a seed (and so every earlier scenario) stays as it was. And the invariant: a member's
// starts never outrun its token buckets, and none happens while a handler's pause is on.
import type { ConsumerMessage, HandlerContext, RateLimitOptions } from "../../mod.ts";
import { bytesToBinaryString } from "../../src/core/binary-string.ts";
import { Random } from "./random.ts";

/** Salt of the variant's stream: not the main stream of the seed. */
const STREAM = 0x7a11e;
/** Float drift allowed when replaying a bucket. */
const EPSILON = 1e-6;

export interface ThrottleVariant {
  readonly rateLimit: RateLimitOptions | undefined;
  /** Share of handler calls that ask for a pause, and the longest pause asked. */
  readonly pauseChance: number;
  readonly pauseMaxMs: number;
  /** Draws of the handlers' pauses. */
  readonly random: Random;
}

export function throttleVariant(seed: number): ThrottleVariant {
  const random = Random.stream(seed, STREAM);
  let rateLimit: RateLimitOptions | undefined;
  if (random.chance(0.3)) {
    const global = random.chance(0.7);
    const perKey = !global || random.chance(0.4);
    rateLimit = {
      ...(global ? { messagesPerSecond: random.pick([20, 200, 2000, 7.5]) } : {}),
      ...(global && random.chance(0.3) ? { burst: random.pick([1, 5, 2.5]) } : {}),
      ...(perKey
        ? {
          perKey: {
            messagesPerSecond: random.pick([2, 20, 200]),
            ...(random.chance(0.3) ? { burst: random.pick([1, 3]) } : {}),
          },
        }
        : {}),
    };
  }
  const pauses = random.chance(0.15);
  return {
    rateLimit,
    pauseChance: pauses ? random.pick([0.01, 0.05]) : 0,
    pauseMaxMs: random.pick([1, 20, 200]),
    random,
  };
}

/** Wraps a handler (per message or per batch) so that some calls ask for a pause first (`paused` hears of each). */
export function pausingHandler<Input>(
  variant: ThrottleVariant,
  handler: (input: Input, context: HandlerContext) => unknown,
  paused?: (ms: number) => void,
): (input: Input, context: HandlerContext) => unknown {
  if (variant.pauseChance === 0) return handler;
  return (input: Input, context: HandlerContext) => {
    if (variant.random.chance(variant.pauseChance)) {
      const ms = variant.random.int(0, variant.pauseMaxMs);
      context.pause(ms);
      paused?.(ms);
    }
    return handler(input, context);
  };
}

/** A token bucket replayed over observed starts: `false` when a start found no token. */
class Replay {
  readonly #perMs: number;
  readonly #burst: number;
  #tokens: number;
  #at = -Infinity;

  constructor(perSecond: number, burst: number) {
    this.#perMs = perSecond / 1000;
    this.#burst = burst;
    this.#tokens = burst;
  }

  take(now: number): boolean {
    this.#refill(now);
    if (this.#tokens < 1 - EPSILON) return false;
    this.#tokens = Math.max(0, this.#tokens - 1);
    return true;
  }

  /** A token taken on credit (a batch's other messages when it runs again): the bucket may go below 0. */
  borrow(now: number): void {
    this.#refill(now);
    this.#tokens -= 1;
  }

  #refill(now: number): void {
    if (this.#at !== -Infinity) this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#at) * this.#perMs);
    this.#at = now;
  }
}

/**
 * One member's starts (its engine's execute calls) against its limits: a bucket replayed over the
 * starts never runs dry (equivalently, any window of T holds at most rate × T + burst starts), per
 * key likewise, and nothing starts while a handler's pause is on (async engine: the pause is known
 * the moment it is asked; a worker's reaches the consumer a message later).
 */
export class StartLimits {
  readonly #fail: (text: string) => void;
  readonly #now: () => number;
  readonly #global: Replay | undefined;
  readonly #perKey: { readonly messagesPerSecond: number; readonly burst: number } | undefined;
  readonly #keys = new Map<string, Replay>();
  #pausedUntil = -Infinity;

  constructor(rateLimit: RateLimitOptions | undefined, now: () => number, fail: (text: string) => void) {
    this.#now = now;
    this.#fail = fail;
    const { messagesPerSecond, burst, perKey } = rateLimit ?? {};
    if (messagesPerSecond !== undefined) {
      this.#global = new Replay(messagesPerSecond, burst ?? defaultBurst(messagesPerSecond));
    }
    if (perKey) {
      this.#perKey = {
        messagesPerSecond: perKey.messagesPerSecond,
        burst: perKey.burst ?? defaultBurst(perKey.messagesPerSecond),
      };
    }
  }

  paused(ms: number): void {
    this.#pausedUntil = Math.max(this.#pausedUntil, this.#now() + ms);
  }

  started(member: string, message: ConsumerMessage): void {
    this.#start(member, message, false);
  }

  /**
   * A batch's attempt started: the first time each message takes its tokens as a single message
   * does; when it runs again its first message (the lowest offset) does, and the others borrow
   * theirs (a batch cannot start in part, and may hold more messages than a bucket's burst).
   */
  startedBatch(member: string, messages: readonly ConsumerMessage[], again: boolean): void {
    if (!again) {
      for (const message of messages) this.#start(member, message, false);
      return;
    }
    // As the gate does: the first message takes its tokens, then the others borrow.
    const first = messages.reduce((lowest, message) => (message.offset < lowest.offset ? message : lowest));
    this.#start(member, first, false);
    for (const message of messages) if (message !== first) this.#start(member, message, true);
  }

  #start(member: string, message: ConsumerMessage, borrowing: boolean): void {
    const now = this.#now();
    const where = `${member} ${message.topic}[${message.partition}]@${message.offset}`;
    if (now < this.#pausedUntil) {
      this.#fail(`${where}: started at ${now} during a handler's pause (until ${this.#pausedUntil})`);
    }
    if (this.#global) {
      this.#take(this.#global, now, borrowing, () => `${where}: started at ${now} beyond the consumer's rate limit`);
    }
    if (this.#perKey && message.key !== null) {
      const key = bytesToBinaryString(message.key);
      let replay = this.#keys.get(key);
      if (replay === undefined) {
        this.#keys.set(key, replay = new Replay(this.#perKey.messagesPerSecond, this.#perKey.burst));
      }
      this.#take(
        replay,
        now,
        borrowing,
        () => `${where}: started at ${now} beyond the rate limit of key ${JSON.stringify(key)}`,
      );
    }
  }

  #take(replay: Replay, now: number, borrowing: boolean, violation: () => string): void {
    if (borrowing) replay.borrow(now);
    else if (!replay.take(now)) this.#fail(violation());
  }
}

/** The option's documented default burst: a tenth of a second's worth, rounded up, at least 1. */
function defaultBurst(perSecond: number): number {
  return Math.max(1, Math.ceil(perSecond / 10));
}
