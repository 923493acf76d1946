import type { ConsumerMessage, MessageHeader, TopicPartition } from "../message.ts";

/** A partition newly owned by this consumer, with what the group committed for it. */
export interface AssignedPartition extends TopicPartition {
  /** The group's committed offset (the next offset to read), or `null` when it has none. */
  readonly committedOffset: bigint | null;
  /** The metadata committed with it (our offset map), or `null`. */
  readonly committedMetadata: string | null;
  /**
   * Where fetching starts: the committed offset, or without one the earliest or latest offset
   * (`startFrom`). Everything below it counts as done for this assignment.
   */
  readonly startOffset: bigint;
}

/** A partition an operation failed for, and why. */
export interface PartitionError extends TopicPartition {
  readonly error: Error;
}

/** A commit for one partition: the next offset to read and the offset map of done offsets above it. */
export interface PartitionOffset extends TopicPartition {
  readonly offset: bigint;
  readonly metadata: string;
}

/** The offset the client will fetch next for one partition. */
export interface PartitionPosition extends TopicPartition {
  readonly position: bigint;
}

/** A record to publish, e.g. to a dead-letter topic. */
export interface OutgoingRecord {
  readonly topic: string;
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
  /** In the order to write them; a name may repeat. */
  readonly headers: readonly MessageHeader[];
}

/**
 * How `publish` rejects when the broker refused a record as larger than its topic accepts
 * (`max.message.bytes`): the same records will never go through.
 */
export class RecordTooLargeError extends Error {
  override readonly name = "RecordTooLargeError";
}

/** What an adapter reports to the control plane. Calls arrive on the event loop, in order. */
export interface AdapterListener {
  /**
   * Partitions newly owned by this consumer (a new assignment epoch for each). Messages of these
   * partitions are delivered only after this call.
   */
  assigned(partitions: readonly AssignedPartition[]): void;
  /**
   * The revoke barrier: the group takes `partitions` away and waits for this member to give them
   * back. No new work of theirs starts; running work gets `maxRevokeGraceMs` to finish (then it
   * is aborted); their progress and offset map are committed; then the promise resolves and the
   * adapter releases them (and only then may another member fetch them). Resolves, never rejects.
   */
  releasing(partitions: readonly TopicPartition[]): Promise<void>;
  /**
   * Partitions already lost (the member was fenced, or the protocol cannot wait): another member
   * may own and commit them now, so nothing is committed for them. Queued work must not run; in-flight
   * work drains.
   */
  revoked(partitions: readonly TopicPartition[]): void;
  /**
   * The group started a rebalance and this member is about to rejoin: the last moment to commit
   * with the current generation. The listener commits synchronously, within this call.
   */
  rebalancing(): void;
  /** Fetched messages of owned partitions, in offset order per partition. */
  messages(batch: readonly ConsumerMessage[]): void;
  /** A fatal client error: the consumer can no longer fetch or commit. */
  failed(error: Error): void;
}

/**
 * The small surface the control plane needs from a Kafka client. One implementation per client
 * library; the core never imports a client.
 */
export interface KafkaAdapter {
  /** Connects, joins the group and starts delivering to `listener`. Resolves once joined. */
  start(listener: AdapterListener): Promise<void>;
  /**
   * Stops fetching `partitions` (all partitions when omitted); delivered messages stay valid.
   * Pausing all and pausing some are independent: a partition is fetched only when neither holds.
   */
  pause(partitions?: readonly TopicPartition[]): void;
  /** Undoes `pause` for `partitions` (for all partitions, the whole-consumer pause, when omitted). */
  resume(partitions?: readonly TopicPartition[]): void;
  /**
   * Commits offsets with their metadata. Resolves with the partitions the broker refused (empty
   * when all were committed); rejects when the request as a whole failed.
   */
  commit(offsets: readonly PartitionOffset[]): Promise<readonly PartitionError[]>;
  /**
   * Next fetch offset of each owned partition, when every message below it has been delivered
   * (empty while delivered-but-unread messages are buffered). It moves past offsets that carry
   * no message, like transaction markers, so commits can reach the end of such a log.
   */
  fetchPositions(): readonly PartitionPosition[];
  /**
   * Publishes records; resolves once every one is acknowledged by all in-sync replicas. Rejects
   * after `close()` (and creates no producer then), and with {@linkcode RecordTooLargeError} when
   * a record is too large for its topic.
   */
  publish(records: readonly OutgoingRecord[]): Promise<void>;
  /** Leaves the group and disconnects. */
  close(): Promise<void>;
}
