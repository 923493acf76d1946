// A record batch corrupted on the broker's disk: one byte of a value is changed in the partition's
// log segment after the broker wrote it (the broker sends segments as they are on disk). With
// `checkCrcs: true` the consumer stops at that batch with an error naming topic, partition and
// offset, and no handler sees the batch or anything after it; without the check (the default) the
// changed value reaches the handler.
import assert from "node:assert/strict";
import { test } from "node:test";
import { closeSync, openSync, readFileSync, writeSync } from "node:fs";
import { type ConsumerMessage, createParallelConsumer } from "../../mod.ts";
import { brokerRunDir, BROKERS, createTopic, produce, uniqueName, waitFor } from "../support/kafka.ts";

const decoder = new TextDecoder();
/** Three sends of ten records: three batches, at offsets 0, 10 and 20. */
const SENDS = 3;
const PER_SEND = 10;

/** Changes the first byte of `value` where the broker stored it in partition 0's first segment. */
function corruptOnDisk(topic: string, value: string, replacement: string): void {
  const segment = `${brokerRunDir()}/data/${topic}-0/00000000000000000000.log`;
  const at = readFileSync(segment).indexOf(value);
  assert.ok(at >= 0, `"${value}" is in ${segment}`);
  const file = openSync(segment, "r+");
  try {
    writeSync(file, new TextEncoder().encode(replacement), 0, 1, at);
  } finally {
    closeSync(file);
  }
}

async function consume(topic: string, checkCrcs: boolean | undefined) {
  const seen: string[] = [];
  const errors: Error[] = [];
  const consumer = createParallelConsumer({
    kafka: {
      bootstrapBrokers: BROKERS,
      groupId: uniqueName("group"),
      topics: [topic],
      ...(checkCrcs === undefined ? {} : { checkCrcs }),
    },
    commitIntervalMs: 100,
    handler: (message: ConsumerMessage) => {
      seen.push(`${message.offset}:${decoder.decode(message.value!)}`);
    },
  });
  consumer.on("error", (error) => errors.push(error));
  await consumer.start();
  return { consumer, seen, errors };
}

test("with checkCrcs, a batch corrupted on the broker's disk stops the consumer at its offset; by default it is handed over", async () => {
  const topic = uniqueName("corrupt");
  await createTopic(topic, 1);
  for (let send = 0; send < SENDS; send++) {
    await produce(
      topic,
      Array.from({ length: PER_SEND }, (_, i) => {
        const seq = send * PER_SEND + i;
        return { key: `k${seq % 3}`, value: `value-${seq}-intact`, partition: 0 };
      }),
    );
  }
  corruptOnDisk(topic, "value-15-intact", "V");

  const checked = await consume(topic, true);
  try {
    await waitFor("the consumer to fail", () => checked.errors.length > 0, 30_000);
  } finally {
    await checked.consumer.close().catch(() => {});
  }
  const messages = checked.errors.map((error) => `${error.name}: ${error.message}`);
  assert.equal(messages.length, 1, messages.join("\n"));
  assert.match(
    messages[0]!,
    new RegExp(
      `^KafkaClientError: cannot read the records of ${topic}\\[0\\]: the record batch at offset 10 is corrupt: ` +
        "its CRC-32C is 0x[0-9a-f]{8}, it says 0x[0-9a-f]{8}$",
    ),
  );
  // The first batch may have run before the fetch that brought the corrupt one; nothing from it on.
  assert.ok(checked.seen.every((entry) => Number(entry.split(":")[0]) < 10), checked.seen.join(", "));

  const unchecked = await consume(topic, undefined);
  try {
    await waitFor("every record handled", () => unchecked.seen.length === SENDS * PER_SEND, 30_000);
  } finally {
    await unchecked.consumer.close();
  }
  assert.deepEqual(unchecked.errors, []);
  assert.ok(unchecked.seen.includes("15:Value-15-intact"), unchecked.seen.join(", "));
});
