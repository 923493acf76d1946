import assert from "node:assert/strict";
import { test } from "node:test";
import { Producer } from "@platformatic/kafka";
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

// A message close to the broker's 1 MiB record limit (the source accepted it) makes a dead letter
// that is not: its value plus the provenance headers. The broker answered MESSAGE_TOO_LARGE at
// every try, the dead letter was retried for ever and the partition's commit held at that offset.
// Now such a letter goes without the message's payload, saying so.
test("a dead letter too large for its topic goes without the message's payload, and the partition commits on", async () => {
  const topic = uniqueName("big-letters");
  const groupId = uniqueName("group");
  await createTopic(topic, 1);
  const producer = new Producer({ clientId: "pyrallel-tests-big-letters", bootstrapBrokers: BROKERS });
  try {
    await producer.send({
      messages: [
        {
          topic,
          key: Buffer.from("big"),
          value: Buffer.alloc(1_048_400, 1),
          headers: new Map([[Buffer.from("h"), Buffer.from("v")]]),
        },
        { topic, key: Buffer.from("small"), value: Buffer.from("fine") },
      ],
    });
  } finally {
    await producer.close();
  }
  const failures: Error[] = [];
  const consumer = createParallelConsumer({
    kafka: { bootstrapBrokers: BROKERS, groupId, topics: [topic] },
    retry: { maxRetries: 0 },
    deadLetter: {},
    handler: (message) => {
      if (message.value!.length > 100) throw new Error("too big to handle");
    },
  });
  consumer.on("error", (error) => void failures.push(error));
  await consumer.start();
  try {
    await waitFor("the dead letter", () => consumer.getMetrics().deadLetteredTotal === 1, 30_000);
    await waitFor("committed past it", () => consumer.getMetrics().partitions[0]?.blockingOffset === null, 30_000);
  } finally {
    await consumer.close();
  }
  assert.deepEqual(await committedOffsets(groupId, topic, 1), [2n]);
  assert.deepEqual(failures.map((error) => error.name), ["MessageFailedError"], "no dead-letter failure reported");
  const [letter] = await readTopic(`${topic}.dlq`, 1);
  assert.equal(letter!.key, "big");
  assert.equal(letter!.value, null);
  assert.equal(letter!.headers.get("pyrallel.payload.omitted"), `too large for ${topic}.dlq`);
  assert.equal(letter!.headers.get("pyrallel.source.offset"), "0");
  assert.equal(letter!.headers.get("pyrallel.error.message"), "too big to handle");
  assert.equal(letter!.headers.has("h"), false, "the message's own headers went with its payload");
});
