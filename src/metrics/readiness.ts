import type { ParallelConsumerLike } from "./types.ts";

/** Why one consumer is not ready. */
export interface NotReady {
  readonly consumer: string;
  readonly reason: string;
}

/**
 * Lists the consumers that are not ready: failed, or owning no partition yet. An empty list of
 * consumers is not ready either, since nothing is consuming.
 */
export function notReady(consumers: readonly ParallelConsumerLike[]): NotReady[] {
  if (consumers.length === 0) return [{ consumer: "", reason: "no consumers registered" }];
  const problems: NotReady[] = [];
  for (const c of consumers) {
    const m = c.getMetrics();
    if (m.pauseReason === "failed") problems.push({ consumer: c.id, reason: "consumer failed" });
    else if (m.partitions.length === 0) problems.push({ consumer: c.id, reason: "no partitions assigned" });
  }
  return problems;
}
