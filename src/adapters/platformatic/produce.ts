// Publishing (dead letters) through the library's Producer, created on the first publish: most
// consumers never need one.
import { findErrorBy, type MessageToProduce } from "@platformatic/kafka";
import { type OutgoingRecord, RecordTooLargeError } from "../../core/ports/kafka-adapter.ts";
import { callMarked } from "./errors.ts";
import type { RecordProducer } from "./library.ts";

/** The broker's answers to a record (or request) larger than the topic (or broker) accepts. */
const TOO_LARGE = ["MESSAGE_TOO_LARGE", "RECORD_LIST_TOO_LARGE"];

/** A producer made on first use. */
export class LazyProducer {
  readonly #create: () => RecordProducer;
  #producer: RecordProducer | undefined;

  constructor(create: () => RecordProducer) {
    this.#create = create;
  }

  /** Publishes `records` (creating the producer first if needed); failures are marked retriable where it helps. */
  async produce(records: readonly OutgoingRecord[]): Promise<void> {
    const producer = this.#producer ??= this.#create();
    try {
      await callMarked(() => producer.send({ messages: records.map(toMessage) }));
    } catch (error) {
      if (!TOO_LARGE.some((id) => findErrorBy(error as Error, "apiId", id))) throw error;
      throw new RecordTooLargeError(`a record is larger than ${records[0]?.topic ?? "its topic"} accepts`, {
        cause: error,
      });
    }
  }

  /** Closes the producer if one was made; a later publish makes a new one. */
  async close(): Promise<void> {
    const producer = this.#producer;
    this.#producer = undefined;
    if (producer) await producer.close();
  }
}

/** A record as the library's message. */
function toMessage(record: OutgoingRecord): MessageToProduce<Buffer, Buffer, Buffer, Buffer> {
  return {
    topic: record.topic,
    ...(record.key === null ? {} : { key: Buffer.from(record.key) }),
    ...(record.value === null ? {} : { value: Buffer.from(record.value) }),
    // The client writes a missing header value as a null value. Each name is its own Buffer, so a
    // repeated name stays two entries of the map (keys compare by identity).
    headers: new Map(
      record.headers.map(([name, value]) => [Buffer.from(name), value === null ? undefined : Buffer.from(value)]),
    ) as Map<Buffer, Buffer>,
  };
}
