// Intake against the real broker: the in-flight window is spent on distinct keys of every
// partition (fetched messages beyond the first of each key wait in per-partition buffers), and a
// partition whose buffer is full stops being fetched on its own while the others go on.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type ConsumerMessage, createParallelConsumer, type ParallelConsumer } from "../../mod.ts";
import { BROKERS, createTopic, produce, type TestRecord, uniqueName, waitFor } from "../support/kafka.ts";

const PARTITIONS = 4;

/**
 * Responses of a few hundred of these tiny records, so a partition's log takes several: its buffer
 * limit, not the end of its log, is what stops its fetching (with the 64 KiB default one response
 * would bring a whole partition here).
 */
const FETCH = { fetchMaxBytesPerPartition: 16 * 1024 };

/** Messages whose handlers wait until released; `release()` lets them and every later one finish. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  let released = false;
  return {
    wait: (): Promise<void> | void => (released ? undefined : opened),
    release: () => {
      released = true;
      open();
    },
  };
}

/** Per key, the offsets in the order their handlers started, and the most handlers of one key at once. */
function keyTracker() {
  const order = new Map<string, bigint[]>();
  const running = new Map<string, number>();
  let overlaps = 0;
  return {
    overlaps: () => overlaps,
    order,
    start(message: ConsumerMessage): string {
      const key = new TextDecoder().decode(message.key!);
      const list = order.get(key) ?? [];
      list.push(message.offset);
      order.set(key, list);
      const now = (running.get(key) ?? 0) + 1;
      if (now > 1) overlaps++;
      running.set(key, now);
      return key;
    },
    end(key: string): void {
      running.set(key, running.get(key)! - 1);
    },
  };
}

async function stopped(consumer: ParallelConsumer, release: () => void): Promise<void> {
  release();
  await consumer.close();
}

test("the in-flight window holds one message per key, from every partition; the rest is buffered", async () => {
  const topic = uniqueName("intake-fair");
  const keys = 100;
  const perPartition = 2000;
  await createTopic(topic, PARTITIONS);
  // Tiny values written in large batches: one fetch of one partition holds hundreds of messages.
  const records: TestRecord[] = Array.from({ length: perPartition * PARTITIONS }, (_, i) => {
    const key = i % keys;
    return { key: `k${key}`, value: "x", partition: key % PARTITIONS };
  });
  await produce(topic, records);

  const blocked = gate();
  const tracker = keyTracker();
  let done = 0;
  const consumer = createParallelConsumer({
    kafka: { bootstrapBrokers: BROKERS, groupId: uniqueName("group"), topics: [topic], ...FETCH },
    maxInFlight: 1000,
    engine: { kind: "async", concurrency: 500 },
    handler: async (message) => {
      const key = tracker.start(message);
      await blocked.wait();
      tracker.end(key);
      done++;
    },
  });
  await consumer.start();
  try {
    await waitFor("every key to run", () => consumer.getMetrics().processing === keys);
    // Fetching goes on until each partition's buffer is full (maxInFlight messages).
    await waitFor(
      "every partition's buffer to fill",
      () => consumer.getMetrics().partitions.filter((p) => p.pauseReason === "bufferFull").length === PARTITIONS,
    );
    const metrics = consumer.getMetrics();
    assert.equal(metrics.totalInFlight, keys, "only the first message of each key is admitted");
    assert.equal(metrics.queued, 0);
    assert.equal(metrics.isPaused, false, "the window is far from maxInFlight: nothing pauses all partitions");
    assert.equal(metrics.partitions.length, PARTITIONS);
    for (const partition of metrics.partitions) {
      assert.equal(partition.inFlight, keys / PARTITIONS, `partition ${partition.partition}: each of its keys runs`);
      assert.ok(
        partition.bufferedCount >= 1000,
        `partition ${partition.partition}: ${partition.bufferedCount} buffered`,
      );
      // Keys "k0".."k99" (2-3 bytes) and a 1-byte value each.
      assert.ok(
        partition.bufferedBytes >= partition.bufferedCount * 3 &&
          partition.bufferedBytes <= partition.bufferedCount * 4,
      );
      assert.ok(
        partition.trueLag >= partition.bufferedCount + partition.inFlight,
        "true lag counts buffered messages: they are fetched and not done",
      );
    }
    blocked.release();
    await waitFor("every message to be handled", () => done === records.length);
    assert.equal(tracker.overlaps(), 0, "never two messages of one key at once");
    for (const [key, offsets] of tracker.order) {
      assert.equal(offsets.length, perPartition * PARTITIONS / keys, `key ${key}: every message once`);
      assert.deepEqual(offsets, [...offsets].sort((a, b) => (a < b ? -1 : 1)), `key ${key}: in offset order`);
    }
  } finally {
    await stopped(consumer, blocked.release);
  }
});

test("a partition stuck behind one key stops being fetched on its own; the other partitions go on", async () => {
  const topic = uniqueName("intake-stuck");
  const perPartition = 1500;
  await createTopic(topic, PARTITIONS);
  // Partition 0 holds a single key whose first message never finishes until released.
  const records: TestRecord[] = [];
  for (let partition = 0; partition < PARTITIONS; partition++) {
    for (let i = 0; i < perPartition; i++) {
      records.push({ key: partition === 0 ? "stuck" : `p${partition}-k${i % 30}`, value: "x", partition });
    }
  }
  await produce(topic, records);

  const stuck = gate();
  const handled = [0, 0, 0, 0];
  const consumer = createParallelConsumer({
    kafka: { bootstrapBrokers: BROKERS, groupId: uniqueName("group"), topics: [topic], ...FETCH },
    maxInFlight: 200,
    handler: async (message) => {
      if (message.partition === 0) await stuck.wait();
      handled[message.partition]!++;
    },
  });
  await consumer.start();
  try {
    await waitFor("partitions 1-3 to be handled", () => handled.slice(1).every((n) => n === perPartition));
    const metrics = consumer.getMetrics();
    const stuckPartition = metrics.partitions.find((p) => p.partition === 0)!;
    assert.equal(handled[0], 0);
    assert.equal(stuckPartition.inFlight, 1, "the stuck key's first message runs");
    assert.equal(stuckPartition.pauseReason, "bufferFull", "its buffer filled: it is not fetched");
    assert.ok(stuckPartition.bufferedCount >= 200 && stuckPartition.bufferedCount < perPartition);
    assert.equal(metrics.isPaused, false, "the other partitions were never paused");
    stuck.release();
    await waitFor("partition 0 to be handled", () => handled[0] === perPartition);
  } finally {
    await stopped(consumer, stuck.release);
  }
});
