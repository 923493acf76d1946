// The client port over @platformatic/kafka: its Consumer for group membership, metadata and fetch;
// the wire APIs OffsetCommit v9 / OffsetFetch v9 on the group coordinator, because the client's own
// commit and committed-offset calls drop the metadata (our offset map); a Producer, created on the
// first publish, for dead letters. Everything above this file is ours and runs against any
// implementation of the port (the simulation has one).
import {
  type Connection,
  Consumer,
  FetchIsolationLevels,
  findErrorBy,
  IS_CONTROL,
  IS_TRANSACTIONAL,
  type fetchV17,
  ListOffsetTimestamps,
  offsetCommitV9,
  offsetFetchV9,
  Producer,
  protocolErrors,
  protocolErrorsCodesById,
} from "@platformatic/kafka";
import type { TopicPartition } from "../../core/message.ts";
import { PartitionMap } from "../../core/partition-map.ts";
import type { OutgoingRecord, PartitionError, PartitionOffset } from "../../core/ports/kafka-adapter.ts";
import { describeConnectionFailure, fixFor, rootCauses } from "./connection-errors.ts";
import {
  type ClientError,
  type CommittedOffset,
  type FetchedPartition,
  type FetchPartitionError,
  type FetchRequest,
  type GroupEvents,
  type IsolationLevel,
  type KafkaClient,
  type ListedOffset,
  type PartitionLeader,
  type RecordBatch,
  retriable,
} from "../group/kafka-client.ts";

/** TLS settings passed to the client's connections. PEM strings or bytes. */
export interface ClientTls {
  readonly ca?: string | Uint8Array | (string | Uint8Array)[];
  readonly cert?: string | Uint8Array;
  readonly key?: string | Uint8Array;
  readonly passphrase?: string;
  readonly rejectUnauthorized?: boolean;
  readonly servername?: string;
}

/** SASL mechanism and credentials. */
export interface ClientSasl {
  readonly mechanism: "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512" | "OAUTHBEARER";
  readonly username?: string;
  readonly password?: string;
  readonly token?: string;
}

/** What the @platformatic/kafka client needs to connect and join. */
export interface PlatformaticClientOptions {
  readonly clientId: string;
  readonly bootstrapBrokers: readonly string[];
  readonly groupId: string;
  readonly groupInstanceId?: string | undefined;
  readonly sessionTimeoutMs: number;
  readonly rebalanceTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly tls?: true | ClientTls | undefined;
  readonly sasl?: ClientSasl | undefined;
}

type FetchResponse = fetchV17.FetchResponse;
type Batches = NonNullable<FetchResponse["responses"][number]["partitions"][number]["records"]>;

/** A {@linkcode KafkaClient} built on @platformatic/kafka. */
export class PlatformaticClient implements KafkaClient {
  readonly #options: PlatformaticClientOptions;
  readonly #consumer: Consumer;
  /** Created on the first publish (dead letters): most consumers never need one. */
  #producer: Producer | undefined;
  /** Last connection to the group coordinator: lets a commit go out synchronously. */
  #coordinatorConnection: Connection | undefined;
  #closed = false;
  #listening = false;

  constructor(options: PlatformaticClientOptions) {
    this.#options = options;
    this.#consumer = new Consumer({
      ...this.#connectionOptions(),
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs,
      rebalanceTimeout: options.rebalanceTimeoutMs,
      heartbeatInterval: options.heartbeatIntervalMs,
      autocommit: false,
      ...(options.groupInstanceId ? { groupInstanceId: options.groupInstanceId } : {}),
    });
  }

  async join(topics: readonly string[], events: GroupEvents): Promise<void> {
    const consumer = this.#consumer;
    if (!this.#listening) this.#listen(events);
    try {
      await this.#checkAccess();
      for (const topic of topics) consumer.topics.track(topic);
      await consumer.joinGroup({});
    } catch (error) {
      const { bootstrapBrokers, groupId } = this.#options;
      const failure: ClientError = new Error(
        `could not join group "${groupId}" on ${bootstrapBrokers.join(", ")}: ${describeConnectionFailure(error)}`,
        { cause: error },
      );
      // Credentials and certificates do not fix themselves; a coordinator that is moving does.
      if (markRetriable(error).retriable && !rootCauses(error).some((cause) => fixFor(cause) !== undefined)) {
        retriable(failure);
      }
      throw failure;
    }
  }

  /** Forwards the client's group events (once, however often join() is retried). */
  #listen(events: GroupEvents): void {
    this.#listening = true;
    const consumer = this.#consumer;
    consumer.on("consumer:group:join", ({ generationId, memberId, assignments }) => {
      const partitions: TopicPartition[] = [];
      for (const { topic, partitions: indexes } of assignments ?? []) {
        for (const partition of indexes) partitions.push({ topic, partition });
      }
      events.joined({ generation: generationId ?? -1, memberId, partitions });
    });
    consumer.on("consumer:group:rebalance", () => events.rebalancing());
    // Background group work (a rejoin) reports here; an unheard 'error' would end the process.
    consumer.on("error", (error: Error) => {
      if (!this.#closed) events.failed(error);
    });
  }

  /**
   * One connection attempt per bootstrap broker before joining: rejected credentials or an
   * untrusted certificate fail at once, where the client would retry them for 15–20 s. Other
   * failures (a broker still starting) are left to the client's retries.
   */
  async #checkAccess(): Promise<void> {
    try {
      await this.#consumer.connections.getFirstAvailable(this.#options.bootstrapBrokers.map(toBroker));
    } catch (error) {
      if (rootCauses(error).some((cause) => fixFor(cause) !== undefined)) throw error;
    }
  }

  async leaders(topics: readonly string[], refresh: boolean): Promise<readonly PartitionLeader[]> {
    const metadata = await this.#call(() => this.#consumer.metadata({ topics: [...topics], forceUpdate: refresh }));
    const leaders: PartitionLeader[] = [];
    for (const topic of topics) {
      const partitions = metadata.topics.get(topic)?.partitions ?? [];
      partitions.forEach((partition, index) => leaders.push({ topic, partition: index, node: partition.leader }));
    }
    return leaders;
  }

  async fetch(request: FetchRequest): Promise<readonly FetchedPartition[]> {
    const byTopic = groupByTopic(request.partitions);
    const metadata = await this.#call(() => this.#consumer.metadata({ topics: [...byTopic.keys()] }));
    const names = new Map<string, string>();
    const topics = [...byTopic].map(([topic, partitions]) => {
      const described = metadata.topics.get(topic);
      if (described === undefined) throw retriable(new Error(`topic ${topic} is not in the cluster metadata yet`));
      names.set(described.id, topic);
      return {
        topicId: described.id,
        partitions: partitions.map(({ partition, offset, maxBytes }) => ({
          partition,
          fetchOffset: offset,
          partitionMaxBytes: maxBytes,
          currentLeaderEpoch: described.partitions[partition]?.leaderEpoch ?? -1,
          lastFetchedEpoch: -1,
        })),
      };
    });
    let response: FetchResponse;
    try {
      response = await this.#consumer.fetch({
        node: request.node,
        topics,
        maxWaitTime: request.maxWaitMs,
        maxBytes: request.maxBytes,
        isolationLevel: request.isolationLevel === "read_committed"
          ? FetchIsolationLevels.READ_COMMITTED
          : FetchIsolationLevels.READ_UNCOMMITTED,
      });
    } catch (error) {
      // Partition-level errors reject the whole call; the response inside still has the rest.
      const partial = (error as { response?: FetchResponse }).response;
      if (!partial?.responses) throw markRetriable(error);
      response = partial;
    }
    const fetched: FetchedPartition[] = [];
    for (const topicResponse of response.responses) {
      const topic = names.get(topicResponse.topicId) ?? topicResponse.topicId;
      for (const p of topicResponse.partitions) {
        const error = fetchError(p.errorCode);
        fetched.push({
          topic,
          partition: p.partitionIndex,
          ...(error === undefined ? {} : { error }),
          highWatermark: p.highWatermark,
          lastStableOffset: p.lastStableOffset,
          logStartOffset: p.logStartOffset,
          abortedTransactions: p.abortedTransactions ?? [],
          batches: p.records ? toBatches(p.records) : [],
        });
      }
    }
    return fetched;
  }

  async commit(offsets: readonly PartitionOffset[]): Promise<readonly PartitionError[]> {
    const consumer = this.#consumer;
    const topics = [...groupByTopic(offsets)].map(([name, partitions]): offsetCommitV9.OffsetCommitRequestTopic => ({
      name,
      partitions: partitions.map(({ partition, offset, metadata }) => ({
        partitionIndex: partition,
        committedOffset: offset,
        committedLeaderEpoch: -1,
        committedMetadata: metadata,
      })),
    }));
    const send = (connection: Connection) =>
      offsetCommitV9.api.async(
        connection,
        consumer.groupId,
        consumer.generationId,
        consumer.memberId ?? "",
        consumer.groupInstanceId,
        topics,
      );
    // With a known coordinator the request is queued on its connection right now, in this tick.
    // That matters when a rebalance starts: the commit must reach the coordinator before the
    // client's own JoinGroup, which moves the group to a new generation (requests on one
    // connection are processed in order).
    const cached = this.#coordinatorConnection;
    try {
      await (cached ? send(cached) : send(await this.#coordinator()));
      return [];
    } catch (error) {
      const failed = partitionFailures(error);
      if (failed !== undefined) return failed;
      this.#coordinatorConnection = undefined;
      throw markRetriable(error);
    }
  }

  async committed(partitions: readonly TopicPartition[]): Promise<readonly CommittedOffset[]> {
    const byTopic = groupByTopic(partitions);
    const response = await this.#call(async () =>
      offsetFetchV9.api.async(
        await this.#coordinator(),
        [{
          groupId: this.#options.groupId,
          memberId: null,
          memberEpoch: -1,
          topics: [...byTopic].map(([name, list]) => ({ name, partitionIndexes: list.map(({ partition }) => partition) })),
        }],
        false,
      )
    );
    const found = new PartitionMap<{ offset: bigint; metadata: string | null }>();
    for (const topic of response.groups[0]?.topics ?? []) {
      for (const p of topic.partitions) {
        found.set(topic.name, p.partitionIndex, { offset: p.committedOffset, metadata: p.metadata ?? null });
      }
    }
    return partitions.map(({ topic, partition }) => {
      const entry = found.get(topic, partition);
      const known = entry !== undefined && entry.offset >= 0n;
      return { topic, partition, offset: known ? entry.offset : null, metadata: known ? entry.metadata : null };
    });
  }

  async listOffsets(
    partitions: readonly TopicPartition[],
    at: "earliest" | "latest",
    isolationLevel: IsolationLevel,
  ): Promise<readonly ListedOffset[]> {
    const byTopic = groupByTopic(partitions);
    const offsets = await this.#call(() =>
      this.#consumer.listOffsets({
        topics: [...byTopic.keys()],
        partitions: Object.fromEntries([...byTopic].map(([topic, list]) => [topic, list.map(({ partition }) => partition)])),
        timestamp: at === "earliest" ? ListOffsetTimestamps.EARLIEST : ListOffsetTimestamps.LATEST,
        isolationLevel: isolationLevel === "read_committed"
          ? FetchIsolationLevels.READ_COMMITTED
          : FetchIsolationLevels.READ_UNCOMMITTED,
      })
    );
    return partitions.map(({ topic, partition }) => {
      const offset = offsets.get(topic)?.[partition];
      if (offset === undefined) throw retriable(new Error(`no ${at} offset listed for ${topic}[${partition}]`));
      return { topic, partition, offset };
    });
  }

  async produce(records: readonly OutgoingRecord[]): Promise<void> {
    if (this.#closed) throw new Error("the Kafka client is closed");
    this.#producer ??= new Producer({
      ...this.#connectionOptions(),
      clientId: `${this.#options.clientId}-dlq`,
      // Idempotent: a retried send must not write a dead letter twice.
      idempotent: true,
      // A missing dead-letter topic is created where the cluster allows it (otherwise the
      // client's idempotent send waits for the topic to appear: create it beforehand).
      autocreateTopics: true,
    });
    await this.#call(() =>
      this.#producer!.send({
        messages: records.map((record) => ({
          topic: record.topic,
          ...(record.key === null ? {} : { key: Buffer.from(record.key) }),
          ...(record.value === null ? {} : { value: Buffer.from(record.value) }),
          // The client writes a missing header value as a null value.
          headers: new Map(
            [...record.headers].map(([name, value]) => [Buffer.from(name), value === null ? undefined : Buffer.from(value)]),
          ) as Map<Buffer, Buffer>,
        })),
      })
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const producer = this.#producer;
    this.#producer = undefined;
    try {
      await this.#consumer.close();
    } finally {
      if (producer) await producer.close();
    }
  }

  /** Brokers, client id and security settings shared by the consumer and the producer. */
  #connectionOptions() {
    const options = this.#options;
    return {
      clientId: options.clientId,
      bootstrapBrokers: [...options.bootstrapBrokers],
      ...(options.tls ? { tls: toClientTls(options.tls) } : {}),
      ...(options.sasl ? { sasl: { ...options.sasl } } : {}),
    };
  }

  /** A connection to the group coordinator, found fresh each time (it moves with leadership). */
  async #coordinator(): Promise<Connection> {
    const consumer = this.#consumer;
    const coordinatorId = await consumer.findGroupCoordinator();
    const metadata = await consumer.metadata({ topics: [] });
    const broker = metadata.brokers.get(coordinatorId);
    if (!broker) throw retriable(new Error(`group coordinator ${coordinatorId} is not in the cluster metadata`));
    this.#coordinatorConnection = await consumer.connections.get(broker);
    return this.#coordinatorConnection;
  }

  /** Runs a client call, marking whether its failure is worth retrying. */
  async #call<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw markRetriable(error);
    }
  }
}

/** Items by topic, in first-seen order (the client's requests are per topic). */
function groupByTopic<T extends TopicPartition>(items: readonly T[]): Map<string, T[]> {
  const byTopic = new Map<string, T[]>();
  for (const item of items) {
    const list = byTopic.get(item.topic);
    if (list) list.push(item);
    else byTopic.set(item.topic, [item]);
  }
  return byTopic;
}

/** The client's batches in the port's shape (records pass through: Buffer is a Uint8Array). */
function toBatches(records: Batches): RecordBatch[] {
  const batches: RecordBatch[] = new Array(records.length);
  for (let i = 0; i < records.length; i++) {
    const batch = records[i]!;
    batches[i] = {
      firstOffset: batch.firstOffset,
      lastOffsetDelta: batch.lastOffsetDelta,
      firstTimestamp: batch.firstTimestamp,
      producerId: batch.producerId,
      isTransactional: (batch.attributes & IS_TRANSACTIONAL) !== 0,
      isControl: (batch.attributes & IS_CONTROL) !== 0,
      records: batch.records,
    };
  }
  return batches;
}

const OFFSET_OUT_OF_RANGE = protocolErrors.OFFSET_OUT_OF_RANGE!.code;

/** The protocol's name and retry advice for an error code, if the client knows it. */
function protocolError(code: number): { readonly id: string; readonly canRetry: boolean } | undefined {
  const id = protocolErrorsCodesById[code];
  return id === undefined ? undefined : protocolErrors[id];
}

/** A fetch's per-partition error code in the port's terms. */
function fetchError(code: number): FetchPartitionError | undefined {
  if (code === 0) return undefined;
  if (code === OFFSET_OUT_OF_RANGE) return { kind: "offsetOutOfRange" };
  const known = protocolError(code);
  const error = new Error(`fetch failed: ${known?.id ?? `error code ${code}`}`);
  return known?.canRetry === false ? { kind: "fatal", error } : { kind: "retriable", error };
}

/** OffsetCommit errors about one partition; any other code concerns the whole group request. */
const PARTITION_COMMIT_ERRORS = new Set(
  ["OFFSET_METADATA_TOO_LARGE", "UNKNOWN_TOPIC_OR_PARTITION", "TOPIC_AUTHORIZATION_FAILED", "INVALID_COMMIT_OFFSET_SIZE"]
    .map((id) => protocolErrors[id]!.code),
);

/**
 * An OffsetCommit refused for some partitions only (the broker committed the others): those
 * partitions and their errors; `undefined` when the request as a whole failed (a group error such
 * as a new generation, which the broker reports on every partition).
 */
function partitionFailures(error: unknown): PartitionError[] | undefined {
  const response = (error as { response?: offsetCommitV9.OffsetCommitResponse }).response;
  if (!response?.topics) return undefined;
  const failed: PartitionError[] = [];
  for (const topic of response.topics) {
    for (const p of topic.partitions) {
      if (p.errorCode === 0) continue;
      if (!PARTITION_COMMIT_ERRORS.has(p.errorCode)) return undefined;
      const known = protocolError(p.errorCode);
      failed.push({
        topic: topic.name,
        partition: p.partitionIndex,
        error: new Error(`commit refused: ${known?.id ?? `error code ${p.errorCode}`}`, { cause: error }),
      });
    }
  }
  return failed.length > 0 ? failed : undefined;
}

/** Marks `error` as retriable when the client says retrying can help (or it is a timeout). */
function markRetriable(error: unknown): ClientError {
  const base = error instanceof Error ? error : new Error(String(error));
  const canRetry = findErrorBy(base, "canRetry", true) !== null || findErrorBy(base, "code", "PLT_KFK_TIMEOUT") !== null ||
    findErrorBy(base, "code", "PLT_KFK_NETWORK") !== null;
  return canRetry ? retriable(base) : base;
}

/** "host:port" (as validated with the options) as the client's broker object. */
function toBroker(address: string): { host: string; port: number } {
  const separator = address.lastIndexOf(":");
  return { host: address.slice(0, separator), port: Number(address.slice(separator + 1)) };
}

/** Our runtime-neutral TLS options, in the Buffer form the client's `node:tls` expects. */
function toClientTls(tls: true | ClientTls) {
  if (tls === true) return {};
  const bytes = (value: string | Uint8Array): string | Buffer => (typeof value === "string" ? value : Buffer.from(value));
  return {
    ...(tls.ca === undefined ? {} : { ca: Array.isArray(tls.ca) ? tls.ca.map(bytes) : bytes(tls.ca) }),
    ...(tls.cert === undefined ? {} : { cert: bytes(tls.cert) }),
    ...(tls.key === undefined ? {} : { key: bytes(tls.key) }),
    ...(tls.passphrase === undefined ? {} : { passphrase: tls.passphrase }),
    ...(tls.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: tls.rejectUnauthorized }),
    ...(tls.servername === undefined ? {} : { servername: tls.servername }),
  };
}
