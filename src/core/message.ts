/** One Kafka record as handed to the user's handler. Bytes are raw: decode them in the handler. */
export interface ConsumerMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
  /**
   * Header values by name; a value is `null` when the record carries a header without a value.
   * When a record repeats a header name, the last value is kept.
   */
  readonly headers: ReadonlyMap<string, Uint8Array | null>;
  /** Record timestamp in milliseconds since the epoch. */
  readonly timestamp: number;
}

/** What a handler receives beside the message. */
export interface HandlerContext {
  /** Aborted when the consumer gives up on this attempt (shutdown, revoked partition, timeout). */
  readonly signal: AbortSignal;
  /** 1 for the first attempt, 2 for the first retry, and so on. */
  readonly attempt: number;
}

/** The user's processing function. A rejection counts as a failure and is retried. */
export type MessageHandler = (message: ConsumerMessage, context: HandlerContext) => Promise<void> | void;

/** A topic and one of its partitions. */
export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}
