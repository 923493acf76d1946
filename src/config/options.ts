// The public option types, hand-written for their TSDoc (isolatedDeclarations and JSR need explicit
// types, so they cannot be inferred from the schema); schema.ts is checked against them, and
// defaults.ts holds every default the TSDoc states.
import * as v from "valibot";
import type { KafkaAdapter } from "../core/ports/kafka-adapter.ts";
import type { FailurePolicy, Logger } from "../core/settings.ts";
import type { RateLimitSettings } from "../core/control-plane/throttle.ts";
import type { BatchHandler, MessageHandler } from "../core/message.ts";
import type { Ordering } from "../core/partition-scheduler.ts";
import { ConfigError } from "../core/errors.ts";
import { optionsSchema } from "./schema.ts";

/** Connection and group settings passed to the Kafka client. */
export interface KafkaOptions {
  /** `host:port` of one or more brokers to bootstrap from. */
  bootstrapBrokers: string[];
  /** Consumer group: members share the partitions and the committed offsets. */
  groupId: string;
  /** Topics to consume. */
  topics: string[];
  /** Client id shown in broker logs and in metrics. Default: `pyrallel-<groupId>`. */
  clientId?: string;
  /** Where a partition without a committed offset starts. Default `"earliest"`. */
  startFrom?: "earliest" | "latest";
  /**
   * `"read_committed"` (default, as librdkafka and Kafka's Java consumer with transactions): records
   * of aborted transactions never reach the handler, and nothing past an open transaction is read
   * until it ends. `"read_uncommitted"` delivers every data record, aborted ones included.
   */
  isolationLevel?: "read_committed" | "read_uncommitted";
  /**
   * The group protocol. `"consumer"` (default): Kafka 4.0+'s consumer group protocol (KIP-848).
   * Rebalances are incremental (partitions a member keeps are not touched), and a revoked
   * partition is handed over only after its running work finished (or `maxRevokeGraceMs` passed)
   * and its progress was committed: graceful hand-overs run nothing twice. `"classic"`: the
   * join/sync protocol every broker serves, with eager rebalances; a revoked partition's running
   * work may run again at its new owner. See docs/rebalancing.md.
   */
  groupProtocol?: "consumer" | "classic";
  /**
   * Group session timeout: a member silent for this long is removed. Classic protocol only (under
   * the consumer protocol the broker's `group.consumer.session.timeout.ms` applies). Default 30000.
   */
  sessionTimeoutMs?: number;
  /**
   * Classic protocol: time members get to rejoin during a rebalance (the guide's
   * `max_poll_interval_ms`). Consumer protocol: how long a revocation may take before the group
   * fences the member. At least `sessionTimeoutMs`. Default 60000.
   */
  rebalanceTimeoutMs?: number;
  /**
   * Heartbeat period; below `sessionTimeoutMs`, usually a third of it. Classic protocol only (under
   * the consumer protocol the broker says when to heartbeat). Default 3000.
   */
  heartbeatIntervalMs?: number;
  /** Longest wait of one fetch for new data; also how soon newly assigned partitions are fetched. Default 500. */
  fetchMaxWaitMs?: number;
  /**
   * Classic protocol: how often the subscribed topics' partition counts are read again; when a topic
   * gained partitions, was deleted or came back, the member rejoins so that the group assigns what
   * there is (as Java's `metadata.max.age.ms`; under the consumer protocol the coordinator does this
   * itself). Default 300000.
   */
  metadataMaxAgeMs?: number;
  /**
   * Most bytes one fetch returns, over all partitions: with many partitions of large records, what
   * one response (and the data decoded from it) can hold. Default 16777216 (16 MiB).
   */
  fetchMaxBytes?: number;
  /**
   * Most bytes one fetch asks of a partition. Each partition of a request is asked for its share of
   * about 10,000 records (in bytes, by the size of its records so far) and of `fetchMaxBytes`,
   * whichever is less, at least 64 KiB, up to this: few partitions of large records come many
   * records per round trip, small records about 10,000 a response (decoding a response keeps the
   * event loop), many partitions 64 KiB each (fairness between partitions and keys comes from
   * admission, not from this). It also bounds how far one response takes a partition's buffer past
   * its limits. A larger record batch still comes whole. Default 1048576 (1 MiB).
   */
  fetchMaxBytesPerPartition?: number;
  /**
   * Check each fetched record batch's CRC-32C (`check.crcs` of Kafka's consumers): a batch corrupted
   * on the wire or on the broker's disk then stops the consumer with an error naming its topic,
   * partition and offset, instead of reaching a handler. It costs 0.4–0.8 ns per byte of records
   * (60–140 ns per ~100-byte record, `bench/micro/records.ts`; a quarter of a no-op handler's
   * throughput on 10 KB values), where Kafka's Java consumer has a CPU instruction for it.
   * Default `false`, as librdkafka's.
   */
  checkCrcs?: boolean;
  /**
   * Static membership id: a restart within the session timeout keeps the assignment (classic
   * protocol: only after a crash, as `close()` leaves the group there). One running consumer per
   * id: a consumer whose id another one took stops with a `KafkaClientError`.
   */
  groupInstanceId?: string;
  /** TLS for broker connections; `true` uses the system's trusted certificates. */
  tls?: boolean | TlsOptions;
  /** SASL authentication. Credentials never appear in metrics, logs or errors. */
  sasl?: SaslOptions;
}

/** TLS settings passed to the client's connections. PEM strings or bytes. */
export interface TlsOptions {
  ca?: string | Uint8Array | (string | Uint8Array)[];
  cert?: string | Uint8Array;
  key?: string | Uint8Array;
  passphrase?: string;
  /** Default `true`: refuse brokers whose certificate does not verify. */
  rejectUnauthorized?: boolean;
  servername?: string;
}

/** SASL mechanisms and credentials. */
export interface SaslOptions {
  mechanism: "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512" | "OAUTHBEARER";
  username?: string;
  password?: string;
  /** OAUTHBEARER token. */
  token?: string;
}

/** Runs handlers on the event loop: for I/O-bound work. */
export interface AsyncEngineOptions {
  kind: "async";
  /** Handlers running at once. Default 100. */
  concurrency?: number;
}

/**
 * Runs handlers in a pool of Web Workers: for CPU-bound work. The handler lives in `module`, a
 * worker entry file that calls `runWorker(handler)` from `@pyrallel/consumer/worker`.
 */
export interface WorkerEngineOptions {
  kind: "worker";
  /** URL of the worker entry module, e.g. `new URL("./worker.ts", import.meta.url)`. */
  module: string | URL;
  /** Workers in the pool. Default: the number of CPU cores. */
  workers?: number;
  /**
   * Handlers one worker runs at once, for handlers that await I/O (a synchronous one runs alone).
   * Default 4. Besides them each worker holds about 8 ms of queued work (from the measured
   * handler time, at most 256 messages), so it never waits for the consumer between messages.
   */
  concurrencyPerWorker?: number;
  /** Most messages sent to a worker in one postMessage. Default 64. */
  maxBatchSize?: number;
  /** Replace each worker after it was given this many messages. Off by default. */
  recycleAfterTasks?: number;
}

/** How handlers are executed. */
export type EngineOptions = AsyncEngineOptions | WorkerEngineOptions;

/** Retry of failed handler attempts. */
export interface RetryOptions {
  /** Retries after the first attempt. Default 3. */
  maxRetries?: number;
  /** First retry delay; doubles each retry. Default 100. */
  initialBackoffMs?: number;
  /** Longest retry delay. Default 10000. */
  maxBackoffMs?: number;
}

/** Where failed messages go: `<topic><topicSuffix>`, with provenance headers. */
export interface DeadLetterOptions {
  /** Default `".dlq"`. */
  topicSuffix?: string;
  /** `"full"` (default) copies key, value and headers; `"metadataOnly"` sends provenance headers only. */
  payload?: "full" | "metadataOnly";
}

/** After `maxFailures` final failures of one key, its messages fail without running for `cooldownMs`. */
export interface PoisonKeyOptions {
  /** Default 3. */
  maxFailures?: number;
  /** Default 60000. */
  cooldownMs?: number;
}

/**
 * Token buckets every message start passes (first attempts and retries alike): a message whose
 * tokens are not due stays queued in the in-flight window, holding no handler slot, and starts
 * once they are; messages of other keys go on meanwhile. Set `messagesPerSecond`, `perKey` or both.
 */
export interface RateLimitOptions {
  /** Messages started per second over the whole consumer (a positive finite number, e.g. `0.5` or `500`). */
  messagesPerSecond?: number;
  /**
   * Most messages the consumer-wide bucket lets start at once after a quiet spell (at least 1).
   * Default: a tenth of a second's worth of `messagesPerSecond`, rounded up, at least 1. Over any
   * span of T seconds at most `messagesPerSecond × T + burst` messages start.
   */
  burst?: number;
  /** A limit for each message key (keys compared as bytes; messages without a key have none). */
  perKey?: KeyRateLimitOptions;
}

/** The per-key bucket of {@linkcode RateLimitOptions}: each key gets its own. */
export interface KeyRateLimitOptions {
  /** Messages of one key started per second (a positive finite number). */
  messagesPerSecond: number;
  /** Most messages of one key started at once after a quiet spell (at least 1). Default: as `RateLimitOptions.burst`. */
  burst?: number;
}

/**
 * How batches are built for a batch handler: from the ready messages (the same admission and key
 * lanes as single messages), several messages of one key in a row where they are waiting.
 */
export interface BatchOptions {
  /** Most messages in one batch. Default 100. */
  maxMessages?: number;
  /**
   * Once a message is ready, how long its partition may wait for a fuller batch before the batch
   * starts with what it has (0: never wait). A batch that is full starts at once. Default 10.
   */
  maxWaitMs?: number;
}

/** Options of {@linkcode createParallelConsumer}. */
export interface ParallelConsumerOptions {
  kafka: KafkaOptions;
  /**
   * Processes one message; runs concurrently with others as `ordering` allows. Required with the
   * async engine; with the worker engine the handler lives in the worker module instead.
   */
  handler?: MessageHandler;
  /**
   * Processes a batch of messages of one partition in one call, instead of `handler` (set exactly
   * one of them with the async engine; with the worker engine the module decides, through
   * `runWorker({ batchHandler })`). A key's messages in a batch are consecutive and in offset
   * order, and no key is in two running batches at once. A batch that throws is retried as a
   * whole (`retry`), then each of its messages takes the failure policy on its own.
   */
  batchHandler?: BatchHandler;
  /** How batches are built (batch handlers only). */
  batch?: BatchOptions;
  /** `"key"` (default), `"partition"` or `"unordered"`. */
  ordering?: Ordering;
  /**
   * Messages admitted at once, queued plus processing (the in-flight window); fetching pauses at
   * this limit. Only the first waiting message of each key is admitted, so the window is spent on
   * distinct keys; the rest wait in per-partition buffers (`maxBufferedBytes`). Default 1000.
   */
  maxInFlight?: number;
  /**
   * Per partition: payload bytes (keys + values) of fetched messages not admitted into the
   * in-flight window yet (waiting behind their key, or for room in the window). At this limit, or
   * at `maxInFlight` such messages, the partition stops being fetched (its `pauseReason` is
   * `"bufferFull"`) until its buffer falls below 80% of both; other partitions go on. Memory held
   * by buffers is at most this times the owned partitions (plus one fetch each): lower it for many
   * partitions of large records. Default 4194304 (4 MiB).
   */
  maxBufferedBytes?: number;
  /**
   * Per partition: fetched offsets not yet passed by the commit position (done or not), e.g. behind
   * one long-blocking offset. At this limit the partition stops being fetched (its `pauseReason`
   * is `"maxUncommittedOffsets"`) until the window falls below 80% of it; other partitions go on.
   * Bounds the memory and commit cost of a stuck partition. Default 100000.
   */
  maxUncommittedOffsets?: number;
  /** Execution engine. Default `{ kind: "async", concurrency: 100 }`. */
  engine?: EngineOptions;
  retry?: RetryOptions;
  /**
   * After the last retry fails: `"deadLetter"` (default when `deadLetter` is set), `"stop"` the
   * consumer (default otherwise; the offset stays uncommitted) or `"skip"` the message. All emit `error`.
   */
  failurePolicy?: FailurePolicy;
  /** Dead-letter topic settings; setting it makes `"deadLetter"` the failure policy. */
  deadLetter?: DeadLetterOptions;
  /**
   * Per attempt: the handler's `signal` aborts and the attempt fails after this long. The async
   * engine cannot stop a handler that ignores its signal; the worker engine terminates its worker.
   */
  handlerTimeoutMs?: number;
  /**
   * A running message that holds its partition's commit this long is failed (retry/DLQ path);
   * the worker engine terminates its worker. Off by default.
   */
  maxBlockingMs?: number;
  /** Opt-in poison-key isolation (key ordering only). */
  poisonKey?: PoisonKeyOptions;
  /**
   * Throttling: a consumer-wide and/or a per-key rate of message starts. Throttled messages wait
   * queued (they occupy no handler slot; `getMetrics().startPauseReason` is `"rateLimit"`). Off
   * unless set. Handlers can also slow the consumer down themselves with `context.pause(ms)`.
   */
  rateLimit?: RateLimitOptions;
  /**
   * How often completed progress is committed. Default 1000. Once nothing fetched is left to run
   * (the consumer caught up) the commit goes out at once: two in a row at most, then four per interval.
   */
  commitIntervalMs?: number;
  /** How long `close()` waits for accepted work before aborting it. Default 30000. */
  drainTimeoutMs?: number;
  /** Payload bytes (keys + values) held at once; fetching pauses at this limit. Default 64 MiB. */
  maxInFlightBytes?: number;
  /**
   * The broker's `offset.metadata.max.bytes` (default 4096 there). The offset map of done offsets
   * committed beside each offset stays within it. Default 4096.
   */
  maxCommitMetadataBytes?: number;
  /**
   * On a revoked partition, how long running attempts may go on before they are aborted with
   * `PartitionRevokedError` (a partition assigned back meanwhile starts its work after that).
   * Consumer protocol: the partition is handed over only after that, with what completed
   * committed; keep it well below `kafka.rebalanceTimeoutMs`, or the group fences the member.
   * Classic protocol: nothing is committed for a revoked partition (the last commit is the one made
   * when the rebalance started), so the new owner processes this work again; the grace only lets
   * handlers finish their side effects instead of being cut off. Default 10000.
   */
  maxRevokeGraceMs?: number;
  /** A `stall` event and a log line fire when one offset blocks a partition's commit this long. Default 60000. */
  stallThresholdMs?: number;
  /** Receives the consumer's log lines (stalls, joins `start()` retries; failures arrive as `error` events). Default: `console`. */
  logger?: Logger;
  /** Replaces the built-in `@platformatic/kafka` client, e.g. with another client library. */
  adapter?: KafkaAdapter;
}

/** Options that stay unset unless given: the feature is off. */
type OffByDefault = "handlerTimeoutMs" | "maxBlockingMs" | "adapter";
/** Options whose resolved shape differs from the given one. */
type Reshaped =
  | "kafka"
  | "handler"
  | "batchHandler"
  | "batch"
  | "engine"
  | "retry"
  | "deadLetter"
  | "poisonKey"
  | "rateLimit";

/**
 * Options with every default applied. Any other new option must get a default in the schema (or be
 * listed in `OffByDefault`), else the schema's transform does not compile.
 */
export interface ResolvedOptions
  extends
    Readonly<Required<Omit<ParallelConsumerOptions, OffByDefault | Reshaped>>>,
    Readonly<Pick<ParallelConsumerOptions, OffByDefault>> {
  readonly kafka: ResolvedKafkaOptions;
  readonly engine: ResolvedEngine;
  readonly retry: Required<RetryOptions>;
  /** Set exactly when `failurePolicy` is `"deadLetter"`. */
  readonly deadLetter?: Required<DeadLetterOptions>;
  readonly poisonKey?: Required<PoisonKeyOptions>;
  /** Applied when the engine runs a batch handler. */
  readonly batch: Required<BatchOptions>;
  /** Every bucket's rate and burst, when `rateLimit` is set. */
  readonly rateLimit?: RateLimitSettings;
}

/** The engine to build, with defaults applied; the async engine carries the handler. */
export type ResolvedEngine =
  | (Required<AsyncEngineOptions> & ({ readonly handler: MessageHandler } | { readonly batchHandler: BatchHandler }))
  | (Required<Omit<WorkerEngineOptions, "recycleAfterTasks">> & Pick<WorkerEngineOptions, "recycleAfterTasks">);

/** Kafka options with defaults applied. */
export type ResolvedKafkaOptions =
  & Required<Omit<KafkaOptions, "groupInstanceId" | "tls" | "sasl">>
  & Pick<KafkaOptions, "groupInstanceId" | "tls" | "sasl">;

/**
 * Validates options and applies defaults.
 * @throws {ConfigError} naming every invalid field, field-level and cross-field alike.
 */
export function resolveOptions(options: ParallelConsumerOptions): ResolvedOptions {
  const result = v.safeParse(optionsSchema, options, { abortEarly: false });
  if (result.success) return result.output;
  throw new ConfigError(result.issues.map((issue) => {
    // Messages name their field; a path is prefixed only where one does not.
    const path = v.getDotPath(issue);
    return path && !issue.message.includes(path) ? `${path}: ${issue.message}` : issue.message;
  }));
}
