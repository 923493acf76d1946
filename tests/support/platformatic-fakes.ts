// Fakes of the @platformatic/kafka pieces the platformatic client drives (see
// src/adapters/platformatic/library.ts): a consumer whose calls the test scripts, a producer that
// records, and a coordinator connection that answers wire requests with bytes the library's own
// parsers read — so a refused partition arrives exactly as the library reports it.
import { EventEmitter } from "node:events";
import {
  type Broker,
  type Callback,
  type ClusterMetadata,
  Connection,
  type FetchOptions,
  type fetchV17,
  type GroupOptions,
  type ListOffsetsOptions,
  type MetadataOptions,
  NetworkError,
  type Offsets,
  Reader,
  type ResponseParser,
  type SendOptions,
  Writer,
} from "@platformatic/kafka";
import type { ClientLibrary, GroupConsumer, RecordProducer } from "../../src/adapters/platformatic/library.ts";
import type { PlatformaticClientOptions } from "../../src/adapters/platformatic/options.ts";

/** A request a {@linkcode ScriptedConnection} received. */
export interface SentRequest {
  readonly apiKey: number;
  readonly apiVersion: number;
  /** The request body (after the header), as the library wrote it. */
  readonly body: Promise<Reader>;
}

/** Response bytes to parse, or a failure of the connection itself. */
export type Answer = Writer | Error;

/** A connection that answers each request with the next scripted answer (or fails without one). */
export class ScriptedConnection extends Connection {
  readonly requests: SentRequest[] = [];
  readonly name: string;
  readonly #answers: Answer[] = [];

  constructor(name = "coordinator") {
    super("pyrallel-tests");
    this.name = name;
  }

  /** Queues the answer to a later request. */
  answer(...answers: Answer[]): this {
    this.#answers.push(...answers);
    return this;
  }

  override send<ReturnType>(
    apiKey: number,
    apiVersion: number,
    createPayload: () => Writer | Promise<Writer>,
    responseParser: ResponseParser<ReturnType>,
    _hasRequestHeaderTaggedFields: boolean,
    _hasResponseHeaderTaggedFields: boolean,
    callback: Callback<ReturnType>,
  ): void {
    // Recorded at once: a test can check that a request went out in the caller's tick.
    const body = Promise.resolve(createPayload()).then((writer) => Reader.from(writer));
    this.requests.push({ apiKey, apiVersion, body });
    const answer = this.#answers.shift() ?? new Error(`${this.name}: no answer scripted for API ${apiKey}`);
    void body.then(async () => {
      if (answer instanceof Error) return callback(answer);
      try {
        callback(null, await responseParser(0, apiKey, apiVersion, Reader.from(answer)));
      } catch (error) {
        callback(error as Error);
      }
    });
  }
}

/** An OffsetCommit v9 response: per topic, [partition, error code] pairs. */
export function offsetCommitAnswer(topics: Record<string, [partition: number, errorCode: number][]>): Writer {
  return Writer.create()
    .appendInt32(0)
    .appendArray(Object.entries(topics), (w, [name, partitions]) => {
      w.appendString(name).appendArray(partitions, (w, [partition, errorCode]) => {
        w.appendInt32(partition).appendInt16(errorCode);
      });
    })
    .appendTaggedFields();
}

/** One partition of an OffsetFetch answer (offset -1n: none committed). */
export interface CommittedAnswer {
  readonly partition: number;
  readonly offset: bigint;
  readonly metadata: string | null;
  readonly errorCode?: number;
}

/** An OffsetFetch v9 response for one group. */
export function offsetFetchAnswer(
  groupId: string,
  topics: Record<string, CommittedAnswer[]>,
  groupErrorCode = 0,
): Writer {
  return Writer.create()
    .appendInt32(0)
    .appendArray([groupId], (w, group) => {
      w.appendString(group)
        .appendArray(Object.entries(topics), (w, [name, partitions]) => {
          w.appendString(name).appendArray(partitions, (w, p) => {
            w.appendInt32(p.partition).appendInt64(p.offset).appendInt32(-1).appendString(p.metadata)
              .appendInt16(p.errorCode ?? 0);
          });
        })
        .appendInt16(groupErrorCode);
    })
    .appendTaggedFields();
}

/** An OffsetCommit v9 request as it was written. */
export interface CommitRequest {
  readonly groupId: string;
  readonly generation: number;
  readonly memberId: string;
  readonly groupInstanceId: string | null;
  readonly partitions: readonly { topic: string; partition: number; offset: bigint; metadata: string | null }[];
}

/** Reads an OffsetCommit v9 request body. */
export async function readCommitRequest(request: SentRequest): Promise<CommitRequest> {
  const r = await request.body;
  const groupId = r.readString();
  const generation = r.readInt32();
  const memberId = r.readString();
  const groupInstanceId = r.readNullableString();
  const partitions = r.readArray((r) => {
    const topic = r.readString();
    return r.readArray((r) => {
      const partition = r.readInt32();
      const offset = r.readInt64();
      r.readInt32(); // leader epoch
      return { topic, partition, offset, metadata: r.readNullableString() };
    });
  }).flat();
  return { groupId, generation, memberId, groupInstanceId, partitions };
}

/** An ApiVersions v3 response naming `apis`: [api key, min version, max version]. */
export function apiVersionsAnswer(apis: [apiKey: number, minVersion: number, maxVersion: number][]): Writer {
  return Writer.create()
    .appendInt16(0)
    .appendArray(apis, (w, [apiKey, min, max]) => {
      w.appendInt16(apiKey).appendInt16(min).appendInt16(max);
    })
    .appendInt32(0)
    .appendTaggedFields();
}

/** One partition of a {@linkcode fetchAnswer}. */
export interface FetchedAnswer {
  readonly partition: number;
  readonly errorCode?: number;
  /** A record batch (e.g. from the library's createRecordsBatch). */
  readonly records?: Writer;
}

/** A Fetch v13–v17 response: per topic id, its partitions (high watermark 100, last stable 90). */
export function fetchAnswer(topics: [topicId: string, partitions: FetchedAnswer[]][], errorCode = 0): Writer {
  return Writer.create()
    .appendInt32(0)
    .appendInt16(errorCode)
    .appendInt32(0)
    .appendArray(topics, (w, [topicId, partitions]) => {
      w.appendUUID(topicId).appendArray(partitions, (w, p) => {
        w.appendInt32(p.partition).appendInt16(p.errorCode ?? 0).appendInt64(100n).appendInt64(90n).appendInt64(0n)
          .appendArray([], () => {})
          .appendInt32(-1);
        if (p.records) w.appendUnsignedVarInt(p.records.length + 1).appendFrom(p.records);
        else w.appendUnsignedVarInt(0);
      });
    })
    .appendTaggedFields();
}

/** A Fetch request as it was written (v13–v17: topics by id). */
export interface FetchRequestRead {
  readonly maxWaitMs: number;
  readonly minBytes: number;
  readonly maxBytes: number;
  readonly isolationLevel: number;
  readonly sessionId: number;
  readonly sessionEpoch: number;
  readonly partitions: readonly {
    topicId: string;
    partition: number;
    currentLeaderEpoch: number;
    fetchOffset: bigint;
    partitionMaxBytes: number;
  }[];
}

/** Reads a Fetch v13–v17 request body. */
export async function readFetchRequest(request: SentRequest): Promise<FetchRequestRead> {
  const r = await request.body;
  const [maxWaitMs, minBytes, maxBytes] = [r.readInt32(), r.readInt32(), r.readInt32()];
  const isolationLevel = r.readInt8();
  const [sessionId, sessionEpoch] = [r.readInt32(), r.readInt32()];
  const partitions = r.readArray((r) => {
    const topicId = r.readUUID();
    return r.readArray((r) => {
      const partition = r.readInt32();
      const currentLeaderEpoch = r.readInt32();
      const fetchOffset = r.readInt64();
      r.readInt32(); // last fetched epoch
      r.readInt64(); // log start offset
      return { topicId, partition, currentLeaderEpoch, fetchOffset, partitionMaxBytes: r.readInt32() };
    });
  }).flat();
  return { maxWaitMs, minBytes, maxBytes, isolationLevel, sessionId, sessionEpoch, partitions };
}

/** Brokers by node id: node 2 is the group coordinator. */
const BROKERS = new Map([
  [1, { host: "leader", port: 9092, rack: null }],
  [2, { host: "coordinator", port: 9092, rack: null }],
]);

/** A cluster with topic "t" (id `topicId`, two partitions led by node 1 and 2, leader epoch 5). */
export function cluster(topicId = "id-t"): ClusterMetadata {
  const partition = { leader: 1, leaderEpoch: 5, replicas: [1], isr: [1], offlineReplicas: [] };
  return {
    id: "cluster",
    brokers: new Map(BROKERS),
    controllerId: 1,
    topics: new Map([["t", {
      id: topicId,
      partitions: [partition, { ...partition, leader: 2 }],
      partitionsCount: 2,
      lastUpdate: 0,
    }]]),
    lastUpdate: 0,
  };
}

/** A consumer whose calls the test scripts by replacing them; group events are emitted by the test. */
export class FakeConsumer extends EventEmitter implements GroupConsumer {
  groupId = "g";
  groupInstanceId: string | null = null;
  generationId = 7;
  memberId: string | null = "member-1";
  readonly tracked: string[] = [];
  readonly topics = {
    current: [] as string[],
    track: (topic: string): boolean => {
      this.tracked.push(topic);
      if (this.topics.current.includes(topic)) return false;
      this.topics.current.push(topic);
      return true;
    },
    untrack: (topic: string): boolean => {
      const at = this.topics.current.indexOf(topic);
      if (at >= 0) this.topics.current.splice(at, 1);
      return at >= 0;
    },
  };
  /** The group coordinator's node id and connection. */
  coordinatorId = 2;
  readonly coordinator: ScriptedConnection = new ScriptedConnection();
  /** How often the coordinator was looked up. */
  lookups = 0;
  /** Brokers a connection was asked for. */
  readonly connectedTo: Broker[] = [];
  /** Calls of the library methods, by name, with their argument. */
  readonly calls: [name: string, argument: unknown][] = [];
  closed = false;

  /** Connections by broker host besides the coordinator's (see {@linkcode connectionTo}). */
  readonly #byHost = new Map<string, ScriptedConnection>();

  readonly connections = {
    get: (broker: Broker): Promise<Connection> => {
      this.connectedTo.push(broker);
      if (this.refuse.has(broker.host)) return Promise.reject(new NetworkError(`Connection to ${broker.host} failed.`));
      return Promise.resolve(this.#byHost.get(broker.host) ?? this.coordinator);
    },
    getFirstAvailable: (brokers: Broker[]): Promise<Connection> => this.firstAvailable(brokers),
  };

  /** Hosts whose connections fail (a broker that is gone). */
  readonly refuse: Set<string> = new Set();

  /** The connection to the broker at `host` (a host of {@linkcode cluster}: "leader", "coordinator"). */
  connectionTo(host: string): ScriptedConnection {
    let connection = this.#byHost.get(host);
    if (!connection) this.#byHost.set(host, connection = new ScriptedConnection(host));
    return connection;
  }

  firstAvailable = (_brokers: Broker[]): Promise<Connection> => Promise.resolve(new ScriptedConnection("bootstrap"));
  joinGroup = (options: GroupOptions): Promise<string> => this.#call("joinGroup", options, "member-1");
  leaveGroup = (): Promise<void> => this.#call("leaveGroup", undefined, undefined);
  findGroupCoordinator = (): Promise<number> => {
    this.lookups++;
    return Promise.resolve(this.coordinatorId);
  };
  metadata = (options: MetadataOptions): Promise<ClusterMetadata> => this.#call("metadata", options, cluster());
  fetch = (options: FetchOptions<Buffer, Buffer, Buffer, Buffer>): Promise<fetchV17.FetchResponse> =>
    this.#call("fetch", options, { throttleTimeMs: 0, errorCode: 0, sessionId: 0, responses: [] });
  listOffsets = (options: ListOffsetsOptions): Promise<Offsets> => this.#call("listOffsets", options, new Map());
  close = (): Promise<void> => {
    this.closed = true;
    return Promise.resolve();
  };

  #call<T>(name: string, argument: unknown, result: T): Promise<T> {
    this.calls.push([name, argument]);
    return Promise.resolve(result);
  }
}

/** A producer that records what it is asked to send. */
export class FakeProducer implements RecordProducer {
  readonly sent: SendOptions<Buffer, Buffer, Buffer, Buffer>[] = [];
  closed = false;
  send = (options: SendOptions<Buffer, Buffer, Buffer, Buffer>): Promise<unknown> => {
    this.sent.push(options);
    return Promise.resolve({});
  };
  close = (): Promise<void> => {
    this.closed = true;
    return Promise.resolve();
  };
}

/** Client options for the fakes. */
export const OPTIONS: PlatformaticClientOptions = {
  clientId: "pyrallel-tests",
  bootstrapBrokers: ["a:9092", "b:9093"],
  groupId: "g",
  sessionTimeoutMs: 10_000,
  rebalanceTimeoutMs: 10_000,
  heartbeatIntervalMs: 1_000,
};

/** A library that hands out `consumer` and makes producers with `producer` (counting them). */
export function fakeLibrary(
  consumer: GroupConsumer,
  producer: () => RecordProducer = () => new FakeProducer(),
): ClientLibrary & {
  producersMade: number;
} {
  return {
    producersMade: 0,
    consumer: () => consumer,
    // The consumer's own connections: tests script one connection per broker host.
    fetchConnections: () => ({ get: (broker) => consumer.connections.get(broker), close: () => Promise.resolve() }),
    producer() {
      this.producersMade++;
      return producer();
    },
  };
}
