import {
  Consumer,
  type GroupAssignment,
  type Message,
  type MessagesStream,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
} from "@platformatic/kafka";
import type { KafkaOptions } from "../config/options.ts";
import { type ConsumerMessage, partitionId, type TopicPartition } from "../core/message.ts";
import type { AdapterListener, KafkaAdapter, PartitionOffset } from "./adapter.ts";

const NO_HEADERS: ReadonlyMap<string, Uint8Array> = new Map();

/**
 * Adapter for `@platformatic/kafka`. The client has no revoke callback, so ownership is derived
 * by comparing each group join's assignment with the previous one; messages of partitions this
 * member no longer owns are dropped here (the new owner reads them from the committed offset).
 */
export class PlatformaticAdapter implements KafkaAdapter {
  readonly #options: Required<Omit<KafkaOptions, "groupInstanceId">> & { groupInstanceId?: string };
  #consumer: Consumer | undefined;
  #stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
  #listener: AdapterListener | undefined;
  /** Partitions this member owns, as announced to the listener. */
  #owned = new Map<string, TopicPartition>();

  constructor(options: Required<Omit<KafkaOptions, "groupInstanceId">> & { groupInstanceId?: string }) {
    this.#options = options;
  }

  async start(listener: AdapterListener): Promise<void> {
    const options = this.#options;
    this.#listener = listener;
    const consumer = new Consumer({
      clientId: options.clientId,
      bootstrapBrokers: options.bootstrapBrokers,
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs,
      rebalanceTimeout: options.rebalanceTimeoutMs,
      heartbeatInterval: options.heartbeatIntervalMs,
      ...(options.groupInstanceId ? { groupInstanceId: options.groupInstanceId } : {}),
      autocommit: false,
    });
    this.#consumer = consumer;
    consumer.on("consumer:group:join", ({ assignments }) => this.#reconcile(assignments ?? []));
    const stream = await consumer.consume({
      topics: options.topics,
      mode: MessagesStreamModes.COMMITTED,
      fallbackMode: options.startFrom === "latest"
        ? MessagesStreamFallbackModes.LATEST
        : MessagesStreamFallbackModes.EARLIEST,
      autocommit: false,
    });
    this.#stream = stream;
    stream.on("data", (message) => this.#deliver(message));
    stream.on("error", (error) => listener.failed(error));
  }

  pause(): void {
    this.#stream?.pause();
  }

  resume(): void {
    this.#stream?.resume();
  }

  async commit(offsets: readonly PartitionOffset[]): Promise<void> {
    if (!this.#consumer) throw new Error("the adapter is not started");
    await this.#consumer.commit({
      offsets: offsets.map(({ topic, partition, offset }) => ({ topic, partition, offset, leaderEpoch: -1 })),
    });
  }

  async close(): Promise<void> {
    const stream = this.#stream;
    const consumer = this.#consumer;
    this.#stream = undefined;
    this.#consumer = undefined;
    if (stream && !stream.closed) await stream.close();
    if (consumer) await consumer.close();
  }

  #deliver(message: Message<Buffer, Buffer, Buffer, Buffer>): void {
    const id = partitionId(message.topic, message.partition);
    if (!this.#owned.has(id)) {
      // The join event may not have reached us yet; the client's own assignment is the truth.
      this.#reconcile(this.#consumer?.assignments ?? []);
      if (!this.#owned.has(id)) return;
    }
    this.#listener!.messages([toConsumerMessage(message)]);
  }

  /** Announces the difference between the owned partitions and the client's new assignment. */
  #reconcile(assignments: readonly GroupAssignment[]): void {
    const next = new Map<string, TopicPartition>();
    for (const { topic, partitions } of assignments) {
      for (const partition of partitions) next.set(partitionId(topic, partition), { topic, partition });
    }
    const revoked = [...this.#owned].filter(([id]) => !next.has(id)).map(([, tp]) => tp);
    const assigned = [...next].filter(([id]) => !this.#owned.has(id)).map(([, tp]) => tp);
    this.#owned = next;
    if (revoked.length > 0) this.#listener?.revoked(revoked);
    if (assigned.length > 0) this.#listener?.assigned(assigned);
  }
}

function toConsumerMessage(message: Message<Buffer, Buffer, Buffer, Buffer>): ConsumerMessage {
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
