// The worker engine behind the control plane (in-memory adapter, real worker threads): a module
// that cannot start is the consumer's failure, never the messages'.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { test } from "node:test";
import { createParallelConsumer, EngineFailedError } from "../../mod.ts";
import { MemoryAdapter, message, settle } from "../support/memory-adapter.ts";

const BROKEN = new URL("../support/workers/broken-worker.ts", import.meta.url);
const GATED = new URL("../support/workers/gated-worker.ts", import.meta.url);
const encoder = new TextEncoder();

function withOp(offset: number, op: string) {
  return { ...message(0, offset, `k${offset}`), headers: new Map([["op", encoder.encode(op)]]) };
}

// Defect 4: every message held by a worker that could not load failed with WorkerCrashedError, so
// `failurePolicy: "skip"` committed offsets whose handlers never ran.
test("a worker module that cannot load fails start(); no message is skipped for it", async () => {
  const adapter = new MemoryAdapter();
  const consumer = createParallelConsumer({
    kafka: { bootstrapBrokers: ["127.0.0.1:9092"], groupId: "g", topics: ["t"] },
    engine: { kind: "worker", workers: 1, module: BROKEN },
    failurePolicy: "skip",
    retry: { maxRetries: 0 },
    adapter,
  });
  await assert.rejects(consumer.start(), (error: Error) => {
    assert.ok(error instanceof EngineFailedError, `${error.name}: ${error.message}`);
    assert.match(error.message, /broken-worker\.ts.*broken worker module/s);
    return true;
  });
  assert.equal(adapter.listener, undefined, "the group was never joined");
  assert.equal(adapter.closed, true);
  assert.deepEqual(adapter.commits, []);
  assert.equal(consumer.getMetrics().skippedTotal, 0);
});

test("workers that stop loading under a running consumer stop it; the messages they held are neither skipped nor committed", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pyrallel-start-gate-"));
  process.env.PYRALLEL_START_GATE = join(dir, "load");
  process.env.PYRALLEL_START_GATE_LOADS = "1";
  try {
    const adapter = new MemoryAdapter();
    const errors: Error[] = [];
    const consumer = createParallelConsumer({
      kafka: { bootstrapBrokers: ["127.0.0.1:9092"], groupId: "g", topics: ["t"] },
      engine: { kind: "worker", workers: 1, concurrencyPerWorker: 1, module: GATED },
      failurePolicy: "skip",
      retry: { maxRetries: 0 },
      commitIntervalMs: 20,
      drainTimeoutMs: 100,
      adapter,
    });
    consumer.on("error", (error) => errors.push(error));
    await consumer.start();
    adapter.assign({ topic: "t", partition: 0 });
    // Offset 0 ends its worker (a crash after it was ready: a real attempt); its replacements never load.
    adapter.deliver(withOp(0, "exit"), withOp(1, "ok"), withOp(2, "ok"), withOp(3, "ok"));
    for (let i = 0; i < 100 && !errors.some((error) => error instanceof EngineFailedError); i++) await settle(50);
    await consumer.close().catch(() => {});
    assert.ok(errors.some((error) => error instanceof EngineFailedError), errors.map((e) => e.message).join("; "));
    const metrics = consumer.getMetrics();
    assert.equal(metrics.skippedTotal, 1, "only offset 0, which ran and crashed its worker, is skipped");
    assert.equal(metrics.processedTotal, 0);
    const committed = adapter.committed.get("t:0");
    assert.ok(committed === undefined || committed <= 1n, `committed ${committed}: offsets 1..3 never ran`);
  } finally {
    delete process.env.PYRALLEL_START_GATE;
    delete process.env.PYRALLEL_START_GATE_LOADS;
    rmSync(dir, { recursive: true, force: true });
  }
});
