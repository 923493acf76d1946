// A topic that gains partitions while the group consumes it (kafka-topics --alter --partitions).
// Consumer protocol: the coordinator assigns the new ones; the client lists offsets only for
// partitions its cached metadata knows, so their start offsets were never read and they were never
// fetched. Classic protocol: nothing rebalanced the group, so they were never assigned; the members
// now read the partition counts every kafka.metadataMaxAgeMs and rejoin when a topic grew.
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

async function growWhileConsuming(groupProtocol: "consumer" | "classic", members: number): Promise<void> {
  const topic = uniqueName(`grows-${groupProtocol}`);
  const groupId = uniqueName("group");
  await createTopic(topic, BEFORE);
  await produce(topic, records([0]));
  const seen = new Set<string>();
  const errors: Error[] = [];
  const consumers = Array.from({ length: members }, (_, i) => {
    const consumer = createParallelConsumer({
      kafka: {
        bootstrapBrokers: BROKERS,
        groupId,
        topics: [topic],
        clientId: `it-grows-${i}`,
        groupProtocol,
        heartbeatIntervalMs: 200,
        metadataMaxAgeMs: 1000,
      },
      handler: (message) => void seen.add(`${message.partition}@${message.offset}`),
      commitIntervalMs: 100,
    });
    consumer.on("error", (error) => void errors.push(error));
    return consumer;
  });
  await Promise.all(consumers.map((consumer) => consumer.start()));
  try {
    await waitFor("the first partition", () => seen.size === PER_PARTITION, 30_000);
    await withAdmin((admin) => admin.createPartitions({ topics: [{ name: topic, count: AFTER }] }));
    await produce(topic, records([1, 2]));
    await waitForAsync("the new partitions", async () => {
      const committed = await committedOffsets(groupId, topic, AFTER);
      return committed.every((offset) => offset === BigInt(PER_PARTITION));
    }, 60_000);
    assert.equal(seen.size, AFTER * PER_PARTITION, "every record of every partition");
    const owned = consumers.flatMap((consumer) => consumer.getMetrics().partitions.map((p) => p.partition));
    assert.deepEqual(owned.sort(), [0, 1, 2], "the members own the new partitions");
    assert.deepEqual(errors, []);
  } finally {
    await Promise.all(consumers.map((consumer) => withTimeout("close", consumer.close())));
  }
}

test("consumer protocol: partitions a topic gains while the group runs are consumed", () =>
  growWhileConsuming("consumer", 1));

test("classic protocol: partitions a topic gains are assigned at the members' next partition check, and consumed", () =>
  growWhileConsuming("classic", 2));

// The library's own error names a topic of its metadata request by an index that is not always
// the missing one's: with one topic that exists and one that does not, it named the one that exists
// in 3 of 4 tries (both orders, both protocols), telling the user to create a topic they have.
for (const groupProtocol of ["consumer", "classic"] as const) {
  test(`${groupProtocol} protocol: a subscribed topic the cluster does not have fails start() at once, named, with the fix`, async () => {
    const present = uniqueName("present");
    await createTopic(present, 1);
    for (const missingFirst of [false, true]) {
      const missing = uniqueName("missing");
      const consumer = createParallelConsumer({
        kafka: {
          bootstrapBrokers: BROKERS,
          groupId: uniqueName("group"),
          topics: missingFirst ? [missing, present] : [present, missing],
          groupProtocol,
        },
        handler: () => {},
      });
      const started = performance.now();
      const error = await withTimeout("start() to fail", consumer.start().then(() => undefined, (e: Error) => e));
      const seconds = (performance.now() - started) / 1000;
      assert.ok(error instanceof Error, "start() rejected");
      assert.match(
        error.message,
        new RegExp(
          `the cluster has no topic "${missing}": create it before starting the consumer, or check kafka.topics`,
        ),
      );
      assert.ok(!error.message.includes(present), `names only the missing topic: ${error.message}`);
      assert.ok(seconds < 10, `failed fast (${seconds.toFixed(1)} s)`);
      await consumer.close();
    }
  });
}
