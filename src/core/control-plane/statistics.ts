import { BATCH_SIZE_BUCKETS, Histogram } from "../histogram.ts";
import type { ConsumerMetrics, PartitionMetrics } from "../metrics-snapshot.ts";

/** Counters of what the consumer did since it started. */
export interface Counts {
  processed: number;
  failedAttempts: number;
  retries: number;
  deadLettered: number;
  deadLetterFailures: number;
  skipped: number;
  stalls: number;
  commits: number;
  commitFailures: number;
  /** Batches whose batch handler succeeded (batch handlers only). */
  batches: number;
}

/** The consumer-wide figures of a snapshot that the statistics do not count themselves. */
export type LiveFigures = Pick<
  ConsumerMetrics,
  | "totalInFlight"
  | "maxInFlight"
  | "inFlightBytes"
  | "maxInFlightBytes"
  | "isPaused"
  | "pauseReason"
  | "startPauseReason"
  | "throttled"
>;

/** Counters and latency histograms, and the metrics snapshot built from them. */
export class Statistics {
  readonly counts: Counts = {
    processed: 0,
    failedAttempts: 0,
    retries: 0,
    deadLettered: 0,
    deadLetterFailures: 0,
    skipped: 0,
    stalls: 0,
    commits: 0,
    commitFailures: 0,
    batches: 0,
  };
  /** Duration of each attempt. */
  readonly handlerSeconds: Histogram = new Histogram();
  /** From fetch to the message being done for good. */
  readonly fetchToCompletionSeconds: Histogram = new Histogram();
  /** Messages per batch that succeeded (batch handlers only). */
  readonly batchSize: Histogram = new Histogram(BATCH_SIZE_BUCKETS);

  /** The snapshot the metrics exporters render. */
  snapshot(live: LiveFigures, partitions: readonly PartitionMetrics[]): ConsumerMetrics {
    let queued = 0;
    let processing = 0;
    let buffered = 0;
    let bufferedBytes = 0;
    for (const partition of partitions) {
      queued += partition.queuedCount;
      processing += partition.inFlight;
      buffered += partition.bufferedCount;
      bufferedBytes += partition.bufferedBytes;
    }
    const { counts } = this;
    return {
      ...live,
      queued,
      processing,
      buffered,
      bufferedBytes,
      processedTotal: counts.processed,
      failedAttemptsTotal: counts.failedAttempts,
      retriesTotal: counts.retries,
      deadLetteredTotal: counts.deadLettered,
      deadLetterFailuresTotal: counts.deadLetterFailures,
      skippedTotal: counts.skipped,
      commitsTotal: counts.commits,
      commitFailuresTotal: counts.commitFailures,
      stallsTotal: counts.stalls,
      handlerSeconds: this.handlerSeconds.snapshot(),
      fetchToCompletionSeconds: this.fetchToCompletionSeconds.snapshot(),
      batchesProcessedTotal: counts.batches,
      batchSize: this.batchSize.snapshot(),
      partitions,
    };
  }

  /** A batch succeeded: its messages count as processed, one by one, and the batch as one. */
  batchProcessed(size: number): void {
    this.counts.processed += size;
    this.counts.batches++;
    this.batchSize.observe(size);
  }
}
