// The worker engine on its own (no broker): pool, batching, transfer, crashes, timeouts, cancel, close.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, test } from "node:test";
import type { ConsumerMessage } from "../../src/core/message.ts";
import { HandlerTimeoutError } from "../../src/engines/handler-timeout-error.ts";
import { WorkerCrashedError } from "../../src/engines/worker/errors.ts";
import { WorkerEngine, type WorkerEngineOptions } from "../../src/engines/worker/worker-engine.ts";
import { shaRounds } from "../support/workers/sha-rounds.ts";

const encoder = new TextEncoder();
const TEST_WORKER = new URL("../support/workers/test-worker.ts", import.meta.url);
const never = new AbortController().signal;

/** A message whose worker behaviour is `op` (see tests/support/workers/test-worker.ts). */
function message(op: string, arg = "", extra: Record<string, string> = {}, value: Uint8Array | null = null): ConsumerMessage {
  const headers = new Map<string, Uint8Array>([["op", encoder.encode(op)], ["arg", encoder.encode(arg)]]);
  for (const [name, text] of Object.entries(extra)) headers.set(name, encoder.encode(text));
  return { topic: "t", partition: 0, offset: 0n, key: null, value, headers, timestamp: 0 };
}

function run(engine: WorkerEngine, m: ConsumerMessage, attempt = 1, signal = never): Promise<void> {
  return engine.execute(m, { signal, attempt });
}

/** Runs `body` with an engine that is always closed afterwards. */
async function withEngine(options: Partial<WorkerEngineOptions>, body: (engine: WorkerEngine) => Promise<void>): Promise<void> {
  const engine = new WorkerEngine({ module: TEST_WORKER, workers: 2, ...options });
  try {
    await body(engine);
  } finally {
    await engine.close();
  }
}

const isCrash = (pattern?: RegExp) => (error: unknown): boolean => {
  assert.ok(error instanceof WorkerCrashedError, `expected WorkerCrashedError, got ${String(error)}`);
  assert.equal(error.name, "WorkerCrashedError");
  if (pattern) assert.match(error.message, pattern);
  return true;
};

describe("WorkerEngine", () => {
  test("runs CPU-bound handlers across the pool", async () => {
    await withEngine({ workers: 2, concurrencyPerWorker: 2 }, async (engine) => {
      assert.equal(engine.idleSlots, 4);
      const messages = await Promise.all(Array.from({ length: 40 }, async (_, i) => {
        const value = encoder.encode(`payload ${i}`);
        return message("sha", "200", { expect: await shaRounds(value, 200) }, value);
      }));
      const running = messages.map((m) => run(engine, m));
      assert.equal(engine.idleSlots, 0);
      await Promise.all(running);
      assert.equal(engine.idleSlots, 4);
      assert.equal(engine.stats().crashes, 0);
    });
  });

  test("a handler's error comes back with its name, message and the worker's stack", async () => {
    await withEngine({}, async (engine) => {
      await assert.rejects(run(engine, message("fail")), (error: Error) => {
        assert.equal(error.name, "TypeError");
        assert.equal(error.message, "bad record");
        assert.match(error.stack ?? "", /test-worker\.ts/);
        return true;
      });
      await assert.rejects(run(engine, message("attempt"), 3), /attempt=3/);
    });
  });

  test("bytes that are views of a shared buffer arrive intact; the shared buffer stays usable", async () => {
    await withEngine({}, async (engine) => {
      const shared = new Uint8Array(4096);
      let at = 0;
      const put = (text: string): Uint8Array => {
        const bytes = encoder.encode(text);
        shared.set(bytes, at);
        at += bytes.length + 7;
        return shared.subarray(at - bytes.length - 7, at - 7);
      };
      const messages: ConsumerMessage[] = Array.from({ length: 20 }, (_, n) => {
        const expect = n === 0 ? "" : `value-${n}-`.repeat(n);
        return {
          topic: "bytes-topic",
          partition: 3,
          offset: 2n ** 60n + 5n,
          key: n === 1 ? null : put(`key-${n}`),
          value: put(expect),
          headers: new Map([
            ["op", encoder.encode("bytes")],
            ["arg", encoder.encode(n === 1 ? "null-key" : "")],
            ["n", put(String(n))],
            ["expect", encoder.encode(expect)],
            ["h2", put("second")],
            ["shared-size", encoder.encode(String(shared.buffer.byteLength))],
          ]),
          timestamp: 1_700_000_000_000,
        };
      });
      const before = shared.slice();
      await Promise.all(messages.map((m) => run(engine, m)));
      assert.equal(shared.buffer.byteLength, 4096, "the shared buffer was not detached");
      assert.deepEqual(shared, before);
      assert.equal(new TextDecoder().decode(messages[5]!.value!), "value-5-".repeat(5));
    });
  });

  test("a worker that exits mid-batch is replaced; every message it held fails with WorkerCrashedError", async () => {
    await withEngine({ workers: 1, concurrencyPerWorker: 8 }, async (engine) => {
      const held = [run(engine, message("sleep", "2000")), run(engine, message("exit")), run(engine, message("sleep", "2000"))];
      for (const attempt of held) await assert.rejects(attempt, isCrash(/worker 0 crashed/));
      await Promise.all([run(engine, message("ok")), run(engine, message("ok")), run(engine, message("sleep", "10"))]);
      assert.deepEqual({ ...engine.stats(), recycles: undefined }, { workersStarted: 2, crashes: 1, timeouts: 0, recycles: undefined });
    });
  });

  test("a worker that ends itself (self.close() on Deno, exit(0) elsewhere) is noticed and replaced", async () => {
    await withEngine({ workers: 1, concurrencyPerWorker: 4 }, async (engine) => {
      const held = [run(engine, message("sleep", "2000")), run(engine, message("close"))];
      for (const attempt of held) await assert.rejects(attempt, isCrash(/worker 0 crashed/));
      await run(engine, message("ok"));
      assert.equal(engine.stats().crashes, 1);
    });
  });

  test("an uncaught error in a worker crashes it without harming the parent", async () => {
    await withEngine({ workers: 1, concurrencyPerWorker: 4 }, async (engine) => {
      const held = [run(engine, message("uncaught")), run(engine, message("sleep", "2000"))];
      for (const attempt of held) await assert.rejects(attempt, isCrash(/uncaught boom/));
      await run(engine, message("ok"));
      assert.equal(engine.stats().crashes, 1);
    });
  });

  test("a retry after a crash runs on the replacement (attempt passes through)", async () => {
    await withEngine({ workers: 1 }, async (engine) => {
      await assert.rejects(run(engine, message("exit", "first"), 1), isCrash());
      await run(engine, message("exit", "first"), 2);
    });
  });

  test("a module that throws at top level fails its messages and is restarted with a delay", async () => {
    const engine = new WorkerEngine({ module: new URL("../support/workers/broken-worker.ts", import.meta.url), workers: 1 });
    await assert.rejects(run(engine, message("ok")), isCrash(/failed to start.*broken worker module/s));
    await assert.rejects(run(engine, message("ok")), isCrash(/broken worker module/));
    assert.ok(engine.stats().crashes >= 2);
    await engine.close(); // clears the pending restart
  });

  test("handlerTimeoutMs: the slow message fails with HandlerTimeoutError, its worker's others with WorkerCrashedError", async () => {
    await withEngine({ workers: 1, concurrencyPerWorker: 4, handlerTimeoutMs: 300 }, async (engine) => {
      await run(engine, message("ok")); // the worker is up: the next two go out as separate batches
      const started = performance.now();
      const stuck = run(engine, message("spin", "3000"));
      await new Promise((resolve) => setTimeout(resolve, 50)); // a later batch on the same worker
      const bystander = run(engine, message("sleep", "5000"));
      await assert.rejects(stuck, (error: unknown) => {
        assert.ok(error instanceof HandlerTimeoutError);
        assert.equal(error.name, "HandlerTimeoutError");
        assert.equal(error.timeoutMs, 300);
        return true;
      });
      await assert.rejects(bystander, isCrash(/exceeded handlerTimeoutMs/));
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 290 && elapsed < 3000, `timed out after ${elapsed} ms`);
      await run(engine, message("ok"));
      assert.deepEqual([engine.stats().timeouts, engine.stats().workersStarted], [1, 2]);
    });
  });

  test("aborting the context signal aborts the handler's signal in the worker", async () => {
    await withEngine({}, async (engine) => {
      // Workers up first: the abort must reach a handler that is already running.
      await Promise.all([run(engine, message("ok")), run(engine, message("ok"))]);
      const controller = new AbortController();
      const attempt = run(engine, message("wait-abort"), 1, controller.signal);
      await new Promise((resolve) => setTimeout(resolve, 100));
      controller.abort(new Error("partition revoked"));
      await assert.rejects(attempt, /aborted: partition revoked/);

      // A handler that reads its signal only after the cancel still sees it aborted.
      const late = new AbortController();
      const lateAttempt = run(engine, message("late-signal", "300"), 1, late.signal);
      await new Promise((resolve) => setTimeout(resolve, 100));
      late.abort(new Error("revoked early"));
      await assert.rejects(lateAttempt, /late: aborted=true revoked early/);

      // Aborted before it was posted: fails with the reason and never reaches a worker.
      const early = new AbortController();
      const dropped = run(engine, message("spin"), 1, early.signal);
      early.abort(new Error("closing"));
      await assert.rejects(dropped, /closing/);
      await run(engine, message("ok"));
      assert.equal(engine.stats().crashes, 0);
    });
  });

  test("recycleAfterTasks replaces each worker after that many messages", async () => {
    await withEngine({ workers: 1, concurrencyPerWorker: 2, recycleAfterTasks: 4 }, async (engine) => {
      const threads = new Set<string>();
      for (let i = 0; i < 12; i++) {
        await run(engine, message("whoami")).catch((error: Error) => threads.add(error.message));
      }
      assert.equal(threads.size, 3);
      assert.deepEqual([engine.stats().recycles, engine.stats().crashes], [3, 0]);
    });
  });

  test("close() lets held work finish, then refuses new work", async () => {
    const engine = new WorkerEngine({ module: TEST_WORKER, workers: 1 });
    const held = run(engine, message("sleep", "200"));
    const closed = engine.close();
    await held;
    await closed;
    assert.equal(engine.idleSlots, 0);
    await assert.rejects(run(engine, message("ok")), /closed/);
  });

  test("close() does not wait for work whose signal was aborted", async () => {
    const engine = new WorkerEngine({ module: TEST_WORKER, workers: 1 });
    await run(engine, message("ok")); // the worker is up: the abort reaches running work
    const controller = new AbortController();
    const stuck = run(engine, message("spin", "3000"), 1, controller.signal);
    await new Promise((resolve) => setTimeout(resolve, 100));
    controller.abort(new Error("drain timeout"));
    const failed = assert.rejects(stuck, isCrash(/closed/));
    await engine.close();
    await failed;
  });

  test("after close() the process exits by itself", async () => {
    const runtime = globalThis as unknown as { Deno?: { execPath(): string } };
    const script = new URL("../support/workers/close-exits.ts", import.meta.url).pathname;
    const [command, args] = runtime.Deno
      ? [runtime.Deno.execPath(), ["run", "-A", script]]
      : [process.execPath, [script]];
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "inherit"] });
    let output = "";
    child.stdout.on("data", (chunk) => (output += String(chunk)));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    const code = await new Promise((resolve) => child.on("close", resolve));
    clearTimeout(timer);
    assert.equal(output.trim(), "closed");
    assert.equal(code, 0, "the child exited on its own, with code 0");
  });
});
