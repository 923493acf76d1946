import assert from "node:assert/strict";
import { test } from "node:test";
import { type ConsumerMessage, createParallelConsumer } from "../../mod.ts";
import { BROKERS, committedOffsets, createTopic, endOffsets, produce, uniqueName, waitFor } from "../support/kafka.ts";

const decoder = new TextDecoder();
const PARTITIONS = 4;
const KEYS = 100;
const MESSAGES = 10_000;

test("10,000 messages over 100 keys on 4 partitions: all processed once, per-key order, committed to the end", async () => {
  const topic = uniqueName("orders");
  const groupId = uniqueName("group");
  await createTopic(topic, PARTITIONS);
  await produce(
    topic,
    Array.from({ length: MESSAGES }, (_, seq) => ({ key: `key-${seq % KEYS}`, value: JSON.stringify({ seq }) })),
  );
  const ends = await endOffsets(topic, PARTITIONS);
  assert.equal(ends.reduce((sum, end) => sum + end, 0n), BigInt(MESSAGES));

  const processed = new Set<string>();
  const lastSeqByKey = new Map<string, number>();
  const running = new Set<string>();
  const violations: string[] = [];
  let concurrentPeak = 0;
  let sawPaused = false;

  const consumer = createParallelConsumer({
    kafka: { bootstrapBrokers: BROKERS, groupId, topics: [topic], clientId: "it-consume" },
    ordering: "key",
    // Below the key count: the window (one message per key at most) fills, and fetching pauses.
    maxInFlight: 60,
    engine: { kind: "async", concurrency: 50 },
    commitIntervalMs: 200,
    handler: async (message: ConsumerMessage) => {
      const key = decoder.decode(message.key!);
      const { seq } = JSON.parse(decoder.decode(message.value!)) as { seq: number };
      if (running.has(key)) violations.push(`key ${key} ran twice at once (seq ${seq})`);
      running.add(key);
      concurrentPeak = Math.max(concurrentPeak, running.size);
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
      const last = lastSeqByKey.get(key) ?? -1;
      if (seq <= last) violations.push(`key ${key}: seq ${seq} after ${last}`);
      lastSeqByKey.set(key, seq);
      processed.add(`${message.partition}:${message.offset}`);
      running.delete(key);
    },
  });

  const errors: Error[] = [];
  consumer.on("error", (error) => errors.push(error));
  const started = performance.now();
  await consumer.start();
  await waitFor("all messages processed", () => {
    sawPaused ||= consumer.getMetrics().isPaused;
    return processed.size >= MESSAGES;
  }, 120_000);
  const seconds = (performance.now() - started) / 1000;
  console.log(`  consumed ${MESSAGES} messages in ${seconds.toFixed(2)} s: ${(MESSAGES / seconds).toFixed(0)} msg/s`);
  await consumer.close();

  assert.deepEqual(errors.map((error) => `${error.message}: ${String(error.cause)}`), []);
  assert.deepEqual(violations, []);
  assert.equal(processed.size, MESSAGES);
  assert.ok(concurrentPeak > 1, "messages of different keys ran concurrently");
  assert.ok(sawPaused, "fetching paused at maxInFlight");
  assert.deepEqual(await committedOffsets(groupId, topic, PARTITIONS), ends);

  const metrics = consumer.getMetrics();
  assert.equal(metrics.totalInFlight, 0);
  assert.equal(metrics.partitions.length, PARTITIONS);
  for (const partition of metrics.partitions) {
    assert.equal(partition.trueLag, 0);
    assert.equal(partition.gapCount, 0);
    assert.equal(partition.blockingOffset, null);
    assert.equal(partition.committedOffset, ends[partition.partition]);
  }

  // A new member of the same group starts from the committed offsets: nothing runs again.
  let again = 0;
  const second = createParallelConsumer({
    kafka: { bootstrapBrokers: BROKERS, groupId, topics: [topic], clientId: "it-consume-2" },
    handler: () => {
      again++;
    },
  });
  await second.start();
  await waitFor("the second consumer's assignment", () => second.getMetrics().partitions.length === PARTITIONS);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await second.close();
  assert.equal(again, 0);
});
