import type { ConsumerMessage, TopicPartition } from "../core/message.ts";

/** A partition newly owned by this consumer, with what the group committed for it. */
export interface AssignedPartition extends TopicPartition {
  /** The group's committed offset (the next offset to read), or `null` when it has none. */
  readonly committedOffset: bigint | null;
  /** The metadata committed with it (our offset map), or `null`. */
  readonly committedMetadata: string | null;
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
  readonly headers: ReadonlyMap<string, Uint8Array>;
}

/** What an adapter reports to the control plane. Calls arrive on the event loop, in order. */
export interface AdapterListener {
  /**
   * Partitions newly owned by this consumer (a new assignment epoch for each). Messages of these
   * partitions are delivered only after this call.
   */
  assigned(partitions: readonly AssignedPartition[]): void;
  /** Partitions no longer owned: their queued work must not run, their in-flight work drains. */
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
  /** Stops fetching; delivered messages stay valid. */
  pause(): void;
  /** Fetches again after `pause`. */
  resume(): void;
  /** Commits offsets with their metadata. Rejects when the broker refuses. */
  commit(offsets: readonly PartitionOffset[]): Promise<void>;
  /**
   * Next fetch offset of each owned partition, when every message below it has been delivered
   * (empty while delivered-but-unread messages are buffered). It moves past offsets that carry
   * no message, like transaction markers, so commits can reach the end of such a log.
   */
  fetchPositions(): readonly PartitionPosition[];
  /** Publishes records; resolves once every one is acknowledged by all in-sync replicas. */
  publish(records: readonly OutgoingRecord[]): Promise<void>;
  /** Leaves the group and disconnects. */
  close(): Promise<void>;
}
