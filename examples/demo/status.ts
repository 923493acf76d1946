// The one-line status the demo prints every second, from `consumer.getMetrics()`.
import type { ConsumerMetrics } from "../../mod.ts";

const n = (value: number): string => value.toLocaleString("en-US");

export interface StatusInput {
  elapsedSec: number;
  produced: number;
  metrics: ConsumerMetrics;
  /** Messages processed per second since the previous line. */
  rate: number;
  violations: number;
}

export function statusLine({ elapsedSec, produced, metrics, rate, violations }: StatusInput): string {
  let lag = 0;
  let lagPartition = -1;
  let gaps = 0;
  let blocking: ConsumerMetrics["partitions"][number] | undefined;
  for (const partition of metrics.partitions) {
    gaps += partition.gapCount;
    if (partition.trueLag > lag) {
      lag = partition.trueLag;
      lagPartition = partition.partition;
    }
    // The partition whose commit has been stuck the longest.
    if (partition.blockingOffset !== null && partition.blockingDurationSec >= (blocking?.blockingDurationSec ?? 0)) {
      blocking = partition;
    }
  }
  return `[${String(Math.round(elapsedSec)).padStart(4)}s] ` + [
    `produced ${n(produced)}`,
    `processed ${n(metrics.processedTotal)}`,
    `${n(Math.round(rate))} msg/s`,
    `in flight ${n(metrics.totalInFlight)}/${n(metrics.maxInFlight)}`,
    `max true lag ${n(lag)}${lagPartition >= 0 ? ` (p${lagPartition})` : ""}`,
    `gaps ${n(gaps)}`,
    blocking
      ? `blocking p${blocking.partition}@${blocking.blockingOffset} for ${blocking.blockingDurationSec.toFixed(2)}s`
      : "blocking none",
    pausedText(metrics),
    `order violations ${violations}`,
  ].join(" | ");
}

/**
 * Fetching: `paused no` or `paused yes (<reason>)` (maxInFlight, maxInFlightBytes, closing,
 * failed); then partitions that start no new work, with their reason, e.g.
 * `paused no, p2 p4 commitMetadataFull`.
 */
export function pausedText(metrics: ConsumerMetrics): string {
  const system = `paused ${metrics.isPaused ? `yes (${metrics.pauseReason ?? "unknown"})` : "no"}`;
  const byReason = new Map<string, number[]>();
  for (const p of metrics.partitions) {
    if (p.pauseReason === null) continue;
    byReason.set(p.pauseReason, [...(byReason.get(p.pauseReason) ?? []), p.partition]);
  }
  const partitions = [...byReason].map(([reason, list]) => `${list.map((p) => `p${p}`).join(" ")} ${reason}`);
  return [system, ...partitions].join(", ");
}
