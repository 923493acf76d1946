// The parts of @platformatic/kafka the client drives, narrowed to what it calls: a Consumer for
// group membership, metadata and the coordinator, connections of their own for fetches, a Producer
// for dead letters. The rest of this folder sees
// only these types, so a unit test can hand it fakes (the wire APIs take a real `Connection`,
// whose `send` a test can answer with the library's own parsers).
import {
  type Broker,
  type ClusterMetadata,
  type Connection,
  ConnectionPool,
  Consumer,
  type ConsumerGroupJoinPayload,
  consumerHeartbeatChannel,
  findErrorBy,
  type GroupOptions,
  type ListOffsetsOptions,
  type MetadataOptions,
  type Offsets,
  Producer,
  type SendOptions,
} from "@platformatic/kafka";
import { connectionOptions, type PlatformaticClientOptions } from "./options.ts";

/** What the client calls on the library's Consumer. */
export interface GroupConsumer {
  readonly groupId: string;
  readonly groupInstanceId: string | null;
  /** The group generation of the last join. */
  readonly generationId: number;
  readonly memberId: string | null;
  /** The topics the consumer subscribes to when it joins. */
  readonly topics: {
    readonly current: readonly string[];
    track(topic: string): boolean;
    untrack(topic: string): boolean;
  };
  readonly connections: {
    get(broker: Broker): Promise<Connection>;
    getFirstAvailable(brokers: Broker[]): Promise<Connection>;
  };
  on(event: "consumer:group:join", listener: (payload: ConsumerGroupJoinPayload) => void): unknown;
  on(event: "consumer:group:rebalance", listener: () => void): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
  /** Joins (with sync and heartbeats that the consumer keeps up on its own); resolves with the member id. */
  joinGroup(options: GroupOptions): Promise<string>;
  /**
   * Classic protocol: leaves the group. Stops the membership in this tick (a rejoin the consumer
   * was about to start does not happen); the LeaveGroup request follows.
   */
  leaveGroup(): Promise<void>;
  /** The node id of the group coordinator. */
  findGroupCoordinator(): Promise<number>;
  metadata(options: MetadataOptions): Promise<ClusterMetadata>;
  listOffsets(options: ListOffsetsOptions): Promise<Offsets>;
  /** Leaves the group and closes every connection. */
  close(): Promise<void>;
}

/**
 * Connections to the partition leaders for fetches only. A broker answers a connection's requests
 * in order, so a commit or heartbeat sent behind a fetch waiting for data (`fetchMaxWaitMs`) would
 * wait for it too; Kafka's own consumer keeps the coordinator on a connection of its own likewise.
 */
export interface FetchConnections {
  get(broker: Broker): Promise<Connection>;
  close(): Promise<void>;
}

/** What the client calls on the library's Producer. */
export interface RecordProducer {
  send(options: SendOptions<Buffer, Buffer, Buffer, Buffer>): Promise<unknown>;
  close(): Promise<void>;
}

/** What the library's heartbeat trace hands its subscribers. */
interface HeartbeatTrace {
  readonly client?: unknown;
  readonly error?: unknown;
}

const ignoreTrace = (): void => {};

/**
 * Calls `listener` with every failed heartbeat of `consumer` (classic protocol), before the
 * consumer acts on the failure itself: the library traces its heartbeats on a diagnostics channel,
 * whose error event comes first. Returns the unsubscribe.
 */
export function onHeartbeatFailure(consumer: GroupConsumer, listener: (error: unknown) => void): () => void {
  const subscribers = {
    start: ignoreTrace,
    end: ignoreTrace,
    asyncStart: ignoreTrace,
    asyncEnd: ignoreTrace,
    error: (trace: HeartbeatTrace) => {
      if (trace.client === consumer) listener(trace.error);
    },
  };
  consumerHeartbeatChannel.subscribe(subscribers);
  return () => void consumerHeartbeatChannel.unsubscribe(subscribers);
}

/** Creates the library objects a client drives; tests pass fakes. */
export interface ClientLibrary {
  consumer(options: PlatformaticClientOptions): GroupConsumer;
  fetchConnections(options: PlatformaticClientOptions): FetchConnections;
  /** Called on the first publish (dead letters): most consumers never need a producer. */
  producer(options: PlatformaticClientOptions): RecordProducer;
}

/** The library's wait between two tries of a request (its default). */
const RETRY_DELAY_MS = 1_000;
/** Between tries of a metadata request that named a topic the cluster does not have. */
const UNKNOWN_TOPIC_RETRY_DELAY_MS = 20;

/**
 * The library tries a request three more times, a second apart, while its errors are retriable;
 * a metadata request naming a topic the cluster does not have is one of those. A subscribed topic
 * deleted while the group runs would then hold every lookup of leaders (and so every fetch) for
 * three seconds, twice (metadata.ts asks again topic by topic): those tries go out at once instead.
 */
export function retryDelay(
  _client: unknown,
  operationId: string,
  _attempt: number,
  _retries: number,
  error: Error,
): number {
  const unknownTopic = operationId === "metadata" && findErrorBy(error, "apiId", "UNKNOWN_TOPIC_OR_PARTITION") !== null;
  return unknownTopic ? UNKNOWN_TOPIC_RETRY_DELAY_MS : RETRY_DELAY_MS;
}

/** The real @platformatic/kafka clients. */
export const platformaticLibrary: ClientLibrary = {
  consumer: (options) =>
    new Consumer({
      ...connectionOptions(options),
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs,
      rebalanceTimeout: options.rebalanceTimeoutMs,
      heartbeatInterval: options.heartbeatIntervalMs,
      autocommit: false,
      retryDelay,
      ...(options.groupInstanceId ? { groupInstanceId: options.groupInstanceId } : {}),
    }),
  fetchConnections: (options) => {
    const { clientId, tls, sasl } = connectionOptions(options);
    return new ConnectionPool(`${clientId}-fetch`, { ...(tls ? { tls } : {}), ...(sasl ? { sasl } : {}) });
  },
  producer: (options) =>
    new Producer({
      ...connectionOptions(options),
      clientId: `${options.clientId}-dlq`,
      // Idempotent: a retried send must not write a dead letter twice.
      idempotent: true,
      // A missing dead-letter topic is created where the cluster allows it (otherwise the
      // client's idempotent send waits for the topic to appear: create it beforehand).
      autocreateTopics: true,
    }),
};
