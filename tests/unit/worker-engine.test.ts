// The worker engine on its own (no broker): pool, batching, transfer, crashes, timeouts, cancel, close.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Attempt } from "../../src/core/attempt.ts";
import { EngineFailedError, HandlerTimeoutError, WorkerCrashedError } from "../../src/core/errors.ts";
import type { ConsumerMessage } from "../../src/core/message.ts";
import { WorkerEngine, type WorkerEngineSettings } from "../../src/engines/worker/worker-engine.ts";
import { describeMessage } from "../support/workers/describe-message.ts";
import { shaRounds } from "../support/workers/sha-rounds.ts";
import { attemptOutcome } from "../support/engine-outcome.ts";

const encoder = new TextEncoder();
const TEST_WORKER = new URL("../support/workers/test-worker.ts", import.meta.url);
const BROKEN_WORKER = new URL("../support/workers/broken-worker.ts", import.meta.url);
const GATED_WORKER = new URL("../support/workers/gated-worker.ts", import.meta.url);
/** The consumer's defaults (the options layer owns them; the engine requires both). */
const SIZES = { concurrencyPerWorker: 4, maxBatchSize: 64 };

/** A message whose worker behaviour is `op` (see tests/support/workers/test-worker.ts). */
function message(
  op: string,
  arg = "",
  extra: Record<string, string> = {},
  value: Uint8Array | null = null,
): ConsumerMessage {
  const headers = new Map<string, Uint8Array | null>([["op", encoder.encode(op)], ["arg", encoder.encode(arg)]]);
  for (const [name, text] of Object.entries(extra)) headers.set(name, encoder.encode(text));
  return { topic: "t", partition: 0, offset: 0n, key: null, value, headers, timestamp: 0 };
}

function run(engine: WorkerEngine, m: ConsumerMessage, attempt: number | Attempt = 1): Promise<void> {
  return attemptOutcome(engine, m, typeof attempt === "number" ? new Attempt(attempt, 0) : attempt);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Rejects when `promise` has not settled within `ms` (a hang fails the test instead of stalling it). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves once `condition()` holds (polled); rejects after `ms`. */
async function waitFor(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`${what}: not after ${ms} ms`);
    await sleep(10);
  }
}

/** Whether `promise` is still pending after the current macrotask queue drained. */
async function isPending(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(() => (settled = true), () => (settled = true));
  await sleep(0);
  return !settled;
}

/** Runs `body` with an engine that is always closed afterwards. */
async function withEngine(
  options: Partial<WorkerEngineSettings>,
  body: (engine: WorkerEngine) => Promise<void>,
): Promise<void> {
  const engine = new WorkerEngine({ module: TEST_WORKER, workers: 2, ...SIZES, ...options });
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

const isEngineFailure = (pattern?: RegExp) => (error: unknown): boolean => {
  assert.ok(error instanceof EngineFailedError, `expected EngineFailedError, got ${String(error)}`);
  if (pattern) assert.match(error.message, pattern);
  return true;
};

/** A fresh start gate (see tests/support/workers/start-gate.ts): GATED_WORKER loads `loads` times. */
function withStartGate(loads: number, body: () => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "pyrallel-start-gate-"));
  process.env.PYRALLEL_START_GATE = join(dir, "load");
  process.env.PYRALLEL_START_GATE_LOADS = String(loads);
  return body().finally(() => {
    delete process.env.PYRALLEL_START_GATE;
    delete process.env.PYRALLEL_START_GATE_LOADS;
    rmSync(dir, { recursive: true, force: true });
  });
}

describe("WorkerEngine", () => {
  test("runs CPU-bound handlers across the pool", async () => {
    await withEngine({ workers: 2, concurrencyPerWorker: 2 }, async (engine) => {
      assert.equal(engine.idleSlots, 8, "before any report each worker holds twice its concurrency");
      const messages = await Promise.all(Array.from({ length: 40 }, async (_, i) => {
        const value = encoder.encode(`payload ${i}`);
        return message("sha", "200", { expect: await shaRounds(value, 200) }, value);
      }));
      const running = messages.map((m) => run(engine, m));
      assert.equal(engine.idleSlots, 0);
      await Promise.all(running);
      assert.ok(engine.idleSlots >= 2 * 3, "then as deep as 4 ms of the measured handler time (at least one queued)");
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

  test("null and empty keys, values and header values arrive exactly as sent", async () => {
    await withEngine({ workers: 1 }, async (engine) => {
      const empty = new Uint8Array(0);
      const fields: [Uint8Array | null, Uint8Array | null][] = [
        [null, null],
        [empty, empty],
        [null, empty],
        [empty, null],
      ];
      const messages: ConsumerMessage[] = fields.map(([key, value], n) => ({
        topic: "nulls",
        partition: n,
        offset: BigInt(n),
        key,
        value,
        headers: new Map<string, Uint8Array | null>([
          ["op", encoder.encode("describe")],
          ["no-value", null],
          ["empty", empty],
          ["text", encoder.encode(`h${n}`)],
          ["also-null", null],
        ]),
        timestamp: n,
      }));
      // One batch: null spans must not shift the payloads of the messages after them.
      const outcomes = await Promise.allSettled(messages.map((m) => run(engine, m)));
      outcomes.forEach((outcome, n) => {
        assert.equal(outcome.status, "rejected");
        const error = (outcome as PromiseRejectedResult).reason as Error;
        assert.equal(error.name, "Described", error.message);
        assert.deepEqual(JSON.parse(error.message), JSON.parse(describeMessage(messages[n]!)));
      });
      assert.equal(engine.stats().crashes, 0);
    });
  });

  test("thenables with odd `then`s and undescribable thrown values fail their message, not the worker", async () => {
    await withEngine({ workers: 1 }, async (engine) => {
      await run(engine, message("thenable-ok"));
      await assert.rejects(run(engine, message("thenable-throws")), { name: "RangeError", message: "then threw" });
      const getterThrew = { name: "RangeError", message: "then getter threw" };
      await assert.rejects(run(engine, message("thenable-getter-throws")), getterThrew);
      const nullProto = { name: "NonErrorThrown", message: "[object Object]" };
      await assert.rejects(run(engine, message("throw-null-proto")), nullProto);
      await assert.rejects(run(engine, message("thenable-rejects-null-proto")), { name: "NonErrorThrown" });
      await assert.rejects(run(engine, message("throw-unreadable")), { name: "Error", message: "[object Error]" });
      // A thenable that never calls back keeps its message running; the worker runs others meanwhile.
      const attempt = new Attempt(1, 0);
      const forever = run(engine, message("thenable-never"), attempt);
      await run(engine, message("ok"));
      assert.ok(await isPending(forever));
      assert.equal(engine.stats().crashes, 0);
      attempt.abort(new Error("given up")); // close() does not wait for it
      const closed = assert.rejects(forever, /given up/);
      await engine.close();
      await closed;
    });
  });

  test("a worker that exits mid-batch is replaced: what it finished stands, what it ran fails, what it never started runs elsewhere", async () => {
    await withEngine({ workers: 1, concurrencyPerWorker: 2 }, async (engine) => {
      const finished = run(engine, message("ok"));
      const running = run(engine, message("sleep", "2000"));
      const exiting = run(engine, message("exit"));
      const unstarted = run(engine, message("sleep", "10")); // queued behind the 2 running handlers
      await finished; // its result is on the board before the next message starts, reported or not
      for (const attempt of [running, exiting]) await assert.rejects(attempt, isCrash(/worker 0 crashed/));
      await unstarted;
      await Promise.all([run(engine, message("ok")), run(engine, message("ok")), run(engine, message("sleep", "10"))]);
      assert.deepEqual({ ...engine.stats(), recycles: undefined }, {
        workersStarted: 2,
        crashes: 1,
        kills: 0,
        recycles: undefined,
      });
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

  test("start() rejects with EngineFailedError naming the module and the cause when the module throws", async () => {
    const engine = new WorkerEngine({ module: BROKEN_WORKER, workers: 2, ...SIZES });
    const started = performance.now();
    await assert.rejects(engine.start(), isEngineFailure(/broken-worker\.ts.*failed to start.*broken worker module/s));
    assert.ok(performance.now() - started < 10_000, "no restarts before giving up");
    // Nothing was attempted: later messages fail the same way, never with WorkerCrashedError.
    await assert.rejects(run(engine, message("ok")), isEngineFailure(/broken worker module/));
    await engine.close();
  });

  test("a message sent before start() waits for the pool; a failed first start fails it", async () => {
    const engine = new WorkerEngine({ module: BROKEN_WORKER, workers: 1, ...SIZES });
    const held = run(engine, message("ok"));
    await assert.rejects(held, isEngineFailure(/broken worker module/));
    await assert.rejects(engine.start(), isEngineFailure());
    assert.equal(engine.stats().workersStarted, 1, "not restarted");
    await engine.close();
  });

  test("after the pool was ready, failed restarts never fail messages; 5 in a row break the engine", async () => {
    await withStartGate(1, async () => {
      await withEngine({ module: GATED_WORKER, workers: 1 }, async (engine) => {
        await engine.start();
        await run(engine, message("ok"));
        // Attempted on a ready worker: a crash fails it (the control plane retries it).
        await assert.rejects(run(engine, message("exit")), isCrash(/worker 0 crashed/));
        // From here on every restart of slot 0 fails while loading: these messages never run.
        const started = performance.now();
        const held = [run(engine, message("ok")), run(engine, message("ok"))];
        const brokenSlot = /worker 0 failed to start 5 times in a row.*gated-worker\.ts.*load \d refused/s;
        for (const attempt of held) await assert.rejects(attempt, isEngineFailure(brokenSlot));
        const elapsed = performance.now() - started;
        assert.ok(elapsed >= 1_400, `restart delays 100 + 200 + 400 + 800 ms, broken after ${elapsed} ms`);
        await assert.rejects(run(engine, message("ok")), isEngineFailure(/5 times in a row/));
        await assert.rejects(engine.start(), isEngineFailure());
        assert.deepEqual([engine.stats().workersStarted, engine.stats().crashes], [6, 6]);
      });
    });
  });

  test("a message held by a worker that fails to start moves to a ready worker", async () => {
    await withStartGate(2, async () => {
      await withEngine({ module: GATED_WORKER, workers: 2, concurrencyPerWorker: 1 }, async (engine) => {
        await Promise.all([run(engine, message("ok")), run(engine, message("ok"))]); // both ready
        await assert.rejects(run(engine, message("exit")), isCrash(/worker 0 crashed/));
        // Worker 1 is busy for a while, so the next message goes to worker 0's failing replacement
        // and is moved on each failed start, until worker 1 is free again.
        const busy = run(engine, message("sleep", "300"));
        const moved = run(engine, message("ok"));
        await within(Promise.all([busy, moved]), 5_000, "the moved message");
        // Slot 0 keeps failing: its 5th failed start in a row breaks the engine.
        await waitFor(() => engine.stats().crashes === 6, 10_000, "the 5th failed start");
        await assert.rejects(run(engine, message("ok")), isEngineFailure(/worker 0 failed to start 5 times/));
      });
    });
  });

  test("handlerTimeoutMs: the stuck handler's worker is terminated, the message fails with HandlerTimeoutError, the worker's unstarted ones run elsewhere", async () => {
    // Deno's terminate() cannot stop running code (denoland/deno#35657): there the attempt ends
    // only when the spinning handler returns, like on the async engine.
    const onDeno = "Deno" in globalThis;
    await withEngine({ workers: 1, concurrencyPerWorker: 4, handlerTimeoutMs: 300 }, async (engine) => {
      await run(engine, message("ok")); // the worker is up: the next two go out as separate batches
      const started = performance.now();
      const stuckAttempt = new Attempt(1, 0);
      const stuck = run(engine, message("spin", "1500"), stuckAttempt);
      await new Promise((resolve) => setTimeout(resolve, 50)); // a later batch on the same worker
      const bystander = run(engine, message("sleep", "10")); // queued behind the spinning handler
      const outcome = await stuck.then(() => "returned", (error: unknown) => error);
      const elapsed = performance.now() - started;
      assert.ok(stuckAttempt.reason instanceof HandlerTimeoutError, "the attempt was aborted with the timeout");
      assert.equal(stuckAttempt.reason.timeoutMs, 300);
      if (onDeno) {
        assert.equal(outcome, "returned");
        assert.ok(elapsed >= 1_450, `settled after ${elapsed} ms, before the handler returned`);
      } else {
        assert.equal(outcome, stuckAttempt.reason, "it fails with the timeout");
        assert.ok(elapsed >= 290 && elapsed < 1_500, `timed out after ${elapsed} ms`);
      }
      await bystander; // never started on the terminated worker: not an attempt, it ran on the successor
      await run(engine, message("ok"));
      assert.deepEqual([engine.stats().kills, engine.stats().workersStarted], [1, 2]);
    });
  });

  test("aborting the attempt aborts the handler's signal in the worker", async () => {
    await withEngine({}, async (engine) => {
      // Workers up first: the abort must reach a handler that is already running.
      await engine.start();
      await Promise.all([run(engine, message("ok")), run(engine, message("ok"))]);
      const revoked = new Attempt(1, 0);
      const running = run(engine, message("wait-abort"), revoked);
      assert.ok(revoked.onAbort !== undefined, "the engine set the attempt's abort hook");
      await sleep(100);
      revoked.abort(new Error("partition revoked"));
      await assert.rejects(running, /aborted: partition revoked/);
      assert.equal(revoked.onAbort, undefined, "cleared once the task settled");

      // A handler that reads its signal only after the cancel still sees it aborted.
      const late = new Attempt(1, 0);
      const lateAttempt = run(engine, message("late-signal", "300"), late);
      await sleep(100);
      late.abort(new Error("revoked early"));
      await assert.rejects(lateAttempt, /late: aborted=true revoked early/);

      // Aborted before it was posted: fails with the reason and never reaches a worker.
      const early = new Attempt(1, 0);
      const dropped = run(engine, message("spin"), early);
      early.abort(new Error("closing"));
      await assert.rejects(dropped, /closing/);
      // Aborted before execute(): rejected with the reason, not sent.
      const gone = new Attempt(1, 0);
      gone.abort(new Error("already revoked"));
      await assert.rejects(run(engine, message("spin"), gone), /already revoked/);
      assert.equal(gone.onAbort, undefined);
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

  test("recycleAfterTasks: a retiring worker whose last message was cancelled before posting is replaced", async () => {
    await withEngine({ workers: 1, recycleAfterTasks: 2 }, async (engine) => {
      await run(engine, message("ok")); // 1 of 2: the worker is up
      const cancelled = new Attempt(1, 0);
      const dropped = run(engine, message("ok"), cancelled); // 2 of 2: the worker retires
      cancelled.abort(new Error("revoked")); // same tick: never posted
      await assert.rejects(dropped, /revoked/);
      assert.ok(engine.idleSlots > 0, "the replacement takes work");
      await within(run(engine, message("ok")), 5_000, "a message after the cancelled one");
      assert.equal(engine.stats().recycles, 1);
    });
  });

  test("close() lets held work finish, then refuses new work", async () => {
    const engine = new WorkerEngine({ module: TEST_WORKER, workers: 1, ...SIZES });
    const held = run(engine, message("sleep", "200"));
    const closed = engine.close();
    await held;
    await closed;
    assert.equal(engine.idleSlots, 0);
    await assert.rejects(run(engine, message("ok")), /closed/);
  });

  test("close() does not wait for work whose attempt was aborted", async () => {
    const engine = new WorkerEngine({ module: TEST_WORKER, workers: 1, ...SIZES });
    await run(engine, message("ok")); // the worker is up: the abort reaches running work
    const attempt = new Attempt(1, 0);
    const stuck = run(engine, message("spin", "3000"), attempt);
    await sleep(100);
    attempt.abort(new Error("drain timeout"));
    const failed = assert.rejects(stuck, /drain timeout/); // the attempt's own reason
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
