// An in-memory KafkaAdapter for unit tests of the control plane. Never a stand-in for a broker
// where a user would have one: integration tests use the real broker.
import type {
  AdapterListener,
  AssignedPartition,
  KafkaAdapter,
  OutgoingRecord,
  PartitionOffset,
  PartitionPosition,
} from "../../src/adapters/adapter.ts";
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

  pause(): void {
    this.paused = true;
    this.pauses++;
  }

  resume(): void {
    this.paused = false;
  }

  commit(offsets: readonly PartitionOffset[]): Promise<void> {
    if (this.failNextCommits > 0) {
      this.failNextCommits--;
      return Promise.reject(new Error("REBALANCE_IN_PROGRESS (simulated)"));
    }
    this.onCommit?.(offsets);
    this.commits.push([...offsets]);
    for (const { topic, partition, offset, metadata } of offsets) {
      this.committed.set(`${topic}:${partition}`, offset);
      this.committedMetadata.set(`${topic}:${partition}`, metadata);
    }
    return Promise.resolve();
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

  /** Assigns partitions as a group join would, with what the group committed (if anything). */
  assign(...partitions: (TopicPartition & Partial<AssignedPartition>)[]): void {
    this.listener!.assigned(partitions.map((p) => ({
      committedOffset: this.committed.get(`${p.topic}:${p.partition}`) ?? null,
      committedMetadata: this.committedMetadata.get(`${p.topic}:${p.partition}`) ?? null,
      ...p,
    })));
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
