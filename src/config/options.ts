import * as v from "valibot";
import type { KafkaAdapter } from "../core/ports/kafka-adapter.ts";
import type { FailurePolicy, Logger } from "../core/settings.ts";
import type { MessageHandler } from "../core/message.ts";
import type { Ordering } from "../core/partition-scheduler.ts";
import { ConfigError } from "../core/errors.ts";
import { WORKER_DEFAULTS } from "../engines/worker/worker-engine.ts";

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
  /** Group session timeout: a member silent for this long is removed. Default 30000. */
  sessionTimeoutMs?: number;
  /** Time members get to rejoin during a rebalance (the guide's `max_poll_interval_ms`). Default 60000. */
  rebalanceTimeoutMs?: number;
  /** Heartbeat period. Default 3000. */
  heartbeatIntervalMs?: number;
  /** Longest wait of one fetch for new data; also how soon newly assigned partitions are fetched. Default 500. */
  fetchMaxWaitMs?: number;
  /**
   * Most bytes one fetch returns, over all partitions. Small fetches interleave partitions (so key
   * lanes of every partition fill the in-flight window) and keep decoded-but-unread data small.
   * Default 1 MiB.
   */
  fetchMaxBytes?: number;
  /**
   * Most bytes one fetch returns per partition. Default 16 KiB: each fetch then brings a few hundred
   * small messages of every partition, so key lanes of all partitions share the in-flight window
   * (measured: 5 ms I/O over 100 keys went from 53% to 91% of the Little bound). A larger record
   * still comes whole.
   */
  fetchMaxBytesPerPartition?: number;
  /** Static membership id: a restart within the session timeout keeps the assignment. */
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
   * Messages one worker holds at once. Default 4: its next messages wait beside the running one,
   * and results go back in groups. 1 queues the least behind a slow message.
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

/** Options of {@linkcode createParallelConsumer}. */
export interface ParallelConsumerOptions {
  kafka: KafkaOptions;
  /**
   * Processes one message; runs concurrently with others as `ordering` allows. Required with the
   * async engine; with the worker engine the handler lives in the worker module instead.
   */
  handler?: MessageHandler;
  /** `"key"` (default), `"partition"` or `"unordered"`. */
  ordering?: Ordering;
  /** Messages held at once, queued plus processing; fetching pauses at this limit. Default 1000. */
  maxInFlight?: number;
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
  /** Per attempt: the handler's `signal` aborts and the attempt fails after this long. */
  handlerTimeoutMs?: number;
  /** A running message that holds its partition's commit this long is failed (retry/DLQ path). Off by default. */
  maxBlockingMs?: number;
  /** Opt-in poison-key isolation (key ordering only). */
  poisonKey?: PoisonKeyOptions;
  /** How often completed progress is committed. Default 1000. */
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
  /** On a revoked partition, how long running work may finish before the final commit. Default 10000. */
  maxRevokeGraceMs?: number;
  /** A `stall` event and a log line fire when one offset blocks a partition's commit this long. Default 60000. */
  stallThresholdMs?: number;
  /** Receives the consumer's log lines (stalls; failures arrive as `error` events). Default: `console`. */
  logger?: Logger;
  /** Replaces the built-in `@platformatic/kafka` client, e.g. with another client library. */
  adapter?: KafkaAdapter;
}

/** Options with every default applied. */
export interface ResolvedOptions {
  readonly kafka: ResolvedKafkaOptions;
  readonly ordering: Ordering;
  readonly maxInFlight: number;
  readonly maxUncommittedOffsets: number;
  readonly engine: ResolvedEngine;
  readonly retry: Required<RetryOptions>;
  readonly failurePolicy: FailurePolicy;
  readonly deadLetter?: Required<DeadLetterOptions>;
  readonly handlerTimeoutMs?: number;
  readonly maxBlockingMs?: number;
  readonly poisonKey?: Required<PoisonKeyOptions>;
  readonly commitIntervalMs: number;
  readonly drainTimeoutMs: number;
  readonly maxInFlightBytes: number;
  readonly maxCommitMetadataBytes: number;
  readonly maxRevokeGraceMs: number;
  readonly stallThresholdMs: number;
  readonly logger: Logger;
  readonly adapter?: KafkaAdapter;
}

/** The engine to build, with defaults applied. */
export type ResolvedEngine =
  | { readonly kind: "async"; readonly concurrency: number; readonly handler: MessageHandler }
  | (Required<Omit<WorkerEngineOptions, "recycleAfterTasks">> & Pick<WorkerEngineOptions, "recycleAfterTasks">);

/** Kafka options with defaults applied. */
export type ResolvedKafkaOptions =
  & Required<Omit<KafkaOptions, "groupInstanceId" | "tls" | "sasl">>
  & Pick<KafkaOptions, "groupInstanceId" | "tls" | "sasl">;

/** Message for a strict object: an unknown key is most often a typo, so say which. */
const objectMessage = (field: string, shape: string) => (issue: v.StrictObjectIssue): string =>
  issue.expected === "never"
    ? `unknown option ${field ? `${field}.` : ""}${String(issue.input)}: check its spelling against the documented options`
    : `${field || "options"} must be an object ${shape}`;

const positiveIntSchema = (field: string) =>
  v.pipe(
    v.number(`${field} must be a number`),
    v.integer(`${field} must be a whole number`),
    v.minValue(1, `${field} must be at least 1`),
  );

const positiveInt = (field: string, fallback: number) => v.optional(positiveIntSchema(field), fallback);

const nonNegativeInt = (field: string, fallback: number) =>
  v.optional(
    v.pipe(
      v.number(`${field} must be a number`),
      v.integer(`${field} must be a whole number`),
      v.minValue(0, `${field} must be 0 or more`),
    ),
    fallback,
  );

const nonEmptyString = (field: string, hint: string) =>
  v.pipe(v.string(`${field} must be a string (${hint})`), v.nonEmpty(`${field} must not be empty (${hint})`));

const brokerAddress = v.pipe(
  v.string("each broker must be a string like \"127.0.0.1:9092\""),
  v.regex(/^[^\s:]+:\d{1,5}$/, "each broker must look like \"host:port\", e.g. \"127.0.0.1:9092\""),
);

const kafkaSchema = v.strictObject(
  {
    bootstrapBrokers: v.pipe(
      v.array(brokerAddress, "kafka.bootstrapBrokers must be an array of \"host:port\" strings"),
      v.minLength(1, "kafka.bootstrapBrokers needs at least one \"host:port\""),
    ),
    groupId: nonEmptyString("kafka.groupId", "name the consumer group"),
    topics: v.pipe(
      v.array(nonEmptyString("each topic", "a topic name"), "kafka.topics must be an array of topic names"),
      v.minLength(1, "kafka.topics needs at least one topic"),
    ),
    clientId: v.optional(nonEmptyString("kafka.clientId", "omit it for the default")),
    startFrom: v.optional(v.picklist(["earliest", "latest"], "kafka.startFrom must be \"earliest\" or \"latest\""), "earliest"),
    isolationLevel: v.optional(
      v.picklist(
        ["read_committed", "read_uncommitted"],
        "kafka.isolationLevel must be \"read_committed\" or \"read_uncommitted\"",
      ),
      "read_committed",
    ),
    sessionTimeoutMs: positiveInt("kafka.sessionTimeoutMs", 30_000),
    rebalanceTimeoutMs: positiveInt("kafka.rebalanceTimeoutMs", 60_000),
    heartbeatIntervalMs: positiveInt("kafka.heartbeatIntervalMs", 3_000),
    fetchMaxWaitMs: positiveInt("kafka.fetchMaxWaitMs", 500),
    fetchMaxBytes: positiveInt("kafka.fetchMaxBytes", 1024 * 1024),
    fetchMaxBytesPerPartition: positiveInt("kafka.fetchMaxBytesPerPartition", 16 * 1024),
    groupInstanceId: v.optional(nonEmptyString("kafka.groupInstanceId", "omit it for dynamic membership")),
    tls: v.optional(v.union([v.boolean(), v.looseObject({})], "kafka.tls must be true or an object like { ca, cert, key }")),
    sasl: v.optional(
      v.strictObject(
        {
          mechanism: v.picklist(
            ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"],
            "kafka.sasl.mechanism must be \"PLAIN\", \"SCRAM-SHA-256\", \"SCRAM-SHA-512\" or \"OAUTHBEARER\"",
          ),
          // Messages never echo credentials.
          username: v.optional(v.string("kafka.sasl.username must be a string")),
          password: v.optional(v.string("kafka.sasl.password must be a string")),
          token: v.optional(v.string("kafka.sasl.token must be a string")),
        },
        objectMessage("kafka.sasl", "like { mechanism: \"PLAIN\", username, password }"),
      ),
    ),
  },
  objectMessage("kafka", "with bootstrapBrokers, groupId and topics"),
);

const ADAPTER_METHODS = ["start", "pause", "resume", "commit", "fetchPositions", "publish", "close"] as const;

const optionsSchema = v.strictObject(
  {
    kafka: kafkaSchema,
    handler: v.optional(v.function("handler must be a function (message, context) => Promise<void>")),
    ordering: v.optional(
      v.picklist(["key", "partition", "unordered"], "ordering must be \"key\", \"partition\" or \"unordered\""),
      "key",
    ),
    maxInFlight: positiveInt("maxInFlight", 1000),
    maxUncommittedOffsets: positiveInt("maxUncommittedOffsets", 100_000),
    engine: v.optional(
      v.variant("kind", [
        v.strictObject(
          {
            kind: v.literal("async"),
            concurrency: positiveInt("engine.concurrency", 100),
          },
          objectMessage("engine", "like { kind: \"async\", concurrency: 100 }"),
        ),
        v.strictObject(
          {
            kind: v.literal("worker"),
            module: v.union(
              [nonEmptyString("engine.module", "the worker entry file"), v.instance(URL)],
              "engine.module must be the URL of a worker entry module, e.g. new URL(\"./worker.ts\", import.meta.url)",
            ),
            workers: v.optional(positiveIntSchema("engine.workers")),
            concurrencyPerWorker: positiveInt("engine.concurrencyPerWorker", WORKER_DEFAULTS.concurrencyPerWorker),
            maxBatchSize: positiveInt("engine.maxBatchSize", WORKER_DEFAULTS.maxBatchSize),
            recycleAfterTasks: v.optional(positiveIntSchema("engine.recycleAfterTasks")),
          },
          objectMessage("engine", "like { kind: \"worker\", module: new URL(\"./worker.ts\", import.meta.url) }"),
        ),
      ], "engine.kind must be \"async\" or \"worker\""),
      { kind: "async" },
    ),
    retry: v.optional(
      v.strictObject(
        {
          maxRetries: nonNegativeInt("retry.maxRetries", 3),
          initialBackoffMs: nonNegativeInt("retry.initialBackoffMs", 100),
          maxBackoffMs: nonNegativeInt("retry.maxBackoffMs", 10_000),
        },
        objectMessage("retry", "like { maxRetries: 3 }"),
      ),
      {},
    ),
    failurePolicy: v.optional(
      v.picklist(["deadLetter", "stop", "skip"], "failurePolicy must be \"deadLetter\", \"stop\" or \"skip\""),
    ),
    deadLetter: v.optional(
      v.strictObject(
        {
          topicSuffix: v.optional(nonEmptyString("deadLetter.topicSuffix", "e.g. \".dlq\""), ".dlq"),
          payload: v.optional(
            v.picklist(["full", "metadataOnly"], "deadLetter.payload must be \"full\" or \"metadataOnly\""),
            "full",
          ),
        },
        objectMessage("deadLetter", "like { topicSuffix: \".dlq\", payload: \"full\" }"),
      ),
    ),
    handlerTimeoutMs: v.optional(positiveIntSchema("handlerTimeoutMs")),
    maxBlockingMs: v.optional(positiveIntSchema("maxBlockingMs")),
    poisonKey: v.optional(
      v.strictObject(
        {
          maxFailures: positiveInt("poisonKey.maxFailures", 3),
          cooldownMs: positiveInt("poisonKey.cooldownMs", 60_000),
        },
        objectMessage("poisonKey", "like { maxFailures: 3, cooldownMs: 60000 }"),
      ),
    ),
    commitIntervalMs: positiveInt("commitIntervalMs", 1000),
    drainTimeoutMs: nonNegativeInt("drainTimeoutMs", 30_000),
    maxInFlightBytes: positiveInt("maxInFlightBytes", 64 * 1024 * 1024),
    maxCommitMetadataBytes: v.optional(
      v.pipe(
        v.number("maxCommitMetadataBytes must be a number"),
        v.integer("maxCommitMetadataBytes must be a whole number"),
        v.minValue(64, "maxCommitMetadataBytes must be at least 64 (set it to the broker's offset.metadata.max.bytes)"),
      ),
      4096,
    ),
    maxRevokeGraceMs: nonNegativeInt("maxRevokeGraceMs", 10_000),
    stallThresholdMs: positiveInt("stallThresholdMs", 60_000),
    logger: v.optional(v.custom<Logger>(
      (value) => typeof (value as Logger | null)?.warn === "function",
      "logger must have a warn(message) method, like console",
    )),
    adapter: v.optional(
      v.custom<KafkaAdapter>(isAdapter, `adapter must implement the KafkaAdapter methods ${ADAPTER_METHODS.join(", ")}`),
    ),
  },
  objectMessage("", "with kafka and handler"),
);

function isAdapter(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return ADAPTER_METHODS.every((name) => typeof candidate[name] === "function");
}

/**
 * Validates options and applies defaults.
 * @throws {ConfigError} naming every invalid field.
 */
export function resolveOptions(options: ParallelConsumerOptions): ResolvedOptions {
  const result = v.safeParse(optionsSchema, options, { abortEarly: false });
  if (!result.success) {
    throw new ConfigError(result.issues.map((issue) => {
      const path = v.getDotPath(issue);
      return path && !issue.message.includes(path) ? `${path}: ${issue.message}` : issue.message;
    }));
  }
  const { kafka, ...rest } = result.output;
  const failurePolicy = rest.failurePolicy ?? (rest.deadLetter ? "deadLetter" : "stop");
  if (rest.deadLetter && failurePolicy !== "deadLetter") {
    throw new ConfigError([`deadLetter is set but failurePolicy is "${failurePolicy}": remove one of them`]);
  }
  const timing: string[] = [];
  if (kafka.rebalanceTimeoutMs < kafka.sessionTimeoutMs) {
    timing.push(`kafka.rebalanceTimeoutMs (${kafka.rebalanceTimeoutMs}) must be at least kafka.sessionTimeoutMs (${kafka.sessionTimeoutMs})`);
  }
  if (kafka.heartbeatIntervalMs >= kafka.sessionTimeoutMs) {
    timing.push(`kafka.heartbeatIntervalMs (${kafka.heartbeatIntervalMs}) must be below kafka.sessionTimeoutMs (${kafka.sessionTimeoutMs}); a third of it is usual`);
  }
  if (timing.length > 0) throw new ConfigError(timing);
  if (rest.engine.kind === "async" && !options.handler) {
    throw new ConfigError(["handler is required with the async engine: (message, context) => Promise<void>"]);
  }
  if (rest.engine.kind === "worker" && options.handler) {
    throw new ConfigError([
      "handler is not used by the worker engine: its handler lives in engine.module (runWorker(handler)); remove handler",
    ]);
  }
  if (rest.poisonKey && rest.ordering !== "key") {
    throw new ConfigError([`poisonKey needs ordering "key" (it is "${rest.ordering}"): remove poisonKey or order by key`]);
  }
  return {
    ...rest,
    engine: rest.engine.kind === "async"
      ? { kind: "async", concurrency: rest.engine.concurrency ?? 100, handler: options.handler! }
      : {
        kind: "worker",
        module: rest.engine.module,
        workers: rest.engine.workers ?? availableCores(),
        concurrencyPerWorker: rest.engine.concurrencyPerWorker ?? WORKER_DEFAULTS.concurrencyPerWorker,
        maxBatchSize: rest.engine.maxBatchSize ?? WORKER_DEFAULTS.maxBatchSize,
        recycleAfterTasks: rest.engine.recycleAfterTasks,
      },
    logger: rest.logger ?? console,
    failurePolicy,
    deadLetter: failurePolicy === "deadLetter"
      ? { topicSuffix: rest.deadLetter?.topicSuffix ?? ".dlq", payload: rest.deadLetter?.payload ?? "full" }
      : undefined,
    poisonKey: rest.poisonKey
      ? { maxFailures: rest.poisonKey.maxFailures ?? 3, cooldownMs: rest.poisonKey.cooldownMs ?? 60_000 }
      : undefined,
    // Credentials and TLS material are taken as given, never copied into messages.
    kafka: {
      ...kafka,
      clientId: kafka.clientId ?? `pyrallel-${kafka.groupId}`,
      tls: options.kafka.tls,
      sasl: options.kafka.sasl,
    },
    retry: {
      maxRetries: rest.retry.maxRetries ?? 3,
      initialBackoffMs: rest.retry.initialBackoffMs ?? 100,
      maxBackoffMs: rest.retry.maxBackoffMs ?? 10_000,
    },
  };
}

/** CPU cores as the Web platform reports them (Node, Deno and Bun all have `navigator`). */
function availableCores(): number {
  return (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 2;
}
