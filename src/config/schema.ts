// The one validation of the options: field rules, cross-field rules and every default. Messages name
// the field and the fix, and never echo a value (the options hold credentials and TLS keys).
import * as v from "valibot";
import type { MessageHandler } from "../core/message.ts";
import type { KafkaAdapter } from "../core/ports/kafka-adapter.ts";
import type { Logger } from "../core/settings.ts";
import { adapterMessage, isAdapter } from "./adapter.ts";
import { cpuCores } from "../runtime.ts";
import { DEFAULTS } from "./defaults.ts";
import { rateLimitSchema } from "./rate-limit.ts";
import { batchHandlerSchema, batchSchema, HANDLER_RULES } from "./batch.ts";
import { brokerAddress, int, nonEmptyString, objectMessage, pem, topicName } from "./fields.ts";
import type { Expect, Same } from "./same-type.ts";
import type {
  AsyncEngineOptions,
  DeadLetterOptions,
  KafkaOptions,
  ParallelConsumerOptions,
  PoisonKeyOptions,
  ResolvedOptions,
  RetryOptions,
  SaslOptions,
  TlsOptions,
  WorkerEngineOptions,
} from "./options.ts";

const tlsSchema = v.strictObject(
  {
    ca: v.optional(
      v.union(
        [pem("kafka.tls.ca"), v.array(pem("kafka.tls.ca"))],
        "kafka.tls.ca must be PEM or bytes, or an array of them",
      ),
    ),
    cert: v.optional(pem("kafka.tls.cert")),
    key: v.optional(pem("kafka.tls.key")),
    passphrase: v.optional(v.string("kafka.tls.passphrase must be a string")),
    rejectUnauthorized: v.optional(v.boolean("kafka.tls.rejectUnauthorized must be true or false")),
    servername: v.optional(nonEmptyString("kafka.tls.servername", "the name the certificate is for")),
  },
  objectMessage("kafka.tls", "true or an object like { ca, cert, key }"),
);

const saslSchema = v.strictObject(
  {
    mechanism: v.picklist(
      ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"],
      'kafka.sasl.mechanism must be "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512" or "OAUTHBEARER"',
    ),
    username: v.optional(v.string("kafka.sasl.username must be a string")),
    password: v.optional(v.string("kafka.sasl.password must be a string")),
    token: v.optional(v.string("kafka.sasl.token must be a string")),
  },
  objectMessage("kafka.sasl", 'an object like { mechanism: "PLAIN", username, password }'),
);

const kafkaDefaults = DEFAULTS.kafka;
const kafkaSchema = v.strictObject(
  {
    bootstrapBrokers: v.pipe(
      v.array(brokerAddress, 'kafka.bootstrapBrokers must be an array of "host:port" strings'),
      v.minLength(1, 'kafka.bootstrapBrokers needs at least one "host:port"'),
    ),
    groupId: nonEmptyString("kafka.groupId", "name the consumer group"),
    topics: v.pipe(
      v.array(topicName, "kafka.topics must be an array of topic names"),
      v.minLength(1, "kafka.topics needs at least one topic"),
    ),
    // Derived from groupId when omitted (see derive).
    clientId: v.optional(nonEmptyString("kafka.clientId", "omit it for the default")),
    groupProtocol: v.optional(
      v.picklist(
        ["consumer", "classic"],
        'kafka.groupProtocol must be "consumer" (Kafka 4.0+) or "classic"',
      ),
      kafkaDefaults.groupProtocol,
    ),
    startFrom: v.optional(
      v.picklist(["earliest", "latest"], 'kafka.startFrom must be "earliest" or "latest"'),
      kafkaDefaults.startFrom,
    ),
    isolationLevel: v.optional(
      v.picklist(
        ["read_committed", "read_uncommitted"],
        'kafka.isolationLevel must be "read_committed" or "read_uncommitted"',
      ),
      kafkaDefaults.isolationLevel,
    ),
    sessionTimeoutMs: v.optional(int("kafka.sessionTimeoutMs", 1), kafkaDefaults.sessionTimeoutMs),
    rebalanceTimeoutMs: v.optional(int("kafka.rebalanceTimeoutMs", 1), kafkaDefaults.rebalanceTimeoutMs),
    heartbeatIntervalMs: v.optional(int("kafka.heartbeatIntervalMs", 1), kafkaDefaults.heartbeatIntervalMs),
    fetchMaxWaitMs: v.optional(int("kafka.fetchMaxWaitMs", 1), kafkaDefaults.fetchMaxWaitMs),
    metadataMaxAgeMs: v.optional(int("kafka.metadataMaxAgeMs", 1), kafkaDefaults.metadataMaxAgeMs),
    fetchMaxBytes: v.optional(int("kafka.fetchMaxBytes", 1), kafkaDefaults.fetchMaxBytes),
    fetchMaxBytesPerPartition: v.optional(
      int("kafka.fetchMaxBytesPerPartition", 1),
      kafkaDefaults.fetchMaxBytesPerPartition,
    ),
    checkCrcs: v.optional(v.boolean("kafka.checkCrcs must be true or false"), kafkaDefaults.checkCrcs),
    groupInstanceId: v.optional(nonEmptyString("kafka.groupInstanceId", "omit it for dynamic membership")),
    // Chosen by type, so an object's own field issues are reported rather than one union message.
    tls: v.optional(v.lazy((input) => typeof input === "boolean" ? v.boolean() : tlsSchema)),
    sasl: v.optional(saslSchema),
  },
  objectMessage("kafka", "an object with bootstrapBrokers, groupId and topics"),
);

const asyncEngineSchema = v.strictObject(
  {
    kind: v.literal("async"),
    concurrency: v.optional(int("engine.concurrency", 1), DEFAULTS.engine.concurrency),
  },
  objectMessage("engine", 'an object like { kind: "async", concurrency }'),
);

const workerEngineSchema = v.strictObject(
  {
    kind: v.literal("worker"),
    module: v.union(
      [nonEmptyString("engine.module", "the worker entry file"), v.instance(URL)],
      'engine.module must be the URL of a worker entry module, e.g. new URL("./worker.ts", import.meta.url)',
    ),
    workers: v.optional(int("engine.workers", 1), availableCores),
    concurrencyPerWorker: v.optional(int("engine.concurrencyPerWorker", 1), DEFAULTS.workerEngine.concurrencyPerWorker),
    maxBatchSize: v.optional(int("engine.maxBatchSize", 1), DEFAULTS.workerEngine.maxBatchSize),
    recycleAfterTasks: v.optional(int("engine.recycleAfterTasks", 1)),
  },
  objectMessage("engine", 'an object like { kind: "worker", module: new URL("./worker.ts", import.meta.url) }'),
);

const retrySchema = v.strictObject(
  {
    maxRetries: v.optional(int("retry.maxRetries", 0), DEFAULTS.retry.maxRetries),
    initialBackoffMs: v.optional(int("retry.initialBackoffMs", 0), DEFAULTS.retry.initialBackoffMs),
    maxBackoffMs: v.optional(int("retry.maxBackoffMs", 0), DEFAULTS.retry.maxBackoffMs),
  },
  objectMessage("retry", "an object like { maxRetries, initialBackoffMs, maxBackoffMs }"),
);

const deadLetterSchema = v.strictObject(
  {
    topicSuffix: v.optional(
      v.pipe(
        nonEmptyString("deadLetter.topicSuffix", "appended to the source topic's name"),
        v.regex(
          /^[a-zA-Z0-9._-]+$/,
          "deadLetter.topicSuffix may hold only the characters of a Kafka topic name: a-z A-Z 0-9 . _ -",
        ),
      ),
      DEFAULTS.deadLetter.topicSuffix,
    ),
    payload: v.optional(
      v.picklist(["full", "metadataOnly"], 'deadLetter.payload must be "full" or "metadataOnly"'),
      DEFAULTS.deadLetter.payload,
    ),
  },
  objectMessage("deadLetter", "an object like { topicSuffix, payload }"),
);

const poisonKeySchema = v.strictObject(
  {
    maxFailures: v.optional(int("poisonKey.maxFailures", 1), DEFAULTS.poisonKey.maxFailures),
    cooldownMs: v.optional(int("poisonKey.cooldownMs", 1), DEFAULTS.poisonKey.cooldownMs),
  },
  objectMessage("poisonKey", "an object like { maxFailures, cooldownMs }"),
);

const fieldsSchema = v.strictObject(
  {
    kafka: kafkaSchema,
    handler: v.optional(v.custom<MessageHandler>(
      (value) => typeof value === "function",
      "handler must be a function (message, context) => Promise<void>",
    )),
    batchHandler: v.optional(batchHandlerSchema),
    // Defaulted in derive: the handler rules tell a given `batch` from none.
    batch: v.optional(batchSchema),
    ordering: v.optional(
      v.picklist(["key", "partition", "unordered"], 'ordering must be "key", "partition" or "unordered"'),
      DEFAULTS.ordering,
    ),
    maxInFlight: v.optional(int("maxInFlight", 1), DEFAULTS.maxInFlight),
    maxUncommittedOffsets: v.optional(int("maxUncommittedOffsets", 1), DEFAULTS.maxUncommittedOffsets),
    maxBufferedBytes: v.optional(int("maxBufferedBytes", 1), DEFAULTS.maxBufferedBytes),
    engine: v.optional(
      v.variant("kind", [asyncEngineSchema, workerEngineSchema], 'engine.kind must be "async" or "worker"'),
      DEFAULTS.engine,
    ),
    retry: v.optional(retrySchema, {}),
    // Derived from deadLetter when omitted (see derive).
    failurePolicy: v.optional(
      v.picklist(["deadLetter", "stop", "skip"], 'failurePolicy must be "deadLetter", "stop" or "skip"'),
    ),
    deadLetter: v.optional(deadLetterSchema),
    handlerTimeoutMs: v.optional(int("handlerTimeoutMs", 1)),
    maxBlockingMs: v.optional(int("maxBlockingMs", 1)),
    poisonKey: v.optional(poisonKeySchema),
    rateLimit: v.optional(rateLimitSchema),
    commitIntervalMs: v.optional(int("commitIntervalMs", 1), DEFAULTS.commitIntervalMs),
    drainTimeoutMs: v.optional(int("drainTimeoutMs", 0), DEFAULTS.drainTimeoutMs),
    maxInFlightBytes: v.optional(int("maxInFlightBytes", 1), DEFAULTS.maxInFlightBytes),
    maxCommitMetadataBytes: v.optional(
      int("maxCommitMetadataBytes", 64, " (set it to the broker's offset.metadata.max.bytes)"),
      DEFAULTS.maxCommitMetadataBytes,
    ),
    maxRevokeGraceMs: v.optional(int("maxRevokeGraceMs", 0), DEFAULTS.maxRevokeGraceMs),
    stallThresholdMs: v.optional(int("stallThresholdMs", 1), DEFAULTS.stallThresholdMs),
    logger: v.optional(
      v.custom<Logger>(
        (value) => typeof (value as Partial<Logger> | null)?.warn === "function",
        "logger must have a warn(message) method, like console",
      ),
      () => console,
    ),
    adapter: v.optional(v.custom<KafkaAdapter>(isAdapter, (issue) => adapterMessage(issue.input))),
  },
  objectMessage("", "an object with kafka and handler"),
);

/**
 * Validates and resolves options. Cross-field rules run on the fields they read once those are valid
 * (abortEarly off), so one ConfigError lists field and cross-field problems together; the final
 * transform runs only on valid options.
 */
export const optionsSchema: v.GenericSchema<ParallelConsumerOptions, ResolvedOptions> = v.pipe(
  fieldsSchema,
  v.forward(
    v.partialCheck(
      [["deadLetter"], ["failurePolicy"]],
      ({ deadLetter, failurePolicy }) => !deadLetter || !failurePolicy || failurePolicy === "deadLetter",
      ({ input }) => `deadLetter is set but failurePolicy is "${input.failurePolicy}": remove one of them`,
    ),
    ["failurePolicy"],
  ),
  v.forward(
    v.partialCheck(
      [["kafka", "sessionTimeoutMs"], ["kafka", "rebalanceTimeoutMs"]],
      ({ kafka }) => kafka.rebalanceTimeoutMs >= kafka.sessionTimeoutMs,
      ({ input: { kafka } }) =>
        `kafka.rebalanceTimeoutMs (${kafka.rebalanceTimeoutMs}) must be at least ` +
        `kafka.sessionTimeoutMs (${kafka.sessionTimeoutMs})`,
    ),
    ["kafka", "rebalanceTimeoutMs"],
  ),
  v.forward(
    v.partialCheck(
      [["kafka", "sessionTimeoutMs"], ["kafka", "heartbeatIntervalMs"]],
      ({ kafka }) => kafka.heartbeatIntervalMs < kafka.sessionTimeoutMs,
      ({ input: { kafka } }) =>
        `kafka.heartbeatIntervalMs (${kafka.heartbeatIntervalMs}) must be below ` +
        `kafka.sessionTimeoutMs (${kafka.sessionTimeoutMs}); a third of it is usual`,
    ),
    ["kafka", "heartbeatIntervalMs"],
  ),
  v.forward(handlerRule(0), [HANDLER_RULES[0]!.field]),
  v.forward(handlerRule(1), [HANDLER_RULES[1]!.field]),
  v.forward(handlerRule(2), [HANDLER_RULES[2]!.field]),
  v.forward(handlerRule(3), [HANDLER_RULES[3]!.field]),
  v.forward(handlerRule(4), [HANDLER_RULES[4]!.field]),
  v.forward(
    v.partialCheck(
      [["poisonKey"], ["ordering"]],
      ({ poisonKey, ordering }) => !poisonKey || ordering === "key",
      ({ input }) => `poisonKey needs ordering "key" (it is "${input.ordering}"): remove poisonKey or order by key`,
    ),
    ["poisonKey"],
  ),
  v.transform(derive),
);

/** The defaults that depend on other fields. Runs only on options that passed every check above. */
function derive(fields: v.InferOutput<typeof fieldsSchema>): ResolvedOptions {
  const { kafka, handler, batchHandler, batch, engine, failurePolicy, deadLetter, ...rest } = fields;
  const policy = failurePolicy ?? (deadLetter ? "deadLetter" : "stop");
  return {
    ...rest,
    kafka: { ...kafka, clientId: kafka.clientId ?? `pyrallel-${kafka.groupId}` },
    // The handler rules above refused the async engine without exactly one handler.
    engine: engine.kind !== "async"
      ? engine
      : batchHandler
      ? { ...engine, batchHandler }
      : { ...engine, handler: handler! },
    batch: batch ?? { ...DEFAULTS.batch },
    failurePolicy: policy,
    deadLetter: policy === "deadLetter" ? deadLetter ?? { ...DEFAULTS.deadLetter } : undefined,
  };
}

/** The check of HANDLER_RULES[index], on the fields it reads. */
function handlerRule(index: number) {
  const rule = HANDLER_RULES[index]!;
  type Fields = v.InferOutput<typeof fieldsSchema>;
  return v.partialCheck<Fields, [["engine", "kind"], ["handler"], ["batchHandler"], ["batch"]], Fields, string>(
    [["engine", "kind"], ["handler"], ["batchHandler"], ["batch"]],
    rule.holds,
    rule.message,
  );
}

/** One worker per CPU core. */
function availableCores(): number {
  return cpuCores() ?? DEFAULTS.workerEngine.workersWhenCoresUnknown;
}

/**
 * Compile-time drift check: each schema accepts exactly its hand-written option type (an option
 * added, removed or retyped on one side only fails the entry that names it).
 */
type SchemasMatchOptions = [
  Expect<Same<v.InferInput<typeof tlsSchema>, TlsOptions>>,
  Expect<Same<v.InferInput<typeof saslSchema>, SaslOptions>>,
  Expect<Same<v.InferInput<typeof kafkaSchema>, KafkaOptions>>,
  Expect<Same<v.InferInput<typeof asyncEngineSchema>, AsyncEngineOptions>>,
  Expect<Same<v.InferInput<typeof workerEngineSchema>, WorkerEngineOptions>>,
  Expect<Same<v.InferInput<typeof retrySchema>, RetryOptions>>,
  Expect<Same<v.InferInput<typeof deadLetterSchema>, DeadLetterOptions>>,
  Expect<Same<v.InferInput<typeof poisonKeySchema>, PoisonKeyOptions>>,
  Expect<Same<v.InferInput<typeof fieldsSchema>, ParallelConsumerOptions>>,
];
