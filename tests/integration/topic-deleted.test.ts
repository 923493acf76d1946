// A subscribed topic deleted while the group consumes several. The library fails a metadata request
// as a whole when one of its topics is missing, so the first leader lookup after the deletion
// failed the consumer (with an error naming the wrong topic), and the topics left were no longer
// consumed, under either protocol. Now the deleted topic's partitions are taken away (consumer
// protocol: by the coordinator; classic: the members' partition check rejoins without it), the
// other topics go on, and a topic created again under the same name is consumed from its start.
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
  waitForAsync,
  withAdmin,
  withTimeout,
} from "../support/kafka.ts";

const PARTITIONS = 2;
const records = (count: number): TestRecord[] =>
  Array.from({ length: count }, (_, i) => ({ key: `k${i % 5}`, value: `v${i}`, partition: i % PARTITIONS }));

for (const groupProtocol of ["consumer", "classic"] as const) {
  test(`${groupProtocol} protocol: a subscribed topic deleted while the group runs stops nothing else, and is consumed again once created again`, async () => {
    const kept = uniqueName("kept");
    const deleted = uniqueName("deleted");
    const groupId = uniqueName("group");
    await Promise.all([createTopic(kept, PARTITIONS), createTopic(deleted, PARTITIONS)]);
    const handled = new Map<string, number>();
    const errors: Error[] = [];
    const consumer = createParallelConsumer({
      kafka: {
        bootstrapBrokers: BROKERS,
        groupId,
        topics: [kept, deleted],
        groupProtocol,
        heartbeatIntervalMs: 200,
        metadataMaxAgeMs: 1000,
      },
      handler: (message) => void handled.set(message.topic, (handled.get(message.topic) ?? 0) + 1),
      commitIntervalMs: 100,
    });
    consumer.on("error", (error) => void errors.push(error));
    const committedTo = (topic: string, count: number) =>
      waitForAsync(`${topic} committed to ${count}`, async () => {
        const committed = await committedOffsets(groupId, topic, PARTITIONS);
        return committed.reduce((sum, offset) => sum + offset, 0n) === BigInt(count);
      }, 30_000);
    await consumer.start();
    try {
      await Promise.all([produce(kept, records(40)), produce(deleted, records(40))]);
      await Promise.all([committedTo(kept, 40), committedTo(deleted, 40)]);
      await withAdmin((admin) => admin.deleteTopics({ topics: [deleted] }));
      await produce(kept, records(40));
      await committedTo(kept, 80);
      await waitForAsync("the deleted topic's partitions given up", () => {
        const owned = consumer.getMetrics().partitions.map(({ topic }) => topic);
        return Promise.resolve(!owned.includes(deleted));
      }, 30_000);
      await createTopic(deleted, PARTITIONS);
      await produce(deleted, records(10));
      await committedTo(deleted, 10);
      assert.deepEqual(Object.fromEntries(handled), { [kept]: 80, [deleted]: 50 });
      assert.deepEqual(errors, []);
    } finally {
      await withTimeout("close", consumer.close());
    }
  });
}
