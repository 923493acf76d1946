import type { ConsumerMetrics, PartitionMetrics } from "../core/metrics.ts";

/** A metric family with one series per consumer. */
export interface ConsumerFamily {
  readonly scope: "consumer";
  readonly name: string;
  readonly type: "gauge" | "counter";
  readonly help: string;
  readonly value: (metrics: ConsumerMetrics) => number;
}

/** A metric family with one series per owned partition; `null` omits the series. */
export interface PartitionFamily {
  readonly scope: "partition";
  readonly name: string;
  readonly type: "gauge";
  readonly help: string;
  readonly value: (partition: PartitionMetrics) => number | bigint | null;
}

/** One Prometheus metric family: name, type, help and how to read it from a snapshot. */
export type Family = ConsumerFamily | PartitionFamily;

const consumerGauge = (name: string, help: string, value: ConsumerFamily["value"]): ConsumerFamily => ({
  scope: "consumer",
  name,
  type: "gauge",
  help,
  value,
});
const counter = (name: string, help: string, value: ConsumerFamily["value"]): ConsumerFamily => ({
  scope: "consumer",
  name,
  type: "counter",
  help,
  value,
});
const partitionGauge = (name: string, help: string, value: PartitionFamily["value"]): PartitionFamily => ({
  scope: "partition",
  name,
  type: "gauge",
  help,
  value,
});

/** Every exported family, in output order. Names are binding: see the operations guide. */
export const FAMILIES: readonly Family[] = [
  consumerGauge(
    "pyrallel_system_in_flight",
    "Messages held in memory: queued plus processing.",
    (m) => m.totalInFlight,
  ),
  consumerGauge(
    "pyrallel_system_max_in_flight",
    "Configured maxInFlight: backpressure starts here.",
    (m) => m.maxInFlight,
  ),
  consumerGauge("pyrallel_system_paused", "1 when fetching is paused, else 0.", (m) => (m.isPaused ? 1 : 0)),
  consumerGauge("pyrallel_system_queued", "Messages accepted and not started, over all partitions.", (m) => m.queued),
  consumerGauge("pyrallel_system_processing", "Messages whose handler is running now.", (m) => m.processing),
  counter("pyrallel_messages_processed_total", "Messages completed since start.", (m) => m.processedTotal),
  counter("pyrallel_handler_failures_total", "Handler attempts that failed since start.", (m) => m.failedAttemptsTotal),
  counter("pyrallel_commits_total", "Commits acknowledged by the broker.", (m) => m.commitsTotal),
  counter("pyrallel_commit_failures_total", "Commits refused or failed.", (m) => m.commitFailuresTotal),
  partitionGauge(
    "pyrallel_partition_true_lag",
    "Last fetched offset minus the highest contiguous completed offset.",
    (p) => p.trueLag,
  ),
  partitionGauge(
    "pyrallel_partition_blocking_duration_sec",
    "Seconds the blocking offset has held the commit back; 0 when none.",
    (p) => p.blockingDurationSec,
  ),
  partitionGauge(
    "pyrallel_partition_gap_count",
    "Completed ranges above the highest contiguous completed offset.",
    (p) => p.gapCount,
  ),
  partitionGauge("pyrallel_partition_queued_count", "Messages accepted and not started.", (p) => p.queuedCount),
  partitionGauge("pyrallel_partition_in_flight", "Messages whose handler is running now.", (p) => p.inFlight),
  partitionGauge(
    "pyrallel_partition_blocking_offset",
    "Lowest fetched offset not completed: the one holding the commit back.",
    (p) => p.blockingOffset,
  ),
  partitionGauge(
    "pyrallel_partition_committed_offset",
    "Offset last committed to the group (the next offset to read).",
    (p) => p.committedOffset,
  ),
  partitionGauge(
    "pyrallel_partition_highest_contiguous_offset",
    "Highest offset below which every fetched message is completed.",
    (p) => p.highestContiguousOffset,
  ),
  partitionGauge(
    "pyrallel_partition_last_fetched_offset",
    "Highest offset fetched so far.",
    (p) => p.lastFetchedOffset,
  ),
];
