// The worker engine behind a real consumer and broker: everything processed and committed, per-key
// order kept across worker threads, and workers that exit mid-run replaced with their messages
// retried; a message whose handler returned is never run again (exactly one result per attempt).
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { createParallelConsumer } from "../../mod.ts";
import { BROKERS, committedOffsets, createTopic, endOffsets, produce, uniqueName, waitFor } from "../support/kafka.ts";

const PARTITIONS = 4;
const KEYS = 50;
const MESSAGES = 2_000;
const CRASH_EVERY = 250; // 8 messages make their worker exit on their first attempt

test("worker engine: 2,000 messages through 2 workers, per-key order, crashed workers replaced, all committed", async () => {
  const topic = uniqueName("worker-orders");
  const groupId = uniqueName("worker-group");
  const logFile = join(tmpdir(), `${uniqueName("worker-log")}.txt`);
  // Worker threads read it at start (Node copies the environment into each worker).
  const env = (globalThis as unknown as { process: { env: Record<string, string | undefined> } }).process.env;
  env.PYRALLEL_WORKER_LOG = logFile;
  await createTopic(topic, PARTITIONS);
  await produce(
    topic,
    Array.from({ length: MESSAGES }, (_, seq) => ({
      key: `key-${seq % KEYS}`,
      value: JSON.stringify({ seq, ...(seq % CRASH_EVERY === 7 ? { crash: true } : {}) }),
    })),
  );
  const ends = await endOffsets(topic, PARTITIONS);

  const consumer = createParallelConsumer({
    kafka: { bootstrapBrokers: BROKERS, groupId, topics: [topic], clientId: "it-worker" },
    engine: { kind: "worker", workers: 2, module: new URL("../support/workers/consume-worker.ts", import.meta.url) },
    ordering: "key",
    maxInFlight: 200,
    retry: { maxRetries: 10, initialBackoffMs: 10, maxBackoffMs: 100 },
    commitIntervalMs: 200,
  });
  const errors: Error[] = [];
  consumer.on("error", (error) => errors.push(error));
  try {
    const started = performance.now();
    await consumer.start();
    await waitFor("all messages processed", () => consumer.getMetrics().processedTotal >= MESSAGES, 120_000);
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `  worker engine: ${MESSAGES} messages in ${seconds.toFixed(2)} s (${(MESSAGES / seconds).toFixed(0)} msg/s)`,
    );
  } finally {
    await consumer.close();
    delete env.PYRALLEL_WORKER_LOG;
  }

  assert.deepEqual(errors.map((error) => `${error.message}: ${String(error.cause)}`), []);
  const metrics = consumer.getMetrics();
  assert.equal(metrics.processedTotal, MESSAGES);
  assert.ok(
    metrics.failedAttemptsTotal >= MESSAGES / CRASH_EVERY,
    `crashed attempts counted: ${metrics.failedAttemptsTotal}`,
  );
  assert.deepEqual(await committedOffsets(groupId, topic, PARTITIONS), ends);

  // The log holds each completion in time order: per key, seqs must only grow, and every seq appears once.
  const lines = readFileSync(logFile, "utf8").trim().split("\n");
  rmSync(logFile, { force: true });
  const lastByKey = new Map<string, number>();
  const seen = new Set<number>();
  let retried = 0;
  let repeated = 0;
  for (const line of lines) {
    const [key, seqText, attemptText] = line.split(" ");
    const seq = Number(seqText);
    // A message a worker finished just before it died keeps its result (the worker's task board
    // says so): it never runs again.
    const last = lastByKey.get(key!) ?? -1;
    assert.ok(seq >= last, `key ${key}: seq ${seq} completed after ${last}`);
    if (seq === last) repeated++;
    lastByKey.set(key!, seq);
    seen.add(seq);
    if (Number(attemptText) > 1) retried++;
  }
  assert.equal(seen.size, MESSAGES);
  assert.equal(repeated, 0, "a message whose handler returned ran again");
  assert.equal(lines.length, MESSAGES, "each message completed exactly once");
  assert.ok(retried >= MESSAGES / CRASH_EVERY, `messages that succeeded on a retry: ${retried}`);
});
