// The small part of a Kafka client library the group adapter needs: group membership, leaders,
// fetch, offset commit/fetch, list offsets and produce, in the shapes of the Kafka protocol.
// `../platformatic/client.ts` implements it with @platformatic/kafka; the seeded simulation
// implements it with a model of a broker, so the real adapter, control plane and engines run
// against inputs and timings no broker on this machine produces on demand.
import type { TopicPartition } from "../../core/message.ts";
import type { OutgoingRecord, PartitionError, PartitionOffset } from "../../core/ports/kafka-adapter.ts";

/** Whether fetches return records of aborted and open transactions. */
export type IsolationLevel = "read_committed" | "read_uncommitted";

/** The group protocols a client can speak: Kafka's classic one, and KIP-848's consumer protocol. */
export type GroupProtocol = "classic" | "consumer";

/** What this member owns after a join: every partition, not a difference. */
export interface GroupAssignment {
  /**
   * Classic protocol: the group's generation, one more per rebalance. Consumer protocol: the
   * member epoch, which may skip numbers.
   */
  readonly generation: number;
  /** This member's id; a new id means the member was fenced and rejoined as a new member. */
  readonly memberId: string;
  readonly partitions: readonly TopicPartition[];
  /**
   * `"consumer"` when the membership reports every break in its ownership itself (`lost`), so a
   * skipped epoch is no gap. Absent (classic): a generation that is not the previous one + 1
   * means the member missed a rebalance, and its partitions may have moved meanwhile.
   */
  readonly protocol?: GroupProtocol;
}

/** Group membership events, on the event loop, in order. */
export interface GroupEvents {
  /** The member joined or rejoined and received its assignment. */
  joined(assignment: GroupAssignment): void;
  /**
   * Consumer protocol: the group takes `partitions` away and waits for this member to give them up.
   * The member keeps heartbeating and keeps reporting them as owned (so no other member gets them,
   * and commits with the current member epoch are accepted) until the returned promise resolves;
   * then it reports them released. The promise must not reject.
   */
  revoking(partitions: readonly TopicPartition[]): Promise<void>;
  /**
   * The member lost every partition without giving them up; other members may own and commit them
   * already. Consumer protocol: it was fenced, or its session expired; it rejoins next, and its
   * next assignment starts afresh. Either protocol: another consumer took its static membership
   * (`groupInstanceId`); `failed` follows.
   */
  lost(): void;
  /**
   * Classic protocol: a rebalance started and the member is about to rejoin. A commit sent
   * synchronously from this call reaches the coordinator before the rejoin, with the current generation.
   */
  rebalancing(): void;
  /** Membership failed for good: the member can no longer join or heartbeat. */
  failed(error: Error): void;
}

/** The broker leading one partition. */
export interface PartitionLeader extends TopicPartition {
  readonly node: number;
}

/** One partition of a fetch request. */
export interface FetchPartitionRequest extends TopicPartition {
  /** First offset wanted. */
  readonly offset: bigint;
  /** Most bytes returned for this partition (a larger first batch still comes whole). */
  readonly maxBytes: number;
}

/** A fetch from one broker. */
export interface FetchRequest {
  readonly node: number;
  readonly partitions: readonly FetchPartitionRequest[];
  /** Longest the broker waits for data. */
  readonly maxWaitMs: number;
  /** Most bytes over all partitions. */
  readonly maxBytes: number;
  readonly isolationLevel: IsolationLevel;
}

/** Why one partition of a fetch returned no data. */
export type FetchPartitionError =
  /** The offset is below the log start or above the log end: reset per `startFrom`. */
  | { readonly kind: "offsetOutOfRange" }
  /** Leadership moved or a replica is not available: find the leader again and retry. */
  | { readonly kind: "retriable"; readonly error: Error }
  /** Retrying cannot help (e.g. not authorized): the consumer fails. */
  | { readonly kind: "fatal"; readonly error: Error };

/** A transaction aborted in a fetched range (read_committed only). */
export interface AbortedTransaction {
  readonly producerId: bigint;
  /** Offset of the transaction's first record. */
  readonly firstOffset: bigint;
}

/** A record as stored: offsets and timestamps relative to its batch. */
export interface KafkaRecord {
  readonly offsetDelta: number;
  /** Milliseconds after the batch's first timestamp (exact within ±2^53, as every real one is). */
  readonly timestampDelta: number;
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
  /** Header names and values as bytes; a value (and, in a malformed record, a name) may be null. */
  readonly headers: readonly (readonly [Uint8Array | null, Uint8Array | null])[];
}

/**
 * A record batch as the broker returns it. A control batch holds one transaction marker (key:
 * int16 version, int16 type, 0 = ABORT, 1 = COMMIT) and no data.
 */
export interface RecordBatch {
  readonly firstOffset: bigint;
  readonly lastOffsetDelta: number;
  readonly firstTimestamp: bigint;
  /**
   * The broker's append time, when the topic stamps records with it (`message.timestamp.type` =
   * LogAppendTime): then it is every record's timestamp, whatever their deltas say. Absent:
   * CreateTime, the producer's.
   */
  readonly logAppendTime?: bigint;
  readonly producerId: bigint;
  readonly isTransactional: boolean;
  readonly isControl: boolean;
  readonly records: readonly KafkaRecord[];
}

/** One partition of a fetch response. */
export interface FetchedPartition extends TopicPartition {
  readonly error?: FetchPartitionError;
  /** Log end offset visible to consumers; `-1n` when unknown. */
  readonly highWatermark: bigint;
  /** read_committed: first offset of the oldest open transaction (data stops there); `-1n` when unknown. */
  readonly lastStableOffset: bigint;
  readonly logStartOffset: bigint;
  /** read_committed: transactions aborted in the returned range, in any order; `[]` otherwise. */
  readonly abortedTransactions: readonly AbortedTransaction[];
  /** Batches in offset order; the first may start below the requested offset. */
  readonly batches: readonly RecordBatch[];
  /** Bytes of those batches on the wire (what the request's byte limits counted). */
  readonly recordBytes: number;
}

/** The group's committed offset of one partition. */
export interface CommittedOffset extends TopicPartition {
  /** The next offset to read, or `null` when the group has none. */
  readonly offset: bigint | null;
  readonly metadata: string | null;
}

/** An offset of one partition (e.g. its earliest or latest). */
export interface ListedOffset extends TopicPartition {
  readonly offset: bigint;
}

/**
 * Errors a client rejects with carry `retriable` when trying again later can succeed (a broker
 * restarting, a coordinator moving); anything else is final.
 */
export interface ClientError extends Error {
  readonly retriable?: boolean;
}

/** Marks `error` as one that trying again later can fix. */
export function retriable(error: Error): ClientError {
  Object.defineProperty(error, "retriable", { value: true, enumerable: false });
  return error;
}

/** Whether a client's rejection says that trying again later can succeed. */
export function isRetriable(error: unknown): boolean {
  return (error as ClientError | undefined)?.retriable === true;
}

/**
 * The failure of a static member whose `groupInstanceId` another consumer took (FENCED_INSTANCE_ID):
 * it stops for good, as Kafka's own clients do, since rejoining would take the place back.
 */
export function instanceTaken(groupInstanceId: string | null | undefined, cause: unknown): Error {
  return new Error(
    `another consumer joined the group with this one's kafka.groupInstanceId "${groupInstanceId}" and took its ` +
      "place: this consumer stopped (give every running consumer its own groupInstanceId)",
    { cause },
  );
}

/** A consumer-group member's connection to the cluster. */
export interface KafkaClient {
  /**
   * Checks the connection (rejecting at once on bad credentials or an untrusted certificate),
   * subscribes to `topics` and joins the group. Resolves once the first assignment was passed to
   * `events.joined`; from then on `events` hear every rebalance.
   */
  join(topics: readonly string[], events: GroupEvents): Promise<void>;
  /**
   * The leader of every partition of `topics` that has one; `refresh` asks the cluster again
   * instead of a cache. A topic the cluster does not have (deleted) has none.
   */
  leaders(topics: readonly string[], refresh: boolean): Promise<readonly PartitionLeader[]>;
  /**
   * How many partitions each of `topics` has, asked of the cluster (not a cache). A topic it does
   * not have (deleted) is not in the map.
   */
  partitionCounts(topics: readonly string[]): Promise<ReadonlyMap<string, number>>;
  /** One fetch from one broker. Rejects when the request as a whole failed. */
  fetch(request: FetchRequest): Promise<readonly FetchedPartition[]>;
  /**
   * Commits offsets with their metadata, with this member's current generation (consumer
   * protocol: member epoch). Resolves with the partitions the coordinator refused (empty when all
   * were committed); rejects when the request as a whole failed. Consumer protocol: a partition
   * the member no longer holds (released, or lost when it was fenced) is refused without asking
   * the coordinator, which does not check ownership.
   */
  commit(offsets: readonly PartitionOffset[]): Promise<readonly PartitionError[]>;
  /** The group's committed offsets and metadata. */
  committed(partitions: readonly TopicPartition[]): Promise<readonly CommittedOffset[]>;
  /** The earliest or latest offset of each partition (latest: read_committed's last stable offset). */
  listOffsets(
    partitions: readonly TopicPartition[],
    at: "earliest" | "latest",
    isolationLevel: IsolationLevel,
  ): Promise<readonly ListedOffset[]>;
  /** Publishes records, acknowledged by all in-sync replicas, idempotently. */
  produce(records: readonly OutgoingRecord[]): Promise<void>;
  /** Leaves the group and disconnects everything, the producer included. */
  close(): Promise<void>;
}
