// Publishing (dead letters) through the library's Producer, created on the first publish: most
// consumers never need one.
import type { MessageToProduce } from "@platformatic/kafka";
import type { OutgoingRecord } from "../../core/ports/kafka-adapter.ts";
import { callMarked } from "./errors.ts";
import type { RecordProducer } from "./library.ts";

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
    await callMarked(() => producer.send({ messages: records.map(toMessage) }));
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
    // The client writes a missing header value as a null value.
    headers: new Map(
      [...record.headers].map(([name, value]) => [Buffer.from(name), value === null ? undefined : Buffer.from(value)]),
    ) as Map<Buffer, Buffer>,
  };
}
