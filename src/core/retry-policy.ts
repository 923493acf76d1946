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
  const exponential = policy.initialBackoffMs * 2 ** Math.max(0, attempt - 1);
  const capped = Math.min(policy.maxBackoffMs, exponential);
  return capped / 2 + random() * (capped / 2);
}
