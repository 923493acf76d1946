import type { ConsumerMessage } from "./message.ts";
import { describeThrown } from "./thrown.ts";

/** A message that failed all its attempts (or, with `attempts` 0, was failed without running: a cooling poison key). */
export class MessageFailedError extends Error {
  override readonly name = "MessageFailedError";
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly attempts: number;
  constructor(message: ConsumerMessage, attempts: number, cause: unknown) {
    const where = `${message.topic}[${message.partition}] at offset ${message.offset}`;
    super(
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

/** A message that ran longer than `maxBlockingMs` while holding its partition's commit. */
export class BlockedTooLongError extends Error {
  override readonly name = "BlockedTooLongError";
  constructor(maxBlockingMs: number) {
    super(`message blocked its partition's commit for more than maxBlockingMs (${maxBlockingMs} ms)`);
  }
}

/** A message of a key in poison-key cooldown: it takes the failure path without running. */
export class PoisonKeyError extends Error {
  override readonly name = "PoisonKeyError";
  constructor(cooldownMs: number) {
    super(`its key failed repeatedly and is cooling down (poisonKey.cooldownMs ${cooldownMs} ms)`);
  }
}

/**
 * The execution engine cannot run handlers (e.g. the worker module fails to load or its workers
 * keep dying before they are ready). The consumer stops; the messages it held were not attempted
 * and run after a restart.
 */
export class EngineFailedError extends Error {
  override readonly name = "EngineFailedError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Abort reason of attempts still running when `close()` stopped waiting for them. */
export class ConsumerClosedError extends Error {
  override readonly name = "ConsumerClosedError";
  constructor() {
    super("the consumer closed before this attempt finished");
  }
}

/** Abort reason of attempts still running when their partition's revoke grace ended. */
export class PartitionRevokedError extends Error {
  override readonly name = "PartitionRevokedError";
  readonly topic: string;
  readonly partition: number;
  constructor(topic: string, partition: number) {
    super(`partition ${topic}[${partition}] was revoked before this attempt finished`);
    this.topic = topic;
    this.partition = partition;
  }
}

/** Offsets the broker refused to commit for some partitions (the others were committed). */
export class CommitFailedError extends Error {
  override readonly name = "CommitFailedError";
  readonly partitions: readonly { readonly topic: string; readonly partition: number; readonly error: Error }[];
  constructor(partitions: readonly { readonly topic: string; readonly partition: number; readonly error: Error }[]) {
    super(
      `offset commit refused for ${partitions.map(({ topic, partition, error }) => `${topic}[${partition}] (${error.message})`).join(", ")}`,
    );
    this.partitions = partitions;
  }
}
