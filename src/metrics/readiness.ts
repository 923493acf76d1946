import type { ParallelConsumerLike } from "./types.ts";

/** Why one consumer is not ready. */
export interface NotReady {
  readonly consumer: string;
  readonly reason: string;
}

/** Reasons by pause reason for consumers that are no longer consuming. */
const STOPPED: Readonly<Record<string, string>> = {
  failed: "consumer failed",
  closing: "consumer closing or closed",
};

/**
 * Lists the consumers that are not ready: failed, closing or closed (pause reason `"failed"` or
 * `"closing"`), or owning no partition. An empty list of consumers is not ready either, since
 * nothing is consuming. Backpressure (`"maxInFlight"`, `"maxInFlightBytes"`) does not make a
 * consumer unready: it is busy, not broken.
 */
export function notReady(consumers: readonly ParallelConsumerLike[]): NotReady[] {
  if (consumers.length === 0) return [{ consumer: "", reason: "no consumers registered" }];
  const problems: NotReady[] = [];
  for (const c of consumers) {
    const m = c.getMetrics();
    const stopped = m.pauseReason === null ? undefined : STOPPED[m.pauseReason];
    if (stopped !== undefined) problems.push({ consumer: c.id, reason: stopped });
    else if (m.partitions.length === 0) problems.push({ consumer: c.id, reason: "no partitions assigned" });
  }
  return problems;
}
