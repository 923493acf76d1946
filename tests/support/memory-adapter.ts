// An in-memory KafkaAdapter for unit tests of the control plane. Never a stand-in for a broker
// where a user would have one: integration tests use the real broker.
import type {
  AdapterListener,
  AssignedPartition,
  KafkaAdapter,
  OutgoingRecord,
  PartitionError,
  PartitionOffset,
  PartitionPosition,
} from "../../src/core/ports/kafka-adapter.ts";
import type { ConsumerMessage, TopicPartition } from "../../src/core/message.ts";

const encoder = new TextEncoder();

/** Builds a message; `key` null means no key. */
export function message(partition: number, offset: number, key: string | null, topic = "t"): ConsumerMessage {
  return {
    topic,
    partition,
    offset: BigInt(offset),
    key: key === null ? null : encoder.encode(key),
    value: encoder.encode(`${partition}:${offset}`),
    headers: new Map(),
    timestamp: 0,
  };
}

export class MemoryAdapter implements KafkaAdapter {
  listener: AdapterListener | undefined;
  paused = false;
  pauses = 0;
  /** Partitions paused one by one ("topic:partition"). */
  readonly pausedPartitions: Set<string> = new Set();
  closed = false;
  /** Every commit request, in order. */
  readonly commits: PartitionOffset[][] = [];
  /** Last committed offset per "topic:partition". */
  readonly committed: Map<string, bigint> = new Map();
  /** Last committed metadata (offset map) per "topic:partition". */
  readonly committedMetadata: Map<string, string> = new Map();
  /** Number of upcoming commits to fail. */
  failNextCommits = 0;
  /** Called with each commit before it is acknowledged, to check invariants at that moment. */
  onCommit: ((offsets: readonly PartitionOffset[]) => void) | undefined;

  start(listener: AdapterListener): Promise<void> {
    this.listener = listener;
    return Promise.resolve();
  }

  pause(partitions?: readonly TopicPartition[]): void {
    if (partitions) {
      for (const { topic, partition } of partitions) this.pausedPartitions.add(`${topic}:${partition}`);
      return;
    }
    this.paused = true;
    this.pauses++;
  }

  resume(partitions?: readonly TopicPartition[]): void {
    if (partitions) {
      for (const { topic, partition } of partitions) this.pausedPartitions.delete(`${topic}:${partition}`);
      return;
    }
    this.paused = false;
  }

  /** Partitions ("topic:partition") whose commits the broker refuses, one partition at a time. */
  readonly refusePartitions: Set<string> = new Set();

  commit(offsets: readonly PartitionOffset[]): Promise<readonly PartitionError[]> {
    if (this.failNextCommits > 0) {
      this.failNextCommits--;
      return Promise.reject(new Error("REBALANCE_IN_PROGRESS (simulated)"));
    }
    const refused = offsets.filter(({ topic, partition }) => this.refusePartitions.has(`${topic}:${partition}`));
    const accepted = offsets.filter((offset) => !refused.includes(offset));
    this.onCommit?.(accepted);
    this.commits.push([...accepted]);
    for (const { topic, partition, offset, metadata } of accepted) {
      this.committed.set(`${topic}:${partition}`, offset);
      this.committedMetadata.set(`${topic}:${partition}`, metadata);
    }
    return Promise.resolve(
      refused.map(({ topic, partition }) => ({
        topic,
        partition,
        error: new Error("UNKNOWN_TOPIC_OR_PARTITION (simulated)"),
      })),
    );
  }

  /** What `fetchPositions` reports; tests set it. */
  positions: PartitionPosition[] = [];

  fetchPositions(): readonly PartitionPosition[] {
    return this.positions;
  }

  /** Every published record, in order. */
  readonly published: OutgoingRecord[] = [];
  /** Number of upcoming publishes to fail. */
  failNextPublishes = 0;

  publish(records: readonly OutgoingRecord[]): Promise<void> {
    if (this.closed) {
      this.publishedAfterClose++;
      return Promise.reject(new Error("the adapter is closed"));
    }
    if (this.failNextPublishes > 0) {
      this.failNextPublishes--;
      return Promise.reject(new Error("NOT_ENOUGH_REPLICAS (simulated)"));
    }
    this.published.push(...records);
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  /** Publishes attempted after close() (a consumer must make none). */
  publishedAfterClose = 0;

  /**
   * Assigns partitions as a group join would, with what the group committed (if anything); without
   * a committed offset fetching starts at `startOffset` (default 0).
   */
  assign(...partitions: (TopicPartition & Partial<AssignedPartition>)[]): void {
    this.listener!.assigned(partitions.map((p) => {
      const committedOffset = p.committedOffset !== undefined
        ? p.committedOffset
        : this.committed.get(`${p.topic}:${p.partition}`) ?? null;
      return {
        committedMetadata: this.committedMetadata.get(`${p.topic}:${p.partition}`) ?? null,
        ...p,
        committedOffset,
        startOffset: p.startOffset ?? committedOffset ?? 0n,
      };
    }));
  }

  revoke(...partitions: TopicPartition[]): void {
    this.listener!.revoked(partitions);
  }

  deliver(...messages: ConsumerMessage[]): void {
    this.listener!.messages(messages);
  }
}

/** Lets pending promise callbacks and zero-delay timers run. */
export function settle(ms = 0): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
