import type { ConsumerMessage } from "./message.ts";

/** A message that failed all its attempts. */
export class MessageFailedError extends Error {
  override readonly name = "MessageFailedError";
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly attempts: number;
  constructor(message: ConsumerMessage, attempts: number, cause: unknown) {
    super(
      `handler failed ${attempts} time(s) for ${message.topic}[${message.partition}] at offset ${message.offset}`,
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
    super(`its key failed repeatedly and is cooling down for ${cooldownMs} ms`);
  }
}
