import type { ConsumerMessage, TopicPartition } from "../core/message.ts";

/** An offset to commit for one partition: the next offset the group should read. */
export interface PartitionOffset extends TopicPartition {
  readonly offset: bigint;
}

/** What an adapter reports to the control plane. Calls arrive on the event loop, in order. */
export interface AdapterListener {
  /** Partitions newly owned by this consumer (a new assignment epoch for each). */
  assigned(partitions: readonly TopicPartition[]): void;
  /** Partitions no longer owned: their queued work must not run, their commits must stop. */
  revoked(partitions: readonly TopicPartition[]): void;
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
  /** Commits offsets for owned partitions. Rejects when the broker refuses. */
  commit(offsets: readonly PartitionOffset[]): Promise<void>;
  /** Leaves the group and disconnects. */
  close(): Promise<void>;
}
