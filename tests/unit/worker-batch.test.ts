// The worker engine running a module's batch handler (runWorker({ batchHandler })), behind the
// control plane with the in-memory adapter and real worker threads.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { test } from "node:test";
import { createParallelConsumer, MessageFailedError } from "../../mod.ts";
import { checkBatchLog } from "../support/batch-log.ts";
import { MemoryAdapter, message, settle } from "../support/memory-adapter.ts";

const BATCH_WORKER = new URL("../support/workers/batch-worker.ts", import.meta.url);
const encoder = new TextEncoder();

test("worker engine: the module's batch handler gets batches with each key's messages in a row and in order; a failing batch is dead-lettered", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pyrallel-batch-worker-"));
  process.env.PYRALLEL_WORKER_LOG = join(dir, "log");
  try {
    const adapter = new MemoryAdapter();
    const errors: Error[] = [];
    const consumer = createParallelConsumer({
      kafka: { bootstrapBrokers: ["127.0.0.1:9092"], groupId: "g", topics: ["t"] },
      engine: { kind: "worker", workers: 2, module: BATCH_WORKER },
      batch: { maxMessages: 8, maxWaitMs: 2 },
      retry: { maxRetries: 1, initialBackoffMs: 1 },
      deadLetter: {},
      adapter,
    });
    consumer.on("error", (error) => errors.push(error));
    await consumer.start();
    adapter.assign({ topic: "t", partition: 0 });
    const seq = new Map<string, number>();
    const total = 300;
    adapter.deliver(...Array.from({ length: total }, (_, offset) => {
      const key = `k${offset % 5}`;
      const value = offset === 123 ? "bad" : String(seq.get(key) ?? 0);
      if (offset !== 123) seq.set(key, (seq.get(key) ?? 0) + 1);
      return { ...message(0, offset, key), value: encoder.encode(value) };
    }));
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const m = consumer.getMetrics();
      if (m.processedTotal + m.deadLetteredTotal === total) break;
      await settle(10);
    }
    const metrics = consumer.getMetrics();
    await consumer.close();
    const failed = errors.filter((error) => error instanceof MessageFailedError);
    assert.ok(failed.length >= 1 && failed.length <= 8, `${failed.length} messages failed with the bad one`);
    assert.equal(metrics.deadLetteredTotal, failed.length);
    assert.equal(metrics.processedTotal, total - failed.length);
    assert.ok(metrics.batchesProcessedTotal > 0 && metrics.batchesProcessedTotal < total / 2);
    assert.equal(adapter.committed.get("t:0"), BigInt(total));
    const decoder = new TextDecoder();
    const dead = new Set(
      adapter.published.map((record) => `${decoder.decode(record.key!)}:${decoder.decode(record.value!)}`),
    );
    assert.ok(dead.has("k3:bad"));
    const log = checkBatchLog(process.env.PYRALLEL_WORKER_LOG, dead);
    assert.deepEqual(log.violations, []);
    assert.equal(log.messages, total - failed.length);
    assert.equal(log.batches, metrics.batchesProcessedTotal);
    assert.ok(log.longestRun > 1, "several messages of one key in a row");
  } finally {
    delete process.env.PYRALLEL_WORKER_LOG;
    rmSync(dir, { recursive: true, force: true });
  }
});
