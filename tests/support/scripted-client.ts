// A KafkaClient whose group events and offset reads the test drives step by step, over simple
// in-memory logs: for replaying exact sequences (a partition that comes back, a load that
// finishes late, a fenced member) against the real adapter and control plane.
import type { OutgoingRecord, PartitionError, PartitionOffset } from "../../src/core/ports/kafka-adapter.ts";
import type {
  ClientError,
  CommittedOffset,
  FetchedPartition,
  FetchRequest,
  GroupEvents,
  KafkaClient,
  ListedOffset,
  PartitionLeader,
} from "../../src/adapters/group/kafka-client.ts";
import type { TopicPartition } from "../../src/core/message.ts";

const encoder = new TextEncoder();
const key = ({ topic, partition }: TopicPartition) => `${topic}:${partition}`;

/** A pending `committed()` call the test answers. */
export interface PendingLoad {
  readonly partitions: readonly TopicPartition[];
  answer(offsets: Record<string, bigint | null>, metadata?: Record<string, string>): void;
  fail(error: ClientError): void;
}

export class ScriptedClient implements KafkaClient {
  events: GroupEvents | undefined;
  /** Records per "topic:partition": offset i holds key `k${i % keys}`. */
  readonly logs: Map<string, number> = new Map();
  keys: number = 10;
  /** The group's committed offsets and metadata, by "topic:partition". */
  readonly committedOffsets: Map<string, { offset: bigint; metadata: string }> = new Map();
  /** Every commit request, in order. */
  readonly commits: PartitionOffset[][] = [];
  /** Every fetch request's offsets, in order, as "topic:partition@offset". */
  readonly fetches: string[] = [];
  /** While set, committed() calls wait for the test (see `loads`). */
  holdLoads = false;
  readonly loads: PendingLoad[] = [];
  closed = false;
  /** Most records one fetch returns per partition. */
  fetchSize: number = 100;
  readonly #waiting = new Set<() => void>();

  /** How often join() was called (a classic member rejoins when a topic grew). */
  joins = 0;
  /** The topics of each join() call. */
  readonly joinedTopics: string[][] = [];

  join(topics: readonly string[], events: GroupEvents): Promise<void> {
    this.joins++;
    this.joinedTopics.push([...topics]);
    this.events = events;
    return Promise.resolve();
  }

  /** Delivers a join with this assignment. */
  assign(generation: number, memberId: string, partitions: readonly TopicPartition[]): void {
    this.events!.joined({ generation, memberId, partitions });
  }

  /** Appends records to a partition (up to `end`). */
  extend(partition: TopicPartition, end: number): void {
    this.logs.set(key(partition), end);
    for (const wake of [...this.#waiting]) wake();
  }

  leaders(topics: readonly string[]): Promise<readonly PartitionLeader[]> {
    const leaders: PartitionLeader[] = [];
    for (const { topic, partition } of this.#partitions()) {
      if (topics.includes(topic)) leaders.push({ topic, partition, node: 1 });
    }
    return Promise.resolve(leaders);
  }

  /** Every partition that has a log. */
  #partitions(): TopicPartition[] {
    return [...this.logs.keys()].map((name) => {
      const [topic, partition] = name.split(":");
      return { topic: topic!, partition: Number(partition) };
    });
  }

  partitionCounts(topics: readonly string[]): Promise<ReadonlyMap<string, number>> {
    const counts = new Map<string, number>();
    for (const { topic, partition } of this.#partitions()) {
      if (topics.includes(topic)) counts.set(topic, Math.max(counts.get(topic) ?? 0, partition + 1));
    }
    return Promise.resolve(counts);
  }

  fetch(request: FetchRequest): Promise<readonly FetchedPartition[]> {
    if (this.closed) return Promise.reject(new Error("closed"));
    for (const { topic, partition, offset } of request.partitions) this.fetches.push(`${topic}:${partition}@${offset}`);
    const respond = (): FetchedPartition[] | undefined => {
      const fetched: FetchedPartition[] = [];
      let any = false;
      for (const { topic, partition, offset } of request.partitions) {
        const end = BigInt(this.logs.get(key({ topic, partition })) ?? 0);
        const last = offset + BigInt(this.fetchSize) < end ? offset + BigInt(this.fetchSize) : end;
        const records = [];
        for (let o = offset; o < last; o++) {
          records.push({
            offsetDelta: Number(o - offset),
            timestampDelta: 0,
            key: encoder.encode(`k${Number(o) % this.keys}`),
            value: encoder.encode(String(o)),
            headers: [],
          });
        }
        if (records.length > 0) any = true;
        fetched.push({
          topic,
          partition,
          highWatermark: end,
          lastStableOffset: end,
          logStartOffset: 0n,
          abortedTransactions: [],
          batches: records.length === 0 ? [] : [{
            firstOffset: offset,
            lastOffsetDelta: records.length - 1,
            firstTimestamp: 0n,
            producerId: -1n,
            isTransactional: false,
            isControl: false,
            records,
          }],
          // A batch header, then each record's fields and a few bytes of framing.
          recordBytes: records.length === 0
            ? 0
            : 61 + records.reduce((sum, r) => sum + 8 + r.key.length + r.value.length, 0),
        });
      }
      return any ? fetched : undefined;
    };
    const now = respond();
    if (now) return Promise.resolve(now);
    // Long poll until data arrives, the client closes or maxWaitMs passes (in real time).
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(wake);
        resolve([]);
      }, request.maxWaitMs);
      const wake = () => {
        if (this.closed) {
          clearTimeout(timer);
          this.#waiting.delete(wake);
          return reject(new Error("closed"));
        }
        const later = respond();
        if (!later) return;
        clearTimeout(timer);
        this.#waiting.delete(wake);
        resolve(later);
      };
      this.#waiting.add(wake);
    });
  }

  commit(offsets: readonly PartitionOffset[]): Promise<readonly PartitionError[]> {
    if (this.closed) return Promise.reject(new Error("closed"));
    this.commits.push([...offsets]);
    for (const { topic, partition, offset, metadata } of offsets) {
      this.committedOffsets.set(key({ topic, partition }), { offset, metadata });
    }
    return Promise.resolve([]);
  }

  committed(partitions: readonly TopicPartition[]): Promise<readonly CommittedOffset[]> {
    const read = (offsets: Record<string, bigint | null> | undefined, metadata: Record<string, string> = {}) =>
      partitions.map((p) => {
        const stored = this.committedOffsets.get(key(p));
        const offset = offsets ? offsets[key(p)] ?? null : stored?.offset ?? null;
        return { ...p, offset, metadata: offsets ? metadata[key(p)] ?? null : stored?.metadata ?? null };
      });
    if (!this.holdLoads) return Promise.resolve(read(undefined));
    return new Promise((resolve, reject) => {
      this.loads.push({ partitions, answer: (offsets, metadata) => resolve(read(offsets, metadata)), fail: reject });
    });
  }

  listOffsets(partitions: readonly TopicPartition[], at: "earliest" | "latest"): Promise<readonly ListedOffset[]> {
    return Promise.resolve(
      partitions.map((p) => ({ ...p, offset: at === "earliest" ? 0n : BigInt(this.logs.get(key(p)) ?? 0) })),
    );
  }

  produce(_records: readonly OutgoingRecord[]): Promise<void> {
    return this.closed ? Promise.reject(new Error("closed")) : Promise.resolve();
  }

  close(): Promise<void> {
    this.closed = true;
    for (const wake of [...this.#waiting]) wake();
    return Promise.resolve();
  }
}
