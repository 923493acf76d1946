import type {
  AsyncEngineOptions,
  BatchOptions,
  DeadLetterOptions,
  KafkaOptions,
  ParallelConsumerOptions,
  PoisonKeyOptions,
  RetryOptions,
  WorkerEngineOptions,
} from "./options.ts";

/** Top-level options that always get a value. */
type TopLevelDefaults =
  | "ordering"
  | "maxInFlight"
  | "maxUncommittedOffsets"
  | "maxBufferedBytes"
  | "commitIntervalMs"
  | "drainTimeoutMs"
  | "maxInFlightBytes"
  | "maxCommitMetadataBytes"
  | "maxRevokeGraceMs"
  | "stallThresholdMs";

/** Kafka options that always get a value (clientId is derived from groupId instead). */
type KafkaDefaults =
  | "groupProtocol"
  | "startFrom"
  | "isolationLevel"
  | "sessionTimeoutMs"
  | "rebalanceTimeoutMs"
  | "heartbeatIntervalMs"
  | "fetchMaxWaitMs"
  | "fetchMaxBytes"
  | "fetchMaxBytesPerPartition"
  | "checkCrcs"
  | "metadataMaxAgeMs";

/** The shape of {@linkcode DEFAULTS}: typed from the option interfaces, so a renamed option fails here. */
export interface Defaults extends Readonly<Required<Pick<ParallelConsumerOptions, TopLevelDefaults>>> {
  readonly kafka: Readonly<Required<Pick<KafkaOptions, KafkaDefaults>>>;
  /** The engine when `engine` is omitted, and the async engine's defaults. */
  readonly engine: Readonly<Required<AsyncEngineOptions>>;
  readonly workerEngine: Readonly<Required<Pick<WorkerEngineOptions, "concurrencyPerWorker" | "maxBatchSize">>> & {
    /** Pool size where the runtime does not report its CPU cores (otherwise one worker per core). */
    readonly workersWhenCoresUnknown: number;
  };
  readonly retry: Readonly<Required<RetryOptions>>;
  /** Applied when the failure policy is `"deadLetter"`. */
  readonly deadLetter: Readonly<Required<DeadLetterOptions>>;
  /** Applied when `poisonKey` is set. */
  readonly poisonKey: Readonly<Required<PoisonKeyOptions>>;
  /** Applied when the engine runs a batch handler. */
  readonly batch: Readonly<Required<BatchOptions>>;
  /** Applied when `rateLimit` is set: a bucket's default burst is this many seconds of its rate (at least 1). */
  readonly rateLimit: { readonly burstSeconds: number };
}

/**
 * Every option default, in one place: the schema applies them, the TSDoc of the options states them
 * (tests/unit/config-defaults.test.ts checks that the two agree), the benchmarks read them.
 */
export const DEFAULTS: Defaults = {
  kafka: {
    // The protocol with the revoke barrier: graceful hand-overs run nothing twice (Kafka 4.0+).
    groupProtocol: "consumer",
    startFrom: "earliest",
    // As librdkafka and the Java consumer with transactions: aborted records never reach a handler.
    isolationLevel: "read_committed",
    sessionTimeoutMs: 30_000,
    rebalanceTimeoutMs: 60_000,
    heartbeatIntervalMs: 3_000,
    fetchMaxWaitMs: 500,
    // Fairness comes from admission, not from small fetches (docs/intake.md), and each request costs
    // a round trip and a socket write. A partition is asked for its share of about 10,000 records and
    // of fetchMaxBytes (at least 64 KiB: fetcher.ts), this much at most: it bounds how far one
    // response can take a partition's buffer past its limits. 16 MiB rather than 1: 4 partitions of
    // 10 KB values come 1 MiB each instead of 256 KiB (no-op 1.4-1.8 times faster on Node); small
    // records are bounded by their count, not by this. 64 KiB against 16: 100-byte values ~40% faster.
    fetchMaxBytes: 16 * 1024 * 1024,
    fetchMaxBytesPerPartition: 1024 * 1024,
    // As librdkafka: the check costs 0.4-0.8 ns per byte here (Java's is a CPU instruction), up to a
    // quarter of the throughput on 10 KB values; corruption is caught on request.
    checkCrcs: false,
    // As Java's metadata.max.age.ms: a classic group sees a topic's new partitions within this.
    metadataMaxAgeMs: 300_000,
  },
  ordering: "key",
  maxInFlight: 1000,
  maxUncommittedOffsets: 100_000,
  // With `maxInFlight` messages per partition as the other bound: enough for every key of a
  // partition to have its next message at hand between two fetches, even with 10 KB values.
  maxBufferedBytes: 4 * 1024 * 1024,
  engine: { kind: "async", concurrency: 100 },
  workerEngine: {
    // The worker always has its next messages queued beside the running one.
    concurrencyPerWorker: 4,
    maxBatchSize: 64,
    workersWhenCoresUnknown: 2,
  },
  retry: { maxRetries: 3, initialBackoffMs: 100, maxBackoffMs: 10_000 },
  deadLetter: { topicSuffix: ".dlq", payload: "full" },
  poisonKey: { maxFailures: 3, cooldownMs: 60_000 },
  // Bulk writes of a hundred rows amortize a round trip; 10 ms bounds what waiting adds to latency.
  batch: { maxMessages: 100, maxWaitMs: 10 },
  // Smooth enough for a downstream service, and enough tokens that a late timer loses none.
  rateLimit: { burstSeconds: 0.1 },
  commitIntervalMs: 1000,
  drainTimeoutMs: 30_000,
  maxInFlightBytes: 64 * 1024 * 1024,
  // The broker's own default offset.metadata.max.bytes.
  maxCommitMetadataBytes: 4096,
  maxRevokeGraceMs: 10_000,
  stallThresholdMs: 60_000,
};
