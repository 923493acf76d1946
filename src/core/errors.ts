import type { ConsumerMessage } from "./message.ts";
import { describeThrown } from "./thrown.ts";

/**
 * What went wrong, as a stable string to branch on (messages may be reworded; codes are not).
 * Every error the consumer creates, emits or aborts an attempt with carries one.
 */
export type PyrallelErrorCode =
  | "PYRALLEL_CONFIG"
  | "PYRALLEL_MESSAGE_FAILED"
  | "PYRALLEL_HANDLER_TIMEOUT"
  | "PYRALLEL_BLOCKED_TOO_LONG"
  | "PYRALLEL_POISON_KEY"
  | "PYRALLEL_CONSUMER_CLOSED"
  | "PYRALLEL_PARTITION_REVOKED"
  | "PYRALLEL_WORKER_CRASHED"
  | "PYRALLEL_ENGINE_FAILED"
  | "PYRALLEL_COMMIT_FAILED"
  | "PYRALLEL_DEAD_LETTER_FAILED"
  | "PYRALLEL_KAFKA_CLIENT"
  | "PYRALLEL_LIFECYCLE";

/** Base class of every error of the consumer: `code` says which one it is. */
export class PyrallelError extends Error {
  readonly code: PyrallelErrorCode;
  constructor(code: PyrallelErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Thrown for invalid options; `issues` names each bad field and the fix. */
export class ConfigError extends PyrallelError {
  override readonly name = "ConfigError";
  /** One line per invalid field: the field, what is wrong and how to fix it. */
  readonly issues: readonly string[];
  constructor(issues: readonly string[]) {
    super("PYRALLEL_CONFIG", `invalid consumer options:\n  - ${issues.join("\n  - ")}`);
    this.issues = issues;
  }
}

/** A message that failed all its attempts (or, with `attempts` 0, was failed without running: a cooling poison key). */
export class MessageFailedError extends PyrallelError {
  override readonly name = "MessageFailedError";
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly attempts: number;
  constructor(message: ConsumerMessage, attempts: number, cause: unknown) {
    const where = `${message.topic}[${message.partition}] at offset ${message.offset}`;
    super(
      "PYRALLEL_MESSAGE_FAILED",
      attempts === 0
        ? `message ${where} was not run: ${describeThrown(cause)}`
        : `handler failed ${attempts} time(s) for ${where}`,
      { cause },
    );
    this.topic = message.topic;
    this.partition = message.partition;
    this.offset = message.offset;
    this.attempts = attempts;
  }
}

/** A handler attempt ran longer than `handlerTimeoutMs`; it counts as a failed attempt. */
export class HandlerTimeoutError extends PyrallelError {
  override readonly name = "HandlerTimeoutError";
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super("PYRALLEL_HANDLER_TIMEOUT", `handler did not finish within handlerTimeoutMs (${timeoutMs} ms)`);
    this.timeoutMs = timeoutMs;
  }
}

/** A message that ran longer than `maxBlockingMs` while holding its partition's commit. */
export class BlockedTooLongError extends PyrallelError {
  override readonly name = "BlockedTooLongError";
  readonly maxBlockingMs: number;
  constructor(maxBlockingMs: number) {
    super(
      "PYRALLEL_BLOCKED_TOO_LONG",
      `message blocked its partition's commit for more than maxBlockingMs (${maxBlockingMs} ms)`,
    );
    this.maxBlockingMs = maxBlockingMs;
  }
}

/** A message of a key in poison-key cooldown: it takes the failure path without running. */
export class PoisonKeyError extends PyrallelError {
  override readonly name = "PoisonKeyError";
  constructor(cooldownMs: number) {
    super(
      "PYRALLEL_POISON_KEY",
      `its key failed repeatedly and is cooling down (poisonKey.cooldownMs ${cooldownMs} ms)`,
    );
  }
}

/** Abort reason of attempts still running when `close()` stopped waiting for them. */
export class ConsumerClosedError extends PyrallelError {
  override readonly name = "ConsumerClosedError";
  constructor() {
    super("PYRALLEL_CONSUMER_CLOSED", "the consumer closed before this attempt finished");
  }
}

/** Abort reason of attempts still running when their partition's revoke grace ended. */
export class PartitionRevokedError extends PyrallelError {
  override readonly name = "PartitionRevokedError";
  readonly topic: string;
  readonly partition: number;
  constructor(topic: string, partition: number) {
    super("PYRALLEL_PARTITION_REVOKED", `partition ${topic}[${partition}] was revoked before this attempt finished`);
    this.topic = topic;
    this.partition = partition;
  }
}

/**
 * The worker running an attempt died (uncaught error, exit, or was terminated because another of
 * its messages timed out) before the attempt finished. The attempt counts as failed and is retried
 * like any other failure. A worker that dies before it is ready has run nothing: its messages wait
 * for another worker, or fail with {@linkcode EngineFailedError} when workers cannot start.
 */
export class WorkerCrashedError extends PyrallelError {
  override readonly name = "WorkerCrashedError";
  constructor(message: string, options?: { cause?: unknown }) {
    super("PYRALLEL_WORKER_CRASHED", message, options);
  }
}

/**
 * Why an attempt was given up on: the `reason` of the handler's `signal` is always one of these,
 * and its `code` tells them apart.
 */
export type AbortReason =
  | HandlerTimeoutError
  | BlockedTooLongError
  | ConsumerClosedError
  | PartitionRevokedError
  | WorkerCrashedError;

/**
 * The execution engine cannot run handlers (e.g. the worker module fails to load or its workers
 * keep dying before they are ready). The consumer stops; the messages it held were not attempted
 * and run after a restart.
 */
export class EngineFailedError extends PyrallelError {
  override readonly name = "EngineFailedError";
  constructor(message: string, options?: { cause?: unknown }) {
    super("PYRALLEL_ENGINE_FAILED", message, options);
  }
}

/** One partition whose commit the broker refused, and why. */
export interface RefusedCommit {
  readonly topic: string;
  readonly partition: number;
  readonly error: Error;
}

/**
 * An offset commit failed: the broker refused some partitions (`partitions`; the others were
 * committed), or the request failed as a whole (`partitions` empty, `cause` says why). Completed
 * work above the last commit may run again after a restart.
 */
export class CommitFailedError extends PyrallelError {
  override readonly name = "CommitFailedError";
  readonly partitions: readonly RefusedCommit[];
  constructor(partitions: readonly RefusedCommit[], options?: { cause?: unknown; context?: string }) {
    const what = partitions.length > 0
      ? `offset commit refused for ${
        partitions.map(({ topic, partition, error }) => `${topic}[${partition}] (${error.message})`).join(", ")
      }`
      : `the offset commit request failed (${describeThrown(options?.cause)})`;
    super("PYRALLEL_COMMIT_FAILED", options?.context ? `${options.context}: ${what}` : what, options);
    this.partitions = partitions;
  }
}

/** Publishing a dead letter failed; it is retried while the partition is owned. */
export class DeadLetterFailedError extends PyrallelError {
  override readonly name = "DeadLetterFailedError";
  /** The dead-letter topic. */
  readonly topic: string;
  constructor(topic: string, cause: unknown) {
    super("PYRALLEL_DEAD_LETTER_FAILED", `dead letter to ${topic} failed: ${describeThrown(cause)}`, { cause });
    this.topic = topic;
  }
}

/** The Kafka client failed (connection, group membership, fetch); `cause` is the client's error. */
export class KafkaClientError extends PyrallelError {
  override readonly name = "KafkaClientError";
  constructor(cause: Error) {
    super("PYRALLEL_KAFKA_CLIENT", cause.message, { cause });
  }
}

/** A lifecycle call out of turn: `start()` twice, or `close()` while `start()` ran. */
export class LifecycleError extends PyrallelError {
  override readonly name = "LifecycleError";
  constructor(message: string) {
    super("PYRALLEL_LIFECYCLE", message);
  }
}
