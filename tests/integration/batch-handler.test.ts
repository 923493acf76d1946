// Batch handlers against the real broker: key order checked message by message across batches,
// a failing batch dead-lettered message by message with provenance (offsets committed only once
// the dead letters were acknowledged), and the worker engine running a module's batch handler.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { type ConsumerMessage, type ConsumerMetrics, createParallelConsumer } from "../../mod.ts";
import { BROKERS, committedOffsets, createTopic, endOffsets, produce, uniqueName, waitFor } from "../support/kafka.ts";
import { readTopic } from "../support/read-topic.ts";
import { checkBatchLog } from "../support/batch-log.ts";

const decoder = new TextDecoder();
const keyOf = (message: ConsumerMessage): string => decoder.decode(message.key!);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test("batch handler: each key's messages in order across batches, never in two running batches; several of a key per batch", async () => {
  const topic = uniqueName("batch-orders");
  const groupId = uniqueName("group");
  await createTopic(topic, 3);
  const keys = 40;
  const total = 3_000;
  await produce(
    topic,
    Array.from({ length: total }, (_, i) => ({ key: `k${i % keys}`, value: String(Math.floor(i / keys)) })),
  );
  const ends = await endOffsets(topic, 3);

  const lastSeq = new Map<string, number>();
  const running = new Set<string>();
  const violations: string[] = [];
  let processed = 0;
  let batches = 0;
  let largestRunOfOneKey = 0;
  const consumer = createParallelConsumer({
    kafka: { bootstrapBrokers: BROKERS, groupId, topics: [topic] },
    batch: { maxMessages: 50, maxWaitMs: 5 },
    logger: { warn: () => {} },
    batchHandler: async (messages) => {
      const keysHere = new Set<string>();
      let run = 0;
      let previous: string | undefined;
      for (const message of messages) {
        const key = keyOf(message);
        if (key !== previous && keysHere.has(key)) violations.push(`${key}: not consecutive in its batch`);
        if (key !== previous && running.has(key)) violations.push(`${key}: in two running batches`);
        run = key === previous ? run + 1 : 1;
        largestRunOfOneKey = Math.max(largestRunOfOneKey, run);
        previous = key;
        keysHere.add(key);
        const seq = Number(decoder.decode(message.value!));
        const expected = (lastSeq.get(key) ?? -1) + 1;
        if (seq !== expected) violations.push(`${key}: got ${seq}, expected ${expected}`);
        lastSeq.set(key, seq);
      }
      for (const key of keysHere) running.add(key);
      await sleep(Math.random() * 3);
      for (const key of keysHere) running.delete(key);
      processed += messages.length;
      batches++;
    },
  });
  await consumer.start();
  await waitFor(`${total} messages`, () => processed === total);
  const metrics = consumer.getMetrics();
  await consumer.close();

  assert.deepEqual(violations, []);
  assert.equal(metrics.processedTotal, total);
  assert.equal(metrics.batchesProcessedTotal, batches);
  assert.equal(metrics.batchSize.sum, total);
  assert.ok(batches < total / 2, `${batches} batches for ${total} messages`);
  assert.ok(largestRunOfOneKey > 1, "a batch takes several messages of one key in a row");
  assert.deepEqual(await committedOffsets(groupId, topic, 3), ends);
});

test("a failing batch is dead-lettered message by message with provenance; offsets commit only after the dead letters", async () => {
  const topic = uniqueName("batch-payments");
  const groupId = uniqueName("group");
  await createTopic(topic, 1);
  await createTopic(`${topic}.dlq`, 1);
  const total = 400;
  await produce(
    topic,
    Array.from({ length: total }, (_, i) => ({ key: `k${i % 8}`, value: i % 97 === 50 ? "bad" : `ok-${i}` })),
  );
  const [end] = await endOffsets(topic, 1);

  const failedBatches = new Map<string, bigint[]>();
  const attemptsSeen = new Map<string, number[]>();
  let succeeded = 0;
  const consumer = createParallelConsumer({
    kafka: { bootstrapBrokers: BROKERS, groupId, topics: [topic] },
    batch: { maxMessages: 20, maxWaitMs: 5 },
    retry: { maxRetries: 1, initialBackoffMs: 10 },
    deadLetter: {},
    commitIntervalMs: 50,
    logger: { warn: () => {} },
    batchHandler: (messages, { attempt }) => {
      const id = messages.map((m) => m.offset).join(",");
      attemptsSeen.set(id, [...(attemptsSeen.get(id) ?? []), attempt]);
      if (messages.some((m) => decoder.decode(m.value!) === "bad")) {
        failedBatches.set(id, messages.map((m) => m.offset));
        throw new Error("bulk write refused");
      }
      succeeded += messages.length;
    },
  });
  consumer.on("error", () => {});
  // Sampled throughout: what the group committed, then how many dead letters exist by then.
  const samples: { committed: bigint; letters: bigint }[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const [committed] = await committedOffsets(groupId, topic, 1);
      const [letters] = await endOffsets(`${topic}.dlq`, 1);
      samples.push({ committed: committed!, letters: letters! });
      await sleep(20);
    }
  })();
  await consumer.start();
  await waitFor("every message processed or dead-lettered", () => {
    const m = consumer.getMetrics();
    return m.processedTotal + m.deadLetteredTotal === total;
  });
  await consumer.close();
  sampling = false;
  await sampler;

  const deadOffsets = [...failedBatches.values()].flat().sort((a, b) => (a < b ? -1 : 1));
  assert.ok(failedBatches.size >= 4, `${failedBatches.size} failing batches`);
  for (const id of failedBatches.keys()) assert.deepEqual(attemptsSeen.get(id), [1, 2], `batch ${id} retried whole`);
  assert.equal(succeeded + deadOffsets.length, total);
  const letters = await readTopic(`${topic}.dlq`, deadOffsets.length);
  assert.deepEqual(
    letters.map((letter) => BigInt(letter.headers.get("pyrallel.source.offset")!)).sort((a, b) => (a < b ? -1 : 1)),
    deadOffsets,
  );
  for (const letter of letters) {
    const offset = Number(letter.headers.get("pyrallel.source.offset"));
    assert.equal(letter.headers.get("pyrallel.source.topic"), topic);
    assert.equal(letter.headers.get("pyrallel.source.partition"), "0");
    assert.equal(letter.headers.get("pyrallel.source.key"), `k${offset % 8}`);
    assert.equal(letter.key, `k${offset % 8}`);
    assert.equal(letter.headers.get("pyrallel.attempts"), "2");
    assert.equal(letter.headers.get("pyrallel.error.message"), "bulk write refused");
  }
  // A commit past a dead-lettered offset was made only once its letter (and every earlier one) was in the topic.
  for (const { committed, letters: count } of samples) {
    const owed = deadOffsets.filter((offset) => offset < committed).length;
    assert.ok(count >= BigInt(owed), `committed ${committed} with ${count} of ${owed} dead letters acknowledged`);
  }
  assert.deepEqual(await committedOffsets(groupId, topic, 1), [end]);
});

test("worker engine: the module's batch handler (runWorker({ batchHandler })) keeps key order across workers; all committed", async () => {
  const topic = uniqueName("batch-worker");
  const groupId = uniqueName("group");
  const logFile = join(tmpdir(), `${uniqueName("batch-worker-log")}.txt`);
  // Worker threads read it at start (Node copies the environment into each worker).
  const env = (globalThis as unknown as { process: { env: Record<string, string | undefined> } }).process.env;
  env.PYRALLEL_WORKER_LOG = logFile;
  await createTopic(topic, 3);
  const keys = 30;
  const total = 2_000;
  await produce(
    topic,
    Array.from({ length: total }, (_, i) => ({ key: `k${i % keys}`, value: String(Math.floor(i / keys)) })),
  );
  const ends = await endOffsets(topic, 3);

  const consumer = createParallelConsumer({
    kafka: { bootstrapBrokers: BROKERS, groupId, topics: [topic] },
    engine: { kind: "worker", workers: 2, module: new URL("../support/workers/batch-worker.ts", import.meta.url) },
    batch: { maxMessages: 40, maxWaitMs: 5 },
    logger: { warn: () => {} },
  });
  const errors: Error[] = [];
  consumer.on("error", (error) => errors.push(error));
  let metrics: ConsumerMetrics | undefined;
  try {
    await consumer.start();
    await waitFor(`${total} messages`, () => consumer.getMetrics().processedTotal === total, 120_000);
    metrics = consumer.getMetrics();
  } finally {
    await consumer.close();
    delete env.PYRALLEL_WORKER_LOG;
  }
  try {
    assert.deepEqual(errors, []);
    const log = checkBatchLog(logFile);
    assert.deepEqual(log.violations, []);
    assert.equal(log.messages, total);
    assert.equal(log.batches, metrics?.batchesProcessedTotal);
    assert.ok(log.batches < total / 2, `${log.batches} batches`);
    assert.ok(log.longestRun > 1, "several messages of one key in a row");
    assert.deepEqual(await committedOffsets(groupId, topic, 3), ends);
  } finally {
    rmSync(logFile, { force: true });
  }
});
