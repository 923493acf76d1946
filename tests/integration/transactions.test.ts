import assert from "node:assert/strict";
import { test } from "node:test";
import { Producer } from "@platformatic/kafka";
import { createParallelConsumer } from "../../mod.ts";
import {
  BROKERS,
  committedOffsets,
  createTopic,
  endOffsets,
  sleep,
  uniqueName,
  waitFor,
  waitForAsync,
  withAdmin,
} from "../support/kafka.ts";

/**
 * Partition 0's end offset once it reached `expected`: a transaction's commit or abort returns once
 * the coordinator decided, and the partition's marker is written just after.
 */
async function endOnceMarked(topic: string, expected: bigint): Promise<bigint> {
  let end = 0n;
  await waitForAsync(`the end offset ${expected}`, async () => {
    end = (await endOffsets(topic, 1))[0]!;
    return end >= expected;
  }, 10_000);
  return end;
}

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
        messages: Array.from(
          { length: 10 },
          (_, i) => ({ topic, key: Buffer.from(`k${i}`), value: Buffer.from(`${batch}:${i}`) }),
        ),
      });
      await transaction.commit();
    }
  } finally {
    await producer.close();
  }
  assert.equal(await endOnceMarked(topic, 33n), 33n, "30 records and 3 commit markers");

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
  await waitFor(
    "the commit to reach the end offset",
    () => consumer.getMetrics().partitions[0]?.committedOffset === 33n,
    10_000,
  );
  await consumer.close();
  assert.deepEqual(await committedOffsets(groupId, topic, 1), [33n]);
  assert.equal(consumer.getMetrics().partitions[0]!.trueLag, 0);
});

const text = (bytes: Uint8Array | null) => (bytes === null ? "" : new TextDecoder().decode(bytes));

/** A transactional producer; `run` writes one transaction's records and ends it. */
function transactional(name: string) {
  const producer = new Producer({
    clientId: `pyrallel-tests-${name}`,
    bootstrapBrokers: BROKERS,
    idempotent: true,
    transactionalId: uniqueName(`tx-${name}`),
  });
  return {
    producer,
    async run(topic: string, records: { partition: number; value: string }[], end: "commit" | "abort" | "open") {
      const transaction = await producer.beginTransaction();
      await transaction.send({
        messages: records.map(({ partition, value }) => ({
          topic,
          partition,
          key: Buffer.from(value.split(":")[0]!),
          value: Buffer.from(value),
        })),
      });
      if (end === "commit") await transaction.commit();
      if (end === "abort") await transaction.abort();
      return transaction;
    },
  };
}

async function consumeAll(
  topic: string,
  expected: number,
  isolationLevel?: "read_committed" | "read_uncommitted",
  groupId = uniqueName("group"),
) {
  const seen: string[] = [];
  const consumer = createParallelConsumer({
    kafka: { bootstrapBrokers: BROKERS, groupId, topics: [topic], ...(isolationLevel ? { isolationLevel } : {}) },
    commitIntervalMs: 100,
    handler: (message) => {
      seen.push(text(message.value));
    },
  });
  await consumer.start();
  return { consumer, seen, groupId, done: () => waitFor(`${expected} records`, () => seen.length >= expected, 30_000) };
}

// Defect 2: @platformatic/kafka 2.12.1 filters only the last of several transactions one producer
// aborted within one fetch: 190 records of 150 reached the handler.
test("read_committed: records of aborted transactions never reach the handler, with several producers interleaved", async () => {
  const topic = uniqueName("tx-aborts");
  await createTopic(topic, 2);
  const a = transactional("a");
  const b = transactional("b");
  const committed = new Set<string>();
  try {
    for (let i = 0; i < 20; i++) {
      // A writes to both partitions, B to partition 1; every fourth of A's and every third of B's abort.
      const recordsA = Array.from({ length: 10 }, (_, r) => ({ partition: r % 2, value: `a${i}:${r}` }));
      const recordsB = Array.from({ length: 4 }, (_, r) => ({ partition: 1, value: `b${i}:${r}` }));
      const endA = i % 4 === 3 ? "abort" : "commit";
      const endB = i % 3 === 2 ? "abort" : "commit";
      await a.run(topic, recordsA, endA);
      await b.run(topic, recordsB, endB);
      if (endA === "commit") { for (const { value } of recordsA) committed.add(value); }
      if (endB === "commit") { for (const { value } of recordsB) committed.add(value); }
    }
  } finally {
    await a.producer.close();
    await b.producer.close();
  }
  assert.equal(committed.size, 150 + 56);
  const { consumer, seen, groupId, done } = await consumeAll(topic, committed.size);
  await done();
  const ends = await endOffsets(topic, 2);
  await waitFor(
    "the commits to reach the log end",
    () => consumer.getMetrics().partitions.every((p) => p.committedOffset === ends[p.partition]),
    15_000,
  );
  await sleep(300); // anything aborted that slipped through would arrive by now
  await consumer.close();
  assert.deepEqual(seen.filter((value) => !committed.has(value)), [], "aborted records reached the handler");
  assert.equal(seen.length, committed.size, "each committed record once");
  assert.deepEqual(await committedOffsets(groupId, topic, 2), ends);
});

test("read_committed waits at an open transaction; read_uncommitted reads past it, aborted records included", async () => {
  const topic = uniqueName("tx-open");
  await createTopic(topic, 1);
  const producer = transactional("open");
  const plain = new Producer({ clientId: "pyrallel-tests-plain", bootstrapBrokers: BROKERS, idempotent: true });
  try {
    await producer.run(topic, [{ partition: 0, value: "before:0" }], "commit");
    await producer.run(topic, [{ partition: 0, value: "aborted:0" }], "abort");
    const open = await producer.run(
      topic,
      [{ partition: 0, value: "open:0" }, { partition: 0, value: "open:1" }],
      "open",
    );
    await plain.send({ messages: [{ topic, partition: 0, value: Buffer.from("after:0") }] });

    const committed = await consumeAll(topic, 1);
    const uncommitted = await consumeAll(topic, 5, "read_uncommitted");
    await committed.done();
    await uncommitted.done();
    await sleep(1000);
    assert.deepEqual(committed.seen, ["before:0"], "nothing past the open transaction yet");
    assert.deepEqual(uncommitted.seen.toSorted(), ["aborted:0", "after:0", "before:0", "open:0", "open:1"]);
    await open.commit();
    await waitFor("the rest once the transaction committed", () => committed.seen.length === 4, 15_000);
    assert.deepEqual(committed.seen.toSorted(), ["after:0", "before:0", "open:0", "open:1"]);
    await committed.consumer.close();
    await uncommitted.consumer.close();
    assert.deepEqual(await committedOffsets(committed.groupId, topic, 1), await endOffsets(topic, 1));
  } finally {
    await producer.producer.close();
    await plain.close();
  }
});

test("a group whose committed offset points at an ABORT marker reads only what follows it", async () => {
  const topic = uniqueName("tx-marker");
  await createTopic(topic, 1);
  const producer = transactional("marker");
  const records = (name: string) => Array.from({ length: 10 }, (_, r) => ({ partition: 0, value: `${name}:${r}` }));
  try {
    await producer.run(topic, records("first"), "commit"); // offsets 0-9, marker 10
    await producer.run(topic, records("second"), "abort"); // offsets 11-20, marker 21
    await producer.run(topic, records("third"), "commit"); // offsets 22-31, marker 32
  } finally {
    await producer.producer.close();
  }
  assert.equal(await endOnceMarked(topic, 33n), 33n);
  const groupId = uniqueName("group");
  await withAdmin((admin) =>
    admin.alterConsumerGroupOffsets({
      groupId,
      topics: [{ name: topic, partitionOffsets: [{ partition: 0, offset: 21n }] }],
    })
  );
  const { consumer, seen, done } = await consumeAll(topic, 10, undefined, groupId);
  await done();
  await sleep(300);
  await consumer.close();
  assert.deepEqual(seen, records("third").map(({ value }) => value));
  assert.deepEqual(await committedOffsets(groupId, topic, 1), [33n]);
});
