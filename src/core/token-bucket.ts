/** Tolerance for float drift: a bucket refilled to 0.9999999999 at the time it was due has its token. */
const EPSILON = 1e-9;

/**
 * A token bucket: holds at most `burst` tokens, refills continuously at `perSecond` tokens a
 * second, starts full. Taking a token for each start keeps the starts of any window of length T
 * at or below `perSecond × T + burst`.
 */
export class TokenBucket {
  readonly #perMs: number;
  readonly #burst: number;
  #tokens: number;
  /** When `#tokens` was last brought up to date. */
  #at: number;

  constructor(perSecond: number, burst: number, now: number) {
    this.#perMs = perSecond / 1000;
    this.#burst = burst;
    this.#tokens = burst;
    this.#at = now;
  }

  /** Tokens available at `now` (refilled up to then). */
  tokens(now: number): number {
    if (now > this.#at) {
      this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#at) * this.#perMs);
      this.#at = now;
    }
    return this.#tokens;
  }

  /** Whether a token is available at `now`. */
  has(now: number): boolean {
    return this.tokens(now) >= 1 - EPSILON;
  }

  /** Takes one token; only after `has(now)` said there is one. */
  take(now: number): void {
    this.#tokens = Math.max(0, this.tokens(now) - 1);
  }

  /**
   * Takes one token on credit: the bucket may go below 0, and later starts wait until it is
   * repaid (a whole batch that runs again, which may hold more messages than `burst`).
   */
  borrow(now: number): void {
    this.#tokens = this.tokens(now) - 1;
  }

  /**
   * When the next token is available (`now` or later), were `taken` more tokens taken now: for
   * messages that will take the tokens available now.
   */
  availableAt(now: number, taken = 0): number {
    const missing = 1 + taken - this.tokens(now);
    return missing <= EPSILON ? now : now + missing / this.#perMs;
  }

  /** Whether it is full at `now`: then it is the same as a new bucket and can be forgotten. */
  isFull(now: number): boolean {
    return this.tokens(now) >= this.#burst - EPSILON;
  }
}
