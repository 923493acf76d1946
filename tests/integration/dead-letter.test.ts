import assert from "node:assert/strict";
import { test } from "node:test";
import { createParallelConsumer } from "../../mod.ts";
import { BROKERS, committedOffsets, createTopic, endOffsets, produce, uniqueName, waitFor } from "../support/kafka.ts";
import { readTopic } from "../support/read-topic.ts";

const decoder = new TextDecoder();

test("a poison message lands in <topic>.dlq with provenance headers; other keys keep flowing; offsets commit to the end", async () => {
  const topic = uniqueName("payments");
  const groupId = uniqueName("group");
  await createTopic(topic, 2);
  await createTopic(`${topic}.dlq`, 1);
  const records = Array.from({ length: 200 }, (_, i) => ({
    key: i === 57 ? "poison" : `key-${i % 10}`,
    value: i === 57 ? "not json" : JSON.stringify({ amount: i }),
  }));
  await produce(topic, records);
  const ends = await endOffsets(topic, 2);

  let processed = 0;
  const consumer = createParallelConsumer({
    kafka: { bootstrapBrokers: BROKERS, groupId, topics: [topic] },
    retry: { maxRetries: 2, initialBackoffMs: 10 },
    deadLetter: {},
    logger: { warn: () => {} },
    handler: (message) => {
      JSON.parse(decoder.decode(message.value!));
      processed++;
    },
  });
  const failures: Error[] = [];
  consumer.on("error", (error) => failures.push(error));
  await consumer.start();
  await waitFor(
    "199 good messages and one dead letter",
    () => processed === 199 && consumer.getMetrics().deadLetteredTotal === 1,
  );
  await consumer.close();

  assert.deepEqual(await committedOffsets(groupId, topic, 2), ends);
  assert.equal(failures.length, 1);
  const [letter] = await readTopic(`${topic}.dlq`, 1);
  assert.equal(letter!.key, "poison");
  assert.equal(letter!.value, "not json");
  assert.equal(letter!.headers.get("pyrallel.source.topic"), topic);
  assert.equal(letter!.headers.get("pyrallel.source.key"), "poison");
  assert.equal(letter!.headers.get("pyrallel.attempts"), "3");
  assert.equal(letter!.headers.get("pyrallel.error.name"), "SyntaxError");
  assert.ok(letter!.headers.get("pyrallel.error.message")!.length > 0);
  const partition = Number(letter!.headers.get("pyrallel.source.partition"));
  const offset = BigInt(letter!.headers.get("pyrallel.source.offset")!);
  assert.ok(partition === 0 || partition === 1);
  assert.ok(offset >= 0n && offset < ends[partition]!);
});
