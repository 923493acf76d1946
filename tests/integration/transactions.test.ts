import assert from "node:assert/strict";
import { test } from "node:test";
import { Producer } from "@platformatic/kafka";
import { createParallelConsumer } from "../../mod.ts";
import { BROKERS, committedOffsets, createTopic, endOffsets, uniqueName, waitFor } from "../support/kafka.ts";

test("a topic written by a transactional producer commits to its end, past the transaction markers", async () => {
  const topic = uniqueName("tx");
  const groupId = uniqueName("group");
  await createTopic(topic, 1);
  const producer = new Producer({
    clientId: "pyrallel-tests-tx",
    bootstrapBrokers: BROKERS,
    idempotent: true,
    transactionalId: uniqueName("tx-id"),
  });
  try {
    for (let batch = 0; batch < 3; batch++) {
      const transaction = await producer.beginTransaction();
      await transaction.send({
        messages: Array.from({ length: 10 }, (_, i) => ({ topic, key: Buffer.from(`k${i}`), value: Buffer.from(`${batch}:${i}`) })),
      });
      await transaction.commit();
    }
  } finally {
    await producer.close();
  }
  const [end] = await endOffsets(topic, 1);
  assert.equal(end, 33n, "30 records and 3 commit markers");

  let processed = 0;
  const consumer = createParallelConsumer({
    kafka: { bootstrapBrokers: BROKERS, groupId, topics: [topic] },
    commitIntervalMs: 100,
    handler: () => {
      processed++;
    },
  });
  await consumer.start();
  await waitFor("30 records", () => processed === 30);
  await waitFor("the commit to reach the end offset", () => consumer.getMetrics().partitions[0]?.committedOffset === 33n, 10_000);
  await consumer.close();
  assert.deepEqual(await committedOffsets(groupId, topic, 1), [33n]);
  assert.equal(consumer.getMetrics().partitions[0]!.trueLag, 0);
});
