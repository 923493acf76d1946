// Real cancellation on the worker engine, against the broker: a handler in an endless loop is
// stopped by terminating its worker when it exceeds handlerTimeoutMs (or blocks its partition past
// maxBlockingMs); the message is retried only once that thread is gone, the key's next messages
// wait for the retry, and other keys run meanwhile on the replacement. Deno's terminate() cannot
// stop a loop (denoland/deno#35657): there the stuck handler spins for 3 s and the retry waits
// until it returned, never beside it.
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { createParallelConsumer, type ParallelConsumerOptions } from "../../mod.ts";
import { SPIN_ON_DENO_MS } from "../support/workers/cancel-timing.ts";
import { BROKERS, committedOffsets, createTopic, endOffsets, produce, uniqueName, waitFor } from "../support/kafka.ts";

const LIMIT_MS = 1_000;
const onDeno = "Deno" in globalThis;

interface Event {
  readonly offset: number;
  readonly attempt: number;
  readonly what: "start" | "alive" | "end";
  readonly at: number;
}

async function runStuck(limit: Pick<ParallelConsumerOptions, "handlerTimeoutMs" | "maxBlockingMs">): Promise<Event[]> {
  const topic = uniqueName("worker-cancel");
  const groupId = uniqueName("worker-cancel-group");
  const log = join(tmpdir(), `${uniqueName("worker-cancel-log")}.txt`);
  await createTopic(topic, 1);
  // Offsets: 0 k (stuck on its first attempt), 1 other, 2 k, 3 other, 4 k.
  const value = (stuck = false) => JSON.stringify({ log, ...(stuck ? { stuck } : {}) });
  await produce(topic, [
    { key: "k", value: value(true) },
    { key: "other", value: value() },
    { key: "k", value: value() },
    { key: "other", value: value() },
    { key: "k", value: value() },
  ]);
  const consumer = createParallelConsumer({
    kafka: { bootstrapBrokers: BROKERS, groupId, topics: [topic], clientId: "it-worker-cancel" },
    engine: { kind: "worker", workers: 2, module: new URL("../support/workers/cancel-worker.ts", import.meta.url) },
    ordering: "key",
    retry: { maxRetries: 2, initialBackoffMs: 0, maxBackoffMs: 0 },
    commitIntervalMs: 100,
    ...limit,
  });
  const errors: Error[] = [];
  consumer.on("error", (error) => errors.push(error));
  try {
    await consumer.start();
    await waitFor("all 5 messages processed", () => consumer.getMetrics().processedTotal >= 5, 30_000);
    await waitFor(
      "offsets committed",
      () => consumer.getMetrics().partitions.every((p) => p.committedOffset === 5n),
      10_000,
    );
    assert.deepEqual(errors.map(String), [], "a message that succeeds on its retry is not an error");
    assert.equal(consumer.getMetrics().failedAttemptsTotal, 1, "one failed attempt: the stuck one");
  } finally {
    await consumer.close();
  }
  assert.deepEqual(await committedOffsets(groupId, topic, 1), await endOffsets(topic, 1));
  const events = readFileSync(log, "utf8").trim().split("\n").map((line): Event => {
    const [offset, attempt, what, at] = line.split(" ");
    return { offset: Number(offset), attempt: Number(attempt), what: what as Event["what"], at: Number(at) };
  });
  rmSync(log, { force: true });
  return events;
}

function checkStopped(events: readonly Event[]): void {
  const find = (offset: number, attempt: number, what: Event["what"]) =>
    events.filter((e) => e.offset === offset && e.attempt === attempt && e.what === what);
  const [stuckStart] = find(0, 1, "start");
  const alive = find(0, 1, "alive");
  const [retryStart] = find(0, 2, "start");
  const [retryEnd] = find(0, 2, "end");
  assert.ok(stuckStart && retryStart && retryEnd, `the stuck message ran twice:\n${JSON.stringify(events)}`);
  assert.equal(find(0, 1, "end").length, onDeno ? 1 : 0, "the endless loop never returned (Deno: after 3 s)");
  assert.ok(alive.length > 0, "it spun");
  // Never two attempts at once: the first one's thread was gone before the retry started.
  const lastAlive = alive.at(-1)!.at;
  assert.ok(lastAlive <= retryStart.at, `spinning at ${lastAlive}, yet the retry started at ${retryStart.at}`);
  const stoppedAfter = retryStart.at - stuckStart.at;
  const expected = onDeno ? SPIN_ON_DENO_MS : LIMIT_MS;
  assert.ok(
    stoppedAfter >= expected - 50 && stoppedAfter < expected + 2_000,
    `retried ${stoppedAfter} ms after the stuck attempt started (limit ${LIMIT_MS} ms, expected ~${expected} ms)`,
  );
  // The key's next messages waited for the retry; the other key did not wait for the stuck one.
  for (const offset of [2, 4]) {
    const [start] = find(offset, 1, "start");
    assert.ok(start && start.at >= retryEnd.at, `k's offset ${offset} started before its predecessor finished`);
  }
  for (const offset of [1, 3]) {
    const [end] = find(offset, 1, "end");
    assert.ok(end && end.at < retryStart.at, `other key's offset ${offset} waited for the stuck handler`);
  }
  // Each message ran exactly as often as said: offset 0 twice, the others once.
  const starts = events.filter((e) => e.what === "start").map((e) => `${e.offset}/${e.attempt}`).sort();
  assert.deepEqual(starts, ["0/1", "0/2", "1/1", "2/1", "3/1", "4/1"]);
}

describe("worker engine: a handler in an endless loop is stopped by terminating its worker", () => {
  test("handlerTimeoutMs", async () => {
    checkStopped(await runStuck({ handlerTimeoutMs: LIMIT_MS }));
  });

  test("maxBlockingMs", async () => {
    checkStopped(await runStuck({ maxBlockingMs: LIMIT_MS }));
  });
});
