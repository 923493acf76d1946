// Throttling against the real broker: a consumer-wide rate limit holds over 20 s while its
// throttled messages wait queued (engine slots stay free), a per-key limit slows one hot key while
// the other keys run at full speed, and a handler's context.pause(ms) stops every start for that long.
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { type ConsumerMetrics, createParallelConsumer, type ParallelConsumer } from "../../mod.ts";
import { BROKERS, createTopic, produce, sleep, uniqueName, waitFor } from "../support/kafka.ts";

const decoder = new TextDecoder();
const PARTITIONS = 4;

/** Samples the consumer's metrics every `everyMs` until stopped. */
function sampleMetrics(consumer: ParallelConsumer, everyMs: number): { samples: ConsumerMetrics[]; stop: () => void } {
  const samples: ConsumerMetrics[] = [];
  const timer = setInterval(() => samples.push(consumer.getMetrics()), everyMs);
  return { samples, stop: () => clearInterval(timer) };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

async function keyedTopic(prefix: string, records: readonly { key: string; value: string }[]): Promise<string> {
  const topic = uniqueName(prefix);
  await createTopic(topic, PARTITIONS);
  await produce(topic, records);
  return topic;
}

test("rateLimit 500 msg/s holds within 5% over 20 s, the throttled messages queued, not holding engine slots", async () => {
  const RATE = 500;
  const WARMUP_MS = 2_000;
  const WINDOW_MS = 20_000;
  const MESSAGES = Math.ceil((RATE * (WARMUP_MS + WINDOW_MS)) / 1000 * 1.15);
  const topic = await keyedTopic(
    "throttle-global",
    // Many keys: the window (one message per key) fills with throttled messages.
    Array.from({ length: MESSAGES }, (_, seq) => ({ key: `key-${seq % 5000}`, value: String(seq) })),
  );
  const starts: number[] = [];
  const consumer = createParallelConsumer({
    kafka: { bootstrapBrokers: BROKERS, groupId: uniqueName("group"), topics: [topic], clientId: "it-throttle" },
    rateLimit: { messagesPerSecond: RATE },
    maxInFlight: 1000,
    engine: { kind: "async", concurrency: 100 },
    handler: async () => {
      starts.push(performance.now());
      await sleep(2);
    },
  });
  const errors: Error[] = [];
  consumer.on("error", (error) => errors.push(error));
  await consumer.start();
  try {
    await waitFor("the first start", () => starts.length > 0, 30_000);
    const from = starts[0]! + WARMUP_MS;
    const to = from + WINDOW_MS;
    await sleep(from - performance.now());
    const sampler = sampleMetrics(consumer, 100);
    await sleep(to - performance.now() + 50);
    sampler.stop();

    const inWindow = starts.filter((at) => at >= from && at < to);
    const rate = inWindow.length / (WINDOW_MS / 1000);
    const perSecond = Array.from(
      { length: WINDOW_MS / 1000 },
      (_, i) => inWindow.filter((at) => at >= from + i * 1000 && at < from + (i + 1) * 1000).length,
    );
    console.log(
      `  ${rate.toFixed(1)} starts/s over ${WINDOW_MS / 1000} s (per second ${Math.min(...perSecond)}–${
        Math.max(...perSecond)
      }); median processing ${median(sampler.samples.map((m) => m.processing))}, queued ${
        median(sampler.samples.map((m) => m.queued))
      }, throttled ${median(sampler.samples.map((m) => m.throttled))}`,
    );
    assert.ok(Math.abs(rate - RATE) <= RATE * 0.05, `${rate.toFixed(1)} starts/s, limit ${RATE}`);
    // A bucket of 50 (a tenth of a second) lets no second pass the rate by more than that.
    assert.ok(Math.max(...perSecond) <= RATE + 50 + 5, `a second with ${Math.max(...perSecond)} starts`);

    // The window is full of throttled messages, yet they hold no engine slot: handlers run 2 ms,
    // so about one runs at a time, while hundreds wait queued for their tokens.
    assert.ok(sampler.samples.length > 100);
    assert.ok(median(sampler.samples.map((m) => m.processing)) <= 10, "engine slots are free for other work");
    assert.ok(median(sampler.samples.map((m) => m.queued)) >= 500, "throttled messages wait queued");
    assert.ok(median(sampler.samples.map((m) => m.throttled)) >= 500, "and are counted as throttled");
    const reasons = sampler.samples.filter((m) => m.startPauseReason === "rateLimit").length;
    assert.ok(reasons >= sampler.samples.length * 0.9, `startPauseReason "rateLimit" in ${reasons} samples`);
    // Fetching pauses only by the usual limits: the window is full.
    assert.ok(sampler.samples.every((m) => m.pauseReason === null || m.pauseReason === "maxInFlight"));
  } finally {
    await consumer.close();
  }
  assert.deepEqual(errors, []);
});

test("a per-key limit slows one hot key while the other keys run at full speed", async () => {
  const KEY_RATE = 20;
  const HOT = 80;
  const COLD = 2_000;
  const topic = await keyedTopic("throttle-key", [
    ...Array.from({ length: HOT }, (_, seq) => ({ key: "hot", value: String(seq) })),
    ...Array.from({ length: COLD }, (_, seq) => ({ key: `cold-${seq % 100}`, value: String(seq) })),
  ]);
  const hotStarts: number[] = [];
  let coldDone = 0;
  const consumer = createParallelConsumer({
    kafka: { bootstrapBrokers: BROKERS, groupId: uniqueName("group"), topics: [topic], clientId: "it-throttle-key" },
    rateLimit: { perKey: { messagesPerSecond: KEY_RATE } },
    ordering: "unordered",
    handler: async (message) => {
      if (decoder.decode(message.key!) === "hot") hotStarts.push(performance.now());
      await sleep(1);
      if (decoder.decode(message.key!) !== "hot") coldDone++;
    },
  });
  await consumer.start();
  let sawPartitionReason = false;
  try {
    const started = performance.now();
    await waitFor("the other keys done", () => {
      sawPartitionReason ||= consumer.getMetrics().partitions.some((p) => p.pauseReason === "rateLimit");
      return coldDone === COLD;
    }, 30_000);
    const coldSeconds = (performance.now() - started) / 1000;
    await sleep(1000);
    const metrics = consumer.getMetrics();
    sawPartitionReason ||= metrics.partitions.some((p) => p.pauseReason === "rateLimit");
    const span = (hotStarts.at(-1)! - hotStarts[0]!) / 1000;
    console.log(
      `  ${COLD} messages of other keys in ${coldSeconds.toFixed(2)} s; the hot key ${hotStarts.length} starts in ${
        span.toFixed(2)
      } s`,
    );
    // Burst 2 (a tenth of a second of 20/s): at most rate × T + 2.
    assert.ok(hotStarts.length <= KEY_RATE * span + 2 + 1, `${hotStarts.length} hot starts in ${span} s`);
    assert.ok(hotStarts.length < HOT, "the hot key is still throttled");
    assert.ok(coldSeconds < 10, `the other keys took ${coldSeconds.toFixed(2)} s`);
    assert.equal(metrics.startPauseReason, "rateLimit");
    assert.ok(metrics.throttled > 0);
    assert.ok(metrics.processing <= 1, "the hot key's waiting messages hold no engine slot");
    assert.ok(
      sawPartitionReason,
      "the hot key's partition showed pauseReason rateLimit once it only waited for tokens",
    );
  } finally {
    await consumer.close();
  }
});

test("context.pause(ms) from a handler stops every start for that long; running handlers go on", async () => {
  const PAUSE_MS = 1_000;
  const topic = await keyedTopic(
    "throttle-pause",
    Array.from({ length: 600 }, (_, seq) => ({ key: `key-${seq % 50}`, value: String(seq) })),
  );
  const starts: number[] = [];
  let pausedAt: number | undefined;
  let finishedDuringPause = 0;
  const consumer = createParallelConsumer({
    kafka: { bootstrapBrokers: BROKERS, groupId: uniqueName("group"), topics: [topic], clientId: "it-throttle-pause" },
    engine: { kind: "async", concurrency: 20 },
    handler: async (_message, context) => {
      const now = performance.now();
      starts.push(now);
      if (starts.length === 100) {
        // As on a 429 from downstream: back off without failing this message.
        context.pause(PAUSE_MS);
        pausedAt = performance.now();
        assert.throws(() => context.pause(-1), TypeError);
      }
      await sleep(5);
      if (pausedAt !== undefined && performance.now() < pausedAt + PAUSE_MS) finishedDuringPause++;
    },
  });
  const errors: Error[] = [];
  consumer.on("error", (error) => errors.push(error));
  await consumer.start();
  try {
    await waitFor("the pause", () => pausedAt !== undefined, 30_000);
    await sleep(PAUSE_MS / 2);
    const during = consumer.getMetrics();
    await waitFor("every message", () => starts.length === 600, 30_000);
    const inPause = starts.filter((at) => at > pausedAt! && at < pausedAt! + PAUSE_MS);
    const resumed = starts.find((at) => at > pausedAt!)!;
    console.log(`  starts resumed ${(resumed - pausedAt!).toFixed(1)} ms after a pause of ${PAUSE_MS} ms`);
    assert.deepEqual(inPause, [], "nothing started during the pause");
    assert.ok(resumed - pausedAt! < PAUSE_MS + 100, "and starts resumed right after it");
    assert.ok(finishedDuringPause > 0, "handlers running at the pause went on");
    assert.equal(during.startPauseReason, "handlerPause");
    assert.equal(during.processing, 0);
    assert.ok(during.throttled > 0 && during.queued >= during.throttled);
    assert.equal(during.isPaused, during.pauseReason !== null, "fetching's pause keeps its own meaning");
  } finally {
    await consumer.close();
  }
  assert.deepEqual(errors, []);
});

test("context.pause(ms) in a worker stops starts in every worker for that long", async () => {
  const PAUSE_MS = 1_000;
  // The pausing worker holds its own queue at once; the others hear of it through the consumer's
  // thread, so a message already queued there may start within this relay time.
  const RELAY_MS = 100;
  const log = join(tmpdir(), `${uniqueName("worker-pause-log")}.txt`);
  const records = Array.from({ length: 400 }, (_, seq) => ({
    key: `key-${seq % 50}`,
    value: JSON.stringify({ log, seq, ...(seq === 100 ? { pauseMs: PAUSE_MS } : {}) }),
  }));
  const topic = await keyedTopic("throttle-worker-pause", records);
  const consumer = createParallelConsumer({
    kafka: { bootstrapBrokers: BROKERS, groupId: uniqueName("group"), topics: [topic], clientId: "it-worker-pause" },
    engine: { kind: "worker", workers: 2, module: new URL("../support/workers/pause-worker.ts", import.meta.url) },
  });
  const errors: Error[] = [];
  consumer.on("error", (error) => errors.push(error));
  await consumer.start();
  try {
    await waitFor("every message", () => consumer.getMetrics().processedTotal >= 400, 30_000);
  } finally {
    await consumer.close();
  }
  const lines = readFileSync(log, "utf8").trim().split("\n").map((line) => line.split(" "));
  rmSync(log, { force: true });
  const pausedAt = Number(lines.find(([what]) => what === "pause")![2]);
  const starts = lines.filter(([what]) => what === "start").map(([, , at]) => Number(at));
  const inPause = starts.filter((at) => at > pausedAt + RELAY_MS && at < pausedAt + PAUSE_MS);
  const resumed = Math.min(...starts.filter((at) => at >= pausedAt + RELAY_MS));
  console.log(`  worker engine: starts resumed ${resumed - pausedAt} ms after a pause of ${PAUSE_MS} ms`);
  assert.deepEqual(inPause, [], "nothing started during the pause, in either worker");
  assert.ok(resumed - pausedAt < PAUSE_MS + 300, "and starts resumed right after it");
  assert.equal(starts.length, 400, "every message ran once");
  assert.deepEqual(errors, []);
});
