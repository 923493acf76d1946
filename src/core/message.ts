/** One Kafka record as handed to the user's handler. Bytes are raw: decode them in the handler. */
export interface ConsumerMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
  /**
   * Header values by name; a value is `null` when the record carries a header without a value.
   * When a record repeats a header name, the last value is kept: {@link headerList} has them all.
   */
  readonly headers: ReadonlyMap<string, Uint8Array | null>;
  /**
   * Every header of the record in its order, repeated names included (Kafka allows them). The
   * consumer sets it on every message; it is optional only so that messages built by hand (in a
   * handler's tests) need not have it.
   */
  readonly headerList?: readonly MessageHeader[];
  /**
   * Record timestamp in milliseconds since the epoch: the producer's (CreateTime), or the broker's
   * append time on a topic with `message.timestamp.type=LogAppendTime`.
   */
  readonly timestamp: number;
}

/** One record header: its name and its value (`null` for a header without a value). */
export type MessageHeader = readonly [name: string, value: Uint8Array | null];

/** The headers of a record without any (most records): one shared map and list, both read-only. */
export const NO_HEADERS: ReadonlyMap<string, Uint8Array | null> = readOnlyEmptyMap();
export const NO_HEADER_LIST: readonly MessageHeader[] = Object.freeze([]);

/** An empty map that refuses changes: it is shared by many messages, so one handler must not fill it for all. */
function readOnlyEmptyMap(): ReadonlyMap<string, Uint8Array | null> {
  const map = new Map<string, Uint8Array | null>();
  const refuse = (): never => {
    throw new TypeError("message headers are read-only");
  };
  // Object.freeze alone does not stop Map#set (entries are internal slots): shadow the mutators too.
  Object.defineProperties(map, { set: { value: refuse }, delete: { value: refuse }, clear: { value: refuse } });
  return Object.freeze(map);
}

/** The last value of each name in `list` (record order): the shared empty map when there are none. */
export function headerMap(list: readonly MessageHeader[]): ReadonlyMap<string, Uint8Array | null> {
  if (list.length === 0) return NO_HEADERS;
  // A loop, not new Map(list): the constructor's iteration cost 10-20% more on every runtime.
  const map = new Map<string, Uint8Array | null>();
  for (let i = 0; i < list.length; i++) map.set(list[i]![0], list[i]![1]);
  return map;
}

/** The headers of `message` in record order: its {@link ConsumerMessage.headerList}, else its map's entries. */
export function headerListOf(message: ConsumerMessage): readonly MessageHeader[] {
  return message.headerList ?? [...message.headers];
}

/** What a handler receives beside the message. */
export interface HandlerContext {
  /** Aborted when the consumer gives up on this attempt (shutdown, revoked partition, timeout). */
  readonly signal: AbortSignal;
  /** 1 for the first attempt, 2 for the first retry, and so on. */
  readonly attempt: number;
  /**
   * Slows the whole consumer down for a while without failing this message, e.g. when a
   * downstream service answers 429 or 503: no new message starts for `ms` milliseconds (running
   * ones go on, this one included). A longer pause extends one in effect, a shorter one does not
   * shorten it. Shown as `startPauseReason: "handlerPause"` in the metrics.
   * @throws {TypeError} when `ms` is not a finite number of 0 or more.
   */
  pause(ms: number): void;
}

/** The user's processing function. A rejection counts as a failure and is retried. */
export type MessageHandler = (message: ConsumerMessage, context: HandlerContext) => Promise<void> | void;

/**
 * The user's batch processing function (`batchHandler`, or `runWorker({ batchHandler })`): one
 * call for up to `batch.maxMessages` messages, in place of one `MessageHandler` call each. Within
 * a batch the messages of one key (with `ordering: "key"`; of the partition with `"partition"`)
 * are consecutive and in offset order, and no key is in two running batches at once. A rejection
 * fails the whole batch: it is retried as a whole, then each of its messages takes the failure
 * policy on its own. `context.signal` aborts for the whole batch.
 */
export type BatchHandler = (
  messages: readonly ConsumerMessage[],
  context: HandlerContext,
) => Promise<void> | void;

/** What an engine runs: a handler of one message per call, or a batch handler (`{ batchHandler }`). */
export type EngineHandler = MessageHandler | { readonly batchHandler: BatchHandler };

/** A topic and one of its partitions. */
export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}
