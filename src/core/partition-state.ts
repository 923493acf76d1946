import type { ConsumerMessage } from "./message.ts";
import type { PartitionMetrics } from "./metrics.ts";
import { OffsetTracker } from "./offset-tracker.ts";
import { PartitionScheduler } from "./ordering.ts";

/** One fetched message on its way through the control plane. */
export interface WorkItem {
  readonly message: ConsumerMessage;
  readonly offset: number;
  readonly lane: string | null;
  readonly partition: PartitionState;
  /** Attempts started so far. */
  attempt: number;
}

/**
 * Everything the control plane knows about one owned partition during one assignment epoch. A
 * revoked partition's state is dropped; if the partition comes back it gets a fresh state, so a
 * completion from the old epoch can never touch the new one.
 */
export class PartitionState {
  readonly tracker: OffsetTracker;
  readonly scheduler: PartitionScheduler<WorkItem> = new PartitionScheduler<WorkItem>();
  /** Aborted when the partition is revoked or the consumer shuts down. */
  readonly abort: AbortController = new AbortController();
  /** Attempts running now. */
  running = 0;
  /** Failed attempts waiting for their retry delay. */
  retryWaiting = 0;
  /** Position last acknowledged by the broker. */
  committedPosition: number | undefined;
  /** Whether the partition sits in the control plane's ready rotation. */
  inReadyRotation = false;
  revoked = false;

  readonly topic: string;
  readonly partition: number;

  constructor(topic: string, partition: number, now: () => number) {
    this.topic = topic;
    this.partition = partition;
    this.tracker = new OffsetTracker(now);
  }

  /** Whether the commit position moved past what the broker has. */
  get commitPending(): boolean {
    const position = this.tracker.commitPosition;
    return position !== undefined && position !== this.committedPosition;
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
      queuedCount: this.scheduler.queuedCount + this.retryWaiting,
      inFlight: this.running,
      highestContiguousOffset: commit === undefined ? null : BigInt(commit - 1),
      committedOffset: this.committedPosition === undefined ? null : BigInt(this.committedPosition),
      lastFetchedOffset: lastFetched === undefined ? null : BigInt(lastFetched),
    };
  }
}
