// Reads records back from the real broker, outside any consumer group, for assertions.
import { Consumer, MessagesStreamModes } from "@platformatic/kafka";
import { BROKERS, uniqueName } from "./kafka.ts";

export interface ReadRecord {
  partition: number;
  offset: bigint;
  key: string | null;
  value: string | null;
  timestamp: number;
  /** A header without a value reads as `null`; a repeated name keeps its last value. */
  headers: Map<string, string | null>;
  /** Every header in record order. */
  headerList: [string, string | null][];
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
          ...headersOf(message.headers),
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

/** The library reads each header name into its own Buffer: a repeated name is two entries. */
function headersOf(read: Map<Buffer, Buffer | null | undefined>): Pick<ReadRecord, "headers" | "headerList"> {
  const headerList = [...read].map(([name, value]): [string, string | null] => [
    name.toString(),
    value == null ? null : value.toString(),
  ]);
  return { headers: new Map(headerList), headerList };
}
