import type { PartitionOffset } from "./ports/kafka-adapter.ts";
import type { Attempt } from "./attempt.ts";
import type { ConsumerMessage } from "./message.ts";
import type { PartitionMetrics, PartitionPauseReason } from "./metrics-snapshot.ts";
import { encodeOffsetMap } from "./offset-map.ts";
import { OffsetTracker } from "./offset-tracker.ts";
import { PartitionScheduler } from "./partition-scheduler.ts";
import type { PoisonKeys } from "./poison-keys.ts";

/** One fetched message on its way through the control plane. */
export interface WorkItem {
  readonly message: ConsumerMessage;
  readonly offset: number;
  readonly lane: string | null;
  /** Payload bytes (key + value) counted against `maxInFlightBytes`. */
  readonly bytes: number;
  readonly partition: PartitionState;
  /** Attempts started so far. */
  attempt: number;
  /** `Clock.now()` when the message was accepted. */
  readonly fetchedAt: number;
  /** The attempt running now, if any. At most one runs per message, aborted or not. */
  running?: Attempt | undefined;
}

/** A commit ready to send for one partition, and what to record once the broker has it. */
export interface PreparedCommit {
  readonly offset: PartitionOffset;
  readonly position: number;
  readonly version: number;
}

/** Offset-map size above which a partition stops starting new work (share of the limit). */
const MAP_THROTTLE_AT = 0.9;
/** Offset-map size below which it starts new work again. */
const MAP_RESUME_AT = 0.5;
/** A partition paused for its window fetches again below this share of the window limit. */
const WINDOW_RESUME_AT = 0.8;

/**
 * Everything the control plane knows about one owned partition during one assignment epoch. A
 * revoked partition's state is dropped; if the partition comes back it gets a fresh state, so a
 * completion from the old epoch can never touch the new one.
 */
export class PartitionState {
  readonly topic: string;
  readonly partition: number;
  readonly tracker: OffsetTracker;
  readonly scheduler: PartitionScheduler<WorkItem> = new PartitionScheduler<WorkItem>();
  /** The adapter announced it (`assigned`): the tracker was seeded with its start offset. */
  assigned = false;
  /** `revoking`: no new work starts, running work may finish; `revoked`: completions are ignored. */
  phase: "active" | "revoking" | "revoked" = "active";
  /** Attempts running now. */
  running = 0;
  /** Failed attempts waiting for their retry delay. */
  retryWaiting = 0;
  /** Messages whose dead letter is being published. */
  deadLettering = 0;
  /** Final failures and cooldowns per key, when poison-key isolation is on. */
  readonly poison: PoisonKeys | undefined;
  /** Messages held (queued, running or waiting to retry), by offset. */
  readonly held: Map<number, WorkItem> = new Map();
  /** Payload bytes of the held messages. */
  heldBytes = 0;
  /** Blocking offset already reported as a stall (one report per offset). */
  stallReportedOffset: number | undefined;
  /** Position and tracker version last acknowledged by the broker. */
  committedPosition: number | undefined;
  committedVersion = 0;
  /** Size of the offset map in the last commit. */
  metadataBytes = 0;
  /** Set when the offset map nears `maxCommitMetadataBytes`: only the blocking offset may start. */
  mapFull = false;
  /** Set while the uncommitted window is at its limit: the partition is not fetched. */
  windowFull = false;
  /** Its previous ownership by this consumer still drains: no work starts until it ended. */
  waitingForDrain = false;
  /** Whether the partition sits in the control plane's ready rotation. */
  inReadyRotation = false;

  constructor(topic: string, partition: number, now: () => number, poison?: PoisonKeys) {
    this.topic = topic;
    this.partition = partition;
    this.tracker = new OffsetTracker(now);
    this.poison = poison;
  }

  /** Whether the position or the offset map changed since the broker last acknowledged them. */
  get commitPending(): boolean {
    const position = this.tracker.commitPosition;
    return position !== undefined &&
      (position !== this.committedPosition || this.tracker.version !== this.committedVersion);
  }

  /**
   * Whether the window of fetched, uncommitted offsets crossed `limit` (the partition stops being
   * fetched) or fell back below 80% of it (it is fetched again). `undefined` when nothing changed.
   */
  windowCrossed(limit: number): boolean | undefined {
    const size = this.tracker.windowSize;
    if (!this.windowFull && size >= limit) return (this.windowFull = true);
    if (this.windowFull && size < limit * WINDOW_RESUME_AT) return (this.windowFull = false);
    return undefined;
  }

  /** Builds the commit (position and offset map) and updates the map-size pressure. */
  prepareCommit(maxMetadataBytes: number): PreparedCommit | undefined {
    const position = this.tracker.commitPosition;
    if (position === undefined || !this.commitPending) return undefined;
    const { metadata, complete } = encodeOffsetMap(position, this.tracker.doneRanges(), maxMetadataBytes);
    this.metadataBytes = metadata.length;
    if (!complete || metadata.length > maxMetadataBytes * MAP_THROTTLE_AT) this.mapFull = true;
    else if (metadata.length < maxMetadataBytes * MAP_RESUME_AT) this.mapFull = false;
    return {
      offset: { topic: this.topic, partition: this.partition, offset: BigInt(position), metadata },
      position,
      version: this.tracker.version,
    };
  }

  acknowledge(commit: PreparedCommit): void {
    this.committedPosition = commit.position;
    this.committedVersion = commit.version;
  }

  /** Why the partition is held back: its offset map first (it stops work), then its window (fetching). */
  get pauseReason(): PartitionPauseReason {
    if (this.mapFull) return "commitMetadataFull";
    if (this.windowFull) return "maxUncommittedOffsets";
    return null;
  }

  metrics(): PartitionMetrics {
    const { tracker } = this;
    const commit = tracker.commitPosition;
    const blocking = tracker.blockingOffset;
    const lastFetched = tracker.lastFetchedOffset;
    return {
      topic: this.topic,
      partition: this.partition,
      trueLag: tracker.trueLag,
      gapCount: tracker.gapCount,
      blockingOffset: blocking === null ? null : BigInt(blocking),
      blockingDurationSec: tracker.blockingDurationMs() / 1000,
      queuedCount: this.scheduler.queuedCount + this.retryWaiting + this.deadLettering,
      inFlight: this.running,
      highestContiguousOffset: commit === undefined ? null : BigInt(commit - 1),
      committedOffset: this.committedPosition === undefined ? null : BigInt(this.committedPosition),
      lastFetchedOffset: lastFetched === undefined ? null : BigInt(lastFetched),
      commitMetadataBytes: this.metadataBytes,
      uncommittedOffsets: tracker.windowSize,
      pauseReason: this.pauseReason,
    };
  }
}
