// Reads records back from the real broker, outside any consumer group, for assertions.
import { Consumer, MessagesStreamModes } from "@platformatic/kafka";
import { BROKERS, uniqueName } from "./kafka.ts";

export interface ReadRecord {
  partition: number;
  offset: bigint;
  key: string | null;
  value: string | null;
  timestamp: number;
  /** A header without a value reads as `null`. */
  headers: Map<string, string | null>;
}

/** Reads `count` records of `topic` from the beginning, or fails after `timeoutMs`. */
export async function readTopic(
  topic: string,
  count: number,
  timeoutMs = 20_000,
  brokers: string[] = BROKERS,
): Promise<ReadRecord[]> {
  const records: ReadRecord[] = [];
  if (count === 0) return records;
  const consumer = new Consumer({
    clientId: "pyrallel-tests-reader",
    groupId: uniqueName("reader"),
    bootstrapBrokers: brokers,
  });
  try {
    const stream = await consumer.consume({ topics: [topic], mode: MessagesStreamModes.EARLIEST, autocommit: false });
    const timer = setTimeout(
      () => stream.destroy(new Error(`read ${records.length}/${count} records of ${topic} in ${timeoutMs} ms`)),
      timeoutMs,
    );
    try {
      for await (const message of stream) {
        records.push({
          partition: message.partition,
          offset: message.offset,
          key: message.key ? message.key.toString() : null,
          value: message.value ? message.value.toString() : null,
          timestamp: Number(message.timestamp),
          headers: new Map(
            [...message.headers].map(([name, value]) => [name.toString(), value == null ? null : value.toString()]),
          ),
        });
        if (records.length >= count) break;
      }
    } finally {
      clearTimeout(timer);
      await stream.close();
    }
  } finally {
    await consumer.close();
  }
  return records;
}
