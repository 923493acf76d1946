// A topic that gains partitions while the group consumes it (kafka-topics --alter --partitions):
// the coordinator assigns the new ones, and they are consumed. The client lists offsets only for
// partitions its cached metadata knows, so their start offsets were never read and the new
// partitions were never fetched.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createParallelConsumer } from "../../mod.ts";
import {
  BROKERS,
  committedOffsets,
  createTopic,
  produce,
  type TestRecord,
  uniqueName,
  waitFor,
  waitForAsync,
  withAdmin,
  withTimeout,
} from "../support/kafka.ts";

const BEFORE = 1;
const AFTER = 3;
const PER_PARTITION = 20;

const records = (partitions: readonly number[]): TestRecord[] =>
  partitions.flatMap((partition) =>
    Array.from({ length: PER_PARTITION }, (_, i) => ({ key: `key-${i % 5}`, value: `v${i}`, partition }))
  );

test("consumer protocol: partitions a topic gains while the group runs are consumed", async () => {
  const topic = uniqueName("grows");
  const groupId = uniqueName("group");
  await createTopic(topic, BEFORE);
  await produce(topic, records([0]));
  const seen = new Set<string>();
  const consumer = createParallelConsumer({
    kafka: { bootstrapBrokers: BROKERS, groupId, topics: [topic], clientId: "it-grows", heartbeatIntervalMs: 200 },
    handler: (message) => void seen.add(`${message.partition}@${message.offset}`),
    commitIntervalMs: 100,
  });
  const errors: Error[] = [];
  consumer.on("error", (error) => void errors.push(error));
  await consumer.start();
  try {
    await waitFor("the first partition", () => seen.size === PER_PARTITION, 30_000);
    await withAdmin((admin) => admin.createPartitions({ topics: [{ name: topic, count: AFTER }] }));
    await produce(topic, records([1, 2]));
    await waitForAsync("the new partitions", async () => {
      const committed = await committedOffsets(groupId, topic, AFTER);
      return committed.every((offset) => offset === BigInt(PER_PARTITION));
    }, 60_000);
    assert.equal(seen.size, AFTER * PER_PARTITION, "every record of every partition, once");
    assert.deepEqual(
      consumer.getMetrics().partitions.map((p) => p.partition).sort(),
      [0, 1, 2],
      "it owns the new partitions",
    );
    assert.deepEqual(errors, []);
  } finally {
    await withTimeout("close", consumer.close());
  }
});
