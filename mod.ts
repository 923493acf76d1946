/**
 * Pyrallel Consumer: a parallel Kafka consumer that processes the messages of each partition
 * concurrently while keeping per-key order, commits only offsets below which everything is done,
 * and shows why a commit is stuck (true lag, gaps, blocking offset).
 *
 * @module
 */
export { createParallelConsumer, type ParallelConsumer } from "./src/consumer.ts";
export {
  type AsyncEngineOptions,
  type BatchOptions,
  type DeadLetterOptions,
  type EngineOptions,
  type KafkaOptions,
  type KeyRateLimitOptions,
  type ParallelConsumerOptions,
  type PoisonKeyOptions,
  type RateLimitOptions,
  type RetryOptions,
  type SaslOptions,
  type TlsOptions,
  type WorkerEngineOptions,
} from "./src/config/options.ts";
export type {
  BatchHandler,
  ConsumerMessage,
  HandlerContext,
  MessageHandler,
  MessageHeader,
  TopicPartition,
} from "./src/core/message.ts";
export type {
  ConsumerMetrics,
  PartitionMetrics,
  PartitionPauseReason,
  PauseReason,
  StartPauseReason,
} from "./src/core/metrics-snapshot.ts";
export type { HistogramSnapshot } from "./src/core/histogram.ts";
export type { Ordering } from "./src/core/partition-scheduler.ts";
export type { ConsumerEvents, StallEvent } from "./src/core/consumer-events.ts";
export {
  type AbortReason,
  BlockedTooLongError,
  CommitFailedError,
  ConfigError,
  ConsumerClosedError,
  DeadLetterFailedError,
  EngineFailedError,
  HandlerTimeoutError,
  KafkaClientError,
  LifecycleError,
  MessageFailedError,
  PartitionRevokedError,
  PoisonKeyError,
  PyrallelError,
  type PyrallelErrorCode,
  type RefusedCommit,
  WorkerCrashedError,
} from "./src/core/errors.ts";
export type { FailurePolicy, Logger } from "./src/core/settings.ts";
export type {
  AdapterListener,
  AssignedPartition,
  KafkaAdapter,
  OutgoingRecord,
  PartitionError,
  PartitionOffset,
  PartitionPosition,
} from "./src/core/ports/kafka-adapter.ts";
