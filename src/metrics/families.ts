import {
  consumerGauge,
  counter,
  type Family,
  histogram,
  infoGauge,
  partitionGauge,
  partitionInfoGauge,
} from "./family-types.ts";

export type {
  ConsumerFamily,
  Family,
  HistogramFamily,
  InfoFamily,
  PartitionFamily,
  PartitionInfoFamily,
} from "./family-types.ts";

/**
 * Every exported family, in output order. Names are binding: the operations guide names
 * `pyrallel_system_in_flight`, `pyrallel_system_paused`, `pyrallel_partition_true_lag`,
 * `pyrallel_partition_blocking_duration_sec`, `pyrallel_partition_gap_count` and
 * `pyrallel_partition_queued_count`; the others follow their pattern.
 */
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
  consumerGauge(
    "pyrallel_system_in_flight_bytes",
    "Payload bytes (keys plus values) held in memory: queued plus processing.",
    (m) => m.inFlightBytes,
  ),
  consumerGauge(
    "pyrallel_system_max_in_flight_bytes",
    "Configured maxInFlightBytes: backpressure also starts here.",
    (m) => m.maxInFlightBytes,
  ),
  consumerGauge("pyrallel_system_paused", "1 when fetching is paused, else 0.", (m) => (m.isPaused ? 1 : 0)),
  infoGauge(
    "pyrallel_system_pause_reason_info",
    "1 with label reason (maxInFlight, maxInFlightBytes, closing, failed) while fetching is paused; no series while it runs.",
    "reason",
    (m) => m.pauseReason,
  ),
  infoGauge(
    "pyrallel_system_start_pause_reason_info",
    "1 with label reason (rateLimit, handlerPause) while ready messages are held back from starting; no series otherwise. Fetching is not paused by it.",
    "reason",
    (m) => m.startPauseReason,
  ),
  consumerGauge(
    "pyrallel_system_throttled",
    "Messages ready to start but held back by the rate limit or a handler's pause; part of queued.",
    (m) => m.throttled,
  ),
  consumerGauge("pyrallel_system_queued", "Messages admitted and not running, over all partitions.", (m) => m.queued),
  consumerGauge(
    "pyrallel_system_buffered",
    "Fetched messages not admitted into the in-flight window yet, over all partitions.",
    (m) => m.buffered,
  ),
  consumerGauge(
    "pyrallel_system_buffered_bytes",
    "Payload bytes (keys + values) of those messages.",
    (m) => m.bufferedBytes,
  ),
  consumerGauge("pyrallel_system_processing", "Messages whose handler is running now.", (m) => m.processing),
  counter("pyrallel_messages_processed_total", "Messages completed since start.", (m) => m.processedTotal),
  counter("pyrallel_handler_failures_total", "Handler attempts that failed since start.", (m) => m.failedAttemptsTotal),
  counter("pyrallel_commits_total", "Commits acknowledged by the broker.", (m) => m.commitsTotal),
  counter("pyrallel_commit_failures_total", "Commits refused or failed.", (m) => m.commitFailuresTotal),
  counter("pyrallel_retries_total", "Retries scheduled after failed handler attempts.", (m) => m.retriesTotal),
  counter(
    "pyrallel_dead_lettered_total",
    "Messages published to the dead-letter topic after their last retry.",
    (m) => m.deadLetteredTotal,
  ),
  counter(
    "pyrallel_dead_letter_failures_total",
    "Dead-letter publishes that failed (each is retried).",
    (m) => m.deadLetterFailuresTotal,
  ),
  counter(
    "pyrallel_messages_skipped_total",
    "Messages skipped after their last retry (failurePolicy skip).",
    (m) => m.skippedTotal,
  ),
  counter(
    "pyrallel_stalls_total",
    "Blocking offsets that held their partition's commit longer than stallThresholdMs.",
    (m) => m.stallsTotal,
  ),
  histogram(
    "pyrallel_handler_duration_seconds",
    "Duration of handler attempts, failed ones included.",
    (m) => m.handlerSeconds,
  ),
  histogram(
    "pyrallel_fetch_to_completion_seconds",
    "Time from a message's arrival to its completion: queueing, retries and handling.",
    (m) => m.fetchToCompletionSeconds,
  ),
  counter(
    "pyrallel_batches_processed_total",
    "Batches whose batch handler succeeded (batch handlers only); their messages count in pyrallel_messages_processed_total.",
    (m) => m.batchesProcessedTotal,
  ),
  histogram(
    "pyrallel_batch_size",
    "Messages per batch that succeeded (batch handlers only).",
    (m) => m.batchSize,
  ),
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
  partitionGauge(
    "pyrallel_partition_queued_count",
    "Messages admitted into the in-flight window and not running.",
    (p) => p.queuedCount,
  ),
  partitionGauge(
    "pyrallel_partition_buffered_count",
    "Fetched messages not admitted yet: waiting behind their key or for room in the window.",
    (p) => p.bufferedCount,
  ),
  partitionGauge(
    "pyrallel_partition_buffered_bytes",
    "Payload bytes (keys + values) of those messages, bounded by maxBufferedBytes.",
    (p) => p.bufferedBytes,
  ),
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
  partitionGauge(
    "pyrallel_partition_commit_metadata_bytes",
    "Size of the offset map sent with the last commit; limited by maxCommitMetadataBytes.",
    (p) => p.commitMetadataBytes,
  ),
  partitionGauge(
    "pyrallel_partition_uncommitted_offsets",
    "Fetched offsets not yet passed by the commit position: the uncommitted window, bounded by maxUncommittedOffsets.",
    (p) => p.uncommittedOffsets,
  ),
  partitionGauge(
    "pyrallel_partition_paused",
    "1 while the partition is held back (offset map near maxCommitMetadataBytes, window at maxUncommittedOffsets, buffer full, or its ready messages wait for the rate limit or a handler's pause), else 0.",
    (p) => (p.pauseReason === null ? 0 : 1),
  ),
  partitionInfoGauge(
    "pyrallel_partition_pause_reason_info",
    "1 with label reason (commitMetadataFull, maxUncommittedOffsets, bufferFull, rateLimit, handlerPause) while the partition is held back; no series otherwise.",
    "reason",
    (p) => p.pauseReason,
  ),
];
