/** When and how often a failed handler attempt runs again. */
export interface RetryPolicy {
  /** Retries after the first attempt; 0 means the first failure is final. */
  readonly maxRetries: number;
  /** Delay before the first retry, in milliseconds; doubles with each retry. */
  readonly initialBackoffMs: number;
  /** Upper bound of the delay, in milliseconds. */
  readonly maxBackoffMs: number;
}

/**
 * Delay before attempt `attempt + 1`, after `attempt` failed: exponential with a cap, then "equal
 * jitter" (half fixed, half random) so retries of many messages do not fire in lockstep.
 */
export function retryDelayMs(policy: RetryPolicy, attempt: number, random: () => number): number {
  const capped = backoffMs(policy.initialBackoffMs, policy.maxBackoffMs, attempt - 1);
  return capped / 2 + random() * (capped / 2);
}

/** `firstMs` doubled `step` times (0 gives `firstMs`), at most `maxMs`. */
export function backoffMs(firstMs: number, maxMs: number, step: number): number {
  return Math.min(maxMs, firstMs * 2 ** Math.max(0, step));
}
