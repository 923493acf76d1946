import {
  type Connection,
  Consumer,
  type GroupAssignment,
  type Message,
  type MessagesStream,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  offsetCommitV9,
  offsetFetchV9,
  Producer,
} from "@platformatic/kafka";
import type { ResolvedKafkaOptions, TlsOptions } from "../config/options.ts";
import type { ConsumerMessage, TopicPartition } from "../core/message.ts";
import { PartitionMap } from "../core/partition-map.ts";
import { describeConnectionFailure, fixFor, rootCauses } from "./connection-errors.ts";
import type {
  AdapterListener,
  AssignedPartition,
  KafkaAdapter,
  OutgoingRecord,
  PartitionOffset,
  PartitionPosition,
} from "./adapter.ts";

const NO_HEADERS: ReadonlyMap<string, Uint8Array> = new Map();
const LOAD_ATTEMPTS = 5;
/** Messages handed to the control plane at once; small enough to pause within a fetch. */
const DELIVERY_BATCH = 64;

type RawMessage = Message<Buffer, Buffer, Buffer, Buffer>;

/**
 * Adapter for `@platformatic/kafka`.
 *
 * - The client has no revoke callback: ownership is derived by comparing each group join's
 *   assignment with the previous one. Messages of partitions no longer owned are dropped here
 *   (the new owner reads them from the committed offset).
 * - The client's commit sends no metadata, so commits and committed-offset reads use the wire
 *   APIs OffsetCommit v9 / OffsetFetch v9 on the group coordinator, carrying the offset map.
 * - A newly assigned partition's messages are held until its committed offset and map are read,
 *   so offsets finished by a previous owner never reach the handler.
 */
export class PlatformaticAdapter implements KafkaAdapter {
  readonly #options: ResolvedKafkaOptions;
  #consumer: Consumer | undefined;
  #stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
  /** Last connection to the group coordinator: lets a commit go out synchronously. */
  #coordinatorConnection: Connection | undefined;
  /** Created on the first publish (dead letters): most consumers never need one. */
  #producer: Producer | undefined;
  #listener: AdapterListener | undefined;
  /** Delivered messages not yet handed to the listener. */
  #batch: ConsumerMessage[] = [];
  /** Partitions announced to the listener. */
  readonly #owned = new PartitionMap<true>();
  /** Partitions assigned whose committed state is being read; their messages wait here. */
  readonly #loading = new PartitionMap<RawMessage[]>();

  constructor(options: ResolvedKafkaOptions) {
    this.#options = options;
  }

  async start(listener: AdapterListener): Promise<void> {
    const options = this.#options;
    this.#listener = listener;
    const consumer = new Consumer({
      ...this.#connectionOptions(),
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs,
      rebalanceTimeout: options.rebalanceTimeoutMs,
      heartbeatInterval: options.heartbeatIntervalMs,
      autocommit: false,
      ...(options.groupInstanceId ? { groupInstanceId: options.groupInstanceId } : {}),
    });
    this.#consumer = consumer;
    consumer.on("consumer:group:join", ({ assignments }) => this.#reconcile(assignments ?? []));
    // Background group work (a rejoin) reports here; an unheard 'error' would end the process.
    consumer.on("error", (error: Error) => {
      if (this.#consumer === consumer) listener.failed(error);
    });
    consumer.on("consumer:group:rebalance", () => listener.rebalancing());
    let stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>;
    try {
      await this.#checkAccess(consumer);
      stream = await consumer.consume({
        topics: options.topics,
        mode: MessagesStreamModes.COMMITTED,
        fallbackMode: options.startFrom === "latest"
          ? MessagesStreamFallbackModes.LATEST
          : MessagesStreamFallbackModes.EARLIEST,
        autocommit: false,
        // Newly assigned partitions join the fetch loop only when the current long poll returns.
        maxWaitTime: options.fetchMaxWaitMs,
        maxBytes: options.fetchMaxBytes,
        maxBytesPerPartition: options.fetchMaxBytesPerPartition,
      });
    } catch (error) {
      throw new Error(
        `could not join group "${options.groupId}" on ${options.bootstrapBrokers.join(", ")}: ${describeConnectionFailure(error)}`,
        { cause: error },
      );
    }
    this.#stream = stream;
    stream.on("data", (message) => this.#deliver(message));
    stream.on("error", (error) => listener.failed(error));
  }

  /**
   * One connection attempt per bootstrap broker before joining: rejected credentials or an
   * untrusted certificate fail at once, where the client would retry them for 15–20 s. Other
   * failures (a broker still starting) are left to the client's retries.
   */
  async #checkAccess(consumer: Consumer): Promise<void> {
    try {
      await consumer.connections.getFirstAvailable(this.#options.bootstrapBrokers.map(toBroker));
    } catch (error) {
      if (rootCauses(error).some((cause) => fixFor(cause) !== undefined)) throw error;
    }
  }

  pause(): void {
    this.#stream?.pause();
  }

  resume(): void {
    this.#stream?.resume();
  }

  async commit(offsets: readonly PartitionOffset[]): Promise<void> {
    const consumer = this.#started();
    const topics = new Map<string, offsetCommitV9.OffsetCommitRequestTopic>();
    for (const { topic, partition, offset, metadata } of offsets) {
      let entry = topics.get(topic);
      if (!entry) topics.set(topic, (entry = { name: topic, partitions: [] }));
      entry.partitions.push({
        partitionIndex: partition,
        committedOffset: offset,
        committedLeaderEpoch: -1,
        committedMetadata: metadata,
      });
    }
    const send = (connection: Connection) =>
      offsetCommitV9.api.async(
        connection,
        consumer.groupId,
        consumer.generationId,
        consumer.memberId ?? "",
        consumer.groupInstanceId,
        [...topics.values()],
      );
    // With a known coordinator the request is queued on its connection right now, in this tick.
    // That matters when a rebalance starts: the commit must reach the coordinator before the
    // client's own JoinGroup, which moves the group to a new generation (requests on one
    // connection are processed in order).
    const cached = this.#coordinatorConnection;
    try {
      await (cached ? send(cached) : send(await this.#coordinator()));
    } catch (error) {
      this.#coordinatorConnection = undefined;
      throw error;
    }
  }

  fetchPositions(): readonly PartitionPosition[] {
    const stream = this.#stream;
    // Messages still buffered in the stream lie below its positions: not safe to report yet.
    if (!stream || stream.readableLength > 0 || this.#batch.length > 0) return [];
    const positions: PartitionPosition[] = [];
    for (const [{ topic, partition }] of this.#owned.entries()) {
      // The client keys its positions as "topic:partition".
      const position = stream.offsetsToFetch.get(`${topic}:${partition}`);
      if (position !== undefined) positions.push({ topic, partition, position });
    }
    return positions;
  }

  async publish(records: readonly OutgoingRecord[]): Promise<void> {
    this.#producer ??= new Producer({
      ...this.#connectionOptions(),
      clientId: `${this.#options.clientId}-dlq`,
      // Idempotent: a retried send must not write a dead letter twice.
      idempotent: true,
      // A missing dead-letter topic is created where the cluster allows it (otherwise the
      // client's idempotent send waits for the topic to appear: create it beforehand).
      autocreateTopics: true,
    });
    await this.#producer.send({
      messages: records.map((record) => ({
        topic: record.topic,
        ...(record.key === null ? {} : { key: Buffer.from(record.key) }),
        ...(record.value === null ? {} : { value: Buffer.from(record.value) }),
        headers: new Map([...record.headers].map(([name, value]) => [Buffer.from(name), Buffer.from(value)])),
      })),
    });
  }

  async close(): Promise<void> {
    const stream = this.#stream;
    const consumer = this.#consumer;
    const producer = this.#producer;
    this.#stream = undefined;
    this.#consumer = undefined;
    this.#producer = undefined;
    if (stream && !stream.closed) await stream.close();
    if (consumer) await consumer.close();
    if (producer) await producer.close();
  }

  /** Brokers, client id and security settings shared by the consumer and the producer. */
  #connectionOptions() {
    const options = this.#options;
    return {
      clientId: options.clientId,
      bootstrapBrokers: options.bootstrapBrokers,
      ...(options.tls ? { tls: toClientTls(options.tls) } : {}),
      ...(options.sasl ? { sasl: { ...options.sasl } } : {}),
    };
  }

  #started(): Consumer {
    if (!this.#consumer) throw new Error("the Kafka consumer is not running (start() first, or it was closed)");
    return this.#consumer;
  }

  /** A connection to the group coordinator, found fresh each time (it moves with leadership). */
  async #coordinator(): Promise<Connection> {
    const consumer = this.#started();
    const coordinatorId = await consumer.findGroupCoordinator();
    const metadata = await consumer.metadata({ topics: this.#options.topics });
    const broker = metadata.brokers.get(coordinatorId);
    if (!broker) throw new Error(`group coordinator ${coordinatorId} is not in the cluster metadata`);
    this.#coordinatorConnection = await consumer.connections.get(broker);
    return this.#coordinatorConnection;
  }

  #deliver(message: RawMessage): void {
    const held = this.#loading.get(message.topic, message.partition);
    if (held) {
      held.push(message);
      return;
    }
    if (!this.#owned.has(message.topic, message.partition)) return;
    // Messages of one fetch arrive in one synchronous burst: hand them over in batches (one
    // backpressure check and one scheduling pass per batch), flushed at the end of the burst.
    this.#batch.push(toConsumerMessage(message));
    if (this.#batch.length >= DELIVERY_BATCH) this.#flush();
    else if (this.#batch.length === 1) queueMicrotask(this.#flush);
  }

  readonly #flush = (): void => {
    if (this.#batch.length === 0) return;
    const batch = this.#batch;
    this.#batch = [];
    this.#listener?.messages(batch);
  };

  /** Announces the difference between the owned partitions and the client's new assignment. */
  #reconcile(assignments: readonly GroupAssignment[]): void {
    const next = new PartitionMap<true>();
    for (const { topic, partitions } of assignments) {
      for (const partition of partitions) next.set(topic, partition, true);
    }
    const isGone = ([{ topic, partition }]: [TopicPartition, unknown]) => !next.has(topic, partition);
    const revoked = [...this.#owned.entries()].filter(isGone).map(([tp]) => tp);
    for (const [{ topic, partition }] of [...this.#loading.entries()].filter(isGone)) this.#loading.delete(topic, partition);
    const added = [...next.entries()]
      .filter(([{ topic, partition }]) => !this.#owned.has(topic, partition) && !this.#loading.has(topic, partition))
      .map(([tp]) => tp);
    this.#flush();
    for (const { topic, partition } of revoked) this.#owned.delete(topic, partition);
    if (revoked.length > 0) this.#listener?.revoked(revoked);
    if (added.length > 0) void this.#load(added);
  }

  /** Reads committed offsets and maps, then announces the partitions and releases their messages. */
  async #load(partitions: readonly TopicPartition[]): Promise<void> {
    for (const { topic, partition } of partitions) this.#loading.set(topic, partition, []);
    let committed: AssignedPartition[] | undefined;
    for (let attempt = 1; !committed; attempt++) {
      try {
        committed = await this.#fetchCommitted(partitions);
      } catch (error) {
        if (attempt >= LOAD_ATTEMPTS || !this.#consumer) {
          this.#listener?.failed(new Error("could not read the group's committed offsets", { cause: error }));
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
    // Partitions revoked while loading are gone from #loading: skip them.
    const still = committed.filter(({ topic, partition }) => this.#loading.has(topic, partition));
    for (const { topic, partition } of still) this.#owned.set(topic, partition, true);
    this.#listener?.assigned(still);
    for (const { topic, partition } of still) {
      const held = this.#loading.get(topic, partition) ?? [];
      this.#loading.delete(topic, partition);
      if (held.length > 0) this.#listener?.messages(held.map(toConsumerMessage));
    }
  }

  async #fetchCommitted(partitions: readonly TopicPartition[]): Promise<AssignedPartition[]> {
    const byTopic = new Map<string, number[]>();
    for (const { topic, partition } of partitions) {
      let list = byTopic.get(topic);
      if (!list) byTopic.set(topic, (list = []));
      list.push(partition);
    }
    const response = await offsetFetchV9.api.async(
      await this.#coordinator(),
      [{
        groupId: this.#options.groupId,
        memberId: null,
        memberEpoch: -1,
        topics: [...byTopic].map(([name, partitionIndexes]) => ({ name, partitionIndexes })),
      }],
      false,
    );
    const found = new PartitionMap<{ offset: bigint; metadata: string | null }>();
    for (const topic of response.groups[0]?.topics ?? []) {
      for (const p of topic.partitions) {
        found.set(topic.name, p.partitionIndex, { offset: p.committedOffset, metadata: p.metadata ?? null });
      }
    }
    return partitions.map(({ topic, partition }) => {
      const entry = found.get(topic, partition);
      const hasOffset = entry !== undefined && entry.offset >= 0n;
      return {
        topic,
        partition,
        committedOffset: hasOffset ? entry.offset : null,
        committedMetadata: hasOffset ? entry.metadata : null,
      };
    });
  }
}

/** "host:port" (as validated with the options) as the client's broker object. */
function toBroker(address: string): { host: string; port: number } {
  const separator = address.lastIndexOf(":");
  return { host: address.slice(0, separator), port: Number(address.slice(separator + 1)) };
}

/** Our runtime-neutral TLS options, in the Buffer form the client's `node:tls` expects. */
function toClientTls(tls: true | TlsOptions) {
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

function toConsumerMessage(message: RawMessage): ConsumerMessage {
  let headers = NO_HEADERS;
  if (message.headers.size > 0) {
    const decoded = new Map<string, Uint8Array>();
    for (const [name, value] of message.headers) decoded.set(name.toString(), value);
    headers = decoded;
  }
  return {
    topic: message.topic,
    partition: message.partition,
    offset: message.offset,
    key: message.key ?? null,
    value: message.value ?? null,
    headers,
    timestamp: Number(message.timestamp),
  };
}
