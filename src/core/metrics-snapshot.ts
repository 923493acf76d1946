import type { HistogramSnapshot } from "./histogram.ts";

/**
 * Snapshot types returned by `getMetrics()`. Names follow the operations guide: true lag, gaps,
 * blocking offset and in-flight mean exactly what the guide says.
 */

/** State of one owned partition. Offsets are `null` until known. */
export interface PartitionMetrics {
  readonly topic: string;
  readonly partition: number;
  /** Last fetched offset minus the highest contiguous completed offset. */
  readonly trueLag: number;
  /** Completed ranges above the highest contiguous completed offset. */
  readonly gapCount: number;
  /** Lowest fetched offset not completed: the one holding the commit back; `null` when none. */
  readonly blockingOffset: bigint | null;
  /** Seconds the blocking offset has held the commit back; 0 when none. */
  readonly blockingDurationSec: number;
  /**
   * Messages admitted into the in-flight window and not running: ready for a slot, or waiting for
   * a retry or a dead-letter publish.
   */
  readonly queuedCount: number;
  /** Fetched messages not admitted yet: waiting behind their key, or for room in the window. */
  readonly bufferedCount: number;
  /** Their payload bytes (keys and values). */
  readonly bufferedBytes: number;
  /** Messages whose handler is running now. */
  readonly inFlight: number;
  /** Highest offset below which every fetched message is completed. */
  readonly highestContiguousOffset: bigint | null;
  /** Offset last committed to the group (the next offset to read); before the first commit, where consumption started. */
  readonly committedOffset: bigint | null;
  /** Highest offset fetched so far. */
  readonly lastFetchedOffset: bigint | null;
  /** Size of the offset map sent with the last commit, in bytes. */
  readonly commitMetadataBytes: number;
  /** Fetched offsets not yet passed by the commit position (done or not): the uncommitted window. */
  readonly uncommittedOffsets: number;
  /** Why this partition is held back, or `null`. */
  readonly pauseReason: PartitionPauseReason;
}

/**
 * Why one partition is held back while others go on:
 * - `"bufferFull"`: its buffer reached `maxBufferedBytes` bytes or `maxInFlight` messages; it is
 *   not fetched until the buffer falls below 80% of both. Its buffered and queued work still runs.
 * - `"commitMetadataFull"`: its offset map nears `maxCommitMetadataBytes`; it starts no new work
 *   except its blocking offset until a commit shows the map below half the limit.
 * - `"maxUncommittedOffsets"`: its uncommitted window (`uncommittedOffsets`) reached
 *   `maxUncommittedOffsets`, usually behind one long-blocking offset; it is not fetched until the
 *   window falls below 80% of the limit. Its queued work still runs.
 * - `"rateLimit"` / `"handlerPause"`: it has messages ready to start and none of them may start now:
 *   they wait for the rate limit's tokens, or for the end of a handler's `context.pause(ms)`
 *   (see {@linkcode StartPauseReason}). It is still fetched.
 */
export type PartitionPauseReason =
  | "commitMetadataFull"
  | "maxUncommittedOffsets"
  | "bufferFull"
  | "rateLimit"
  | "handlerPause"
  | null;

/**
 * Why ready messages are not started although they could be: `"rateLimit"` (they wait for the
 * `rateLimit` option's tokens) or `"handlerPause"` (a handler called `context.pause(ms)`; nothing
 * starts until it ends). Fetching is not paused by it: throttled messages stay queued in the
 * in-flight window, which pauses fetching by its usual limits once full.
 */
export type StartPauseReason = "rateLimit" | "handlerPause" | null;

/** Why fetching is paused, or `null` when it runs. */
export type PauseReason = "maxInFlight" | "maxInFlightBytes" | "closing" | "failed" | null;

/** The consumer's whole state at one moment. */
export interface ConsumerMetrics {
  /**
   * Messages in the in-flight window: queued plus processing (the guide's In-Flight). Fetched
   * messages not admitted yet are `buffered` instead.
   */
  readonly totalInFlight: number;
  /** The configured `maxInFlight`: backpressure starts here. */
  readonly maxInFlight: number;
  /** Whether fetching is paused. */
  readonly isPaused: boolean;
  /** Why fetching is paused. */
  readonly pauseReason: PauseReason;
  /** Why ready messages are not started now (rate limit, handler's pause), or `null`. */
  readonly startPauseReason: StartPauseReason;
  /**
   * Messages ready to start but held back by the rate limit or a handler's pause; part of `queued`
   * (they hold no engine slot).
   */
  readonly throttled: number;
  /** Payload bytes held (queued plus processing), counted against `maxInFlightBytes`. */
  readonly inFlightBytes: number;
  /** The configured `maxInFlightBytes`. */
  readonly maxInFlightBytes: number;
  /** Messages admitted and not running, over all partitions. */
  readonly queued: number;
  /** Fetched messages not admitted yet, over all partitions. */
  readonly buffered: number;
  /** Their payload bytes over all partitions. */
  readonly bufferedBytes: number;
  /** Messages whose handler is running now, over all partitions. */
  readonly processing: number;
  /** Messages completed since start. */
  readonly processedTotal: number;
  /** Handler attempts that failed since start (each retry that fails counts). */
  readonly failedAttemptsTotal: number;
  /** Commits acknowledged by the broker / refused or failed. */
  readonly commitsTotal: number;
  readonly commitFailuresTotal: number;
  /** Retries scheduled after failed attempts. */
  readonly retriesTotal: number;
  /** Messages published to the dead-letter topic, and failed dead-letter publishes. */
  readonly deadLetteredTotal: number;
  readonly deadLetterFailuresTotal: number;
  /** Messages skipped after their last retry (`failurePolicy: "skip"`). */
  readonly skippedTotal: number;
  /** Blocking offsets that held their partition longer than `stallThresholdMs`. */
  readonly stallsTotal: number;
  /** Handler attempt durations. */
  readonly handlerSeconds: HistogramSnapshot;
  /** Time from a message's arrival to its completion (queueing, retries and handling). */
  readonly fetchToCompletionSeconds: HistogramSnapshot;
  /**
   * Batches whose batch handler succeeded since start (batch handlers only; 0 otherwise). Their
   * messages count in `processedTotal` one by one, once the batch is done.
   */
  readonly batchesProcessedTotal: number;
  /** Messages per batch that succeeded (batch handlers only). */
  readonly batchSize: HistogramSnapshot;
  readonly partitions: readonly PartitionMetrics[];
}
