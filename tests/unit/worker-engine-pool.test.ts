// The worker engine's pool on stub threads in virtual time: starts, the ready deadline, deaths,
// successors and their restart delays, the rules that break the pool, recycling, and closing. The
// tenant is a log of what the pool tells it.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { EngineFailedError, WorkerCrashedError } from "../../src/core/errors.ts";
import { type PoolTenant, type PoolWorker, WorkerPool } from "../../src/engines/worker/pool.ts";
import type { FromWorker, ToWorker } from "../../src/engines/worker/protocol.ts";
import { type SpawnWorker, WorkerExitedError, type WorkerThreadEvents } from "../../src/engines/worker/spawn.ts";
import { flushMicrotasks, VirtualClock } from "../simulation/virtual-clock.ts";

/** One stub thread: the test sends its events. */
interface StubThread {
  readonly name: string;
  readonly spawnedAt: number;
  readonly events: WorkerThreadEvents;
  readonly posts: ToWorker[];
  terminated: boolean;
}

function setup(workers = 1, options: { failPost?: boolean } = {}) {
  const time = new VirtualClock();
  const threads: StubThread[] = [];
  const spawn: SpawnWorker = (_url, name, events) => {
    const thread: StubThread = { name, spawnedAt: time.now, events, posts: [], terminated: false };
    threads.push(thread);
    return {
      post: (message) => {
        if (options.failPost) throw new DOMException("could not clone", "DataCloneError");
        thread.posts.push(message);
      },
      terminate: () => {
        thread.terminated = true;
        return Promise.resolve();
      },
      haltsRunningCode: true,
    };
  };
  const log: string[] = [];
  /** The pool's workers in the order they joined. */
  const members: PoolWorker[] = [];
  const tenant: PoolTenant = {
    joined(worker) {
      const n = members.push(worker) - 1;
      log.push(`joined #${n} slot ${worker.slot}`);
      return {
        ready: () => log.push(`ready #${n}`),
        done: (results) => log.push(`done #${n} ${results.ok.join(",")}`),
        paused: (slot, _id, ms) => log.push(`paused #${n} slot ${slot} for ${ms} ms`),
        ended: (failure, restarted) =>
          log.push(`ended #${n} ${restarted ? "restarted" : "final"}: ${String(failure?.())}`),
      };
    },
    stopped: (failure) => log.push(`stopped: ${String(failure())}`),
  };
  const pool = new WorkerPool({ url: new URL("file:///w.ts"), workers, clock: time.clock("pool"), spawn }, tenant);
  const send = (thread: StubThread, data: FromWorker) => thread.events.message(data);
  const outcome = { settled: false, error: undefined as unknown };
  pool.started.then(
    () => (outcome.settled = true),
    (error: unknown) => Object.assign(outcome, { settled: true, error }),
  );
  return { time, pool, threads, log, members, send, started: outcome };
}

describe("worker engine pool", () => {
  test("launch() starts one named thread per slot, once; `started` resolves when the first is ready", async () => {
    const { pool, threads, log, send, started } = setup(2);
    assert.equal(pool.launched, false);
    pool.launch();
    pool.launch();
    assert.deepEqual(threads.map((thread) => thread.name), ["pyrallel-worker-0", "pyrallel-worker-1"]);
    send(threads[1]!, { type: "ready" });
    send(threads[1]!, { type: "done", ok: [4, 5], failed: [], busyMs: 1 });
    await flushMicrotasks();
    assert.equal(started.settled, true);
    assert.deepEqual(log, ["joined #0 slot 0", "joined #1 slot 1", "ready #1", "done #1 4,5"]);
    assert.deepEqual(pool.stats(), { workersStarted: 2, crashes: 0, kills: 0, recycles: 0 });
  });

  test("a module that returned without calling runWorker() (its thread ended, code 0) says so", async () => {
    const { pool, threads, started } = setup(1);
    pool.launch();
    threads[0]!.events.died(new WorkerExitedError(0));
    await flushMicrotasks();
    assert.ok(started.error instanceof EngineFailedError);
    assert.equal(
      started.error.message,
      "the worker module file:///w.ts failed to start: it ended without calling runWorker(handler): call it in the module",
    );
  });

  test("a death before any worker was ready breaks the pool: no successor, everything terminated", async () => {
    const { pool, threads, log, send, started } = setup(2);
    pool.launch();
    threads[0]!.events.died(new Error("syntax error"));
    send(threads[1]!, { type: "ready" }); // too late: the pool is broken
    await flushMicrotasks();
    assert.ok(started.error instanceof EngineFailedError);
    assert.equal(pool.broken, started.error);
    assert.match(started.error.message, /the worker module file:\/\/\/w\.ts failed to start: Error: syntax error/);
    assert.ok(threads.every((thread) => thread.terminated));
    assert.deepEqual(log.slice(2), [
      `stopped: ${started.error}`,
      `ended #0 final: ${started.error}`,
      `ended #1 final: ${started.error}`,
    ], "the waiting messages fail at once; a worker's end is told once its thread is gone");
    pool.launch();
    assert.equal(threads.length, 2);
  });

  test("a worker that does not call runWorker() within 30 s dies", async () => {
    const { time, pool, started } = setup();
    pool.launch();
    await time.runUntil(() => started.settled, 100_000);
    assert.equal(time.now, 30_000);
    assert.match(String(started.error), /did not call runWorker\(\) within 30000 ms/);
  });

  test("a crash after ready: the successor joins at once; the crashed worker's end is told once its thread is gone", async () => {
    const { pool, threads, log, send } = setup();
    pool.launch();
    send(threads[0]!, { type: "ready" });
    threads[0]!.events.died(new Error("boom"));
    threads[0]!.events.died(new Error("exit code 1")); // only the first death counts
    send(threads[0]!, { type: "done", ok: [1], failed: [], busyMs: 1 }); // nor does a dead worker's report
    assert.equal(threads.length, 2, "no restart delay after a crash");
    assert.deepEqual(log.slice(2), ["joined #1 slot 0"]);
    await flushMicrotasks();
    assert.deepEqual(log.slice(2), [
      "joined #1 slot 0",
      "ended #0 restarted: WorkerCrashedError: worker 0 crashed before this attempt finished: Error: boom",
    ]);
    assert.equal(threads[0]!.terminated, true);
    assert.deepEqual(pool.stats(), { workersStarted: 2, crashes: 1, kills: 0, recycles: 0 });
  });

  test("after a worker was ready, failed starts are retried after 100, 200, 400, 800 ms; the 5th breaks the pool", async () => {
    const { time, pool, threads, log, send } = setup();
    pool.launch();
    send(threads[0]!, { type: "ready" });
    send(threads[0]!, { type: "exit" });
    for (let failed = 0; failed < 5; failed++) {
      await time.runUntil(() => threads.length === failed + 2, 100_000);
      threads.at(-1)!.events.died(new Error(`load ${failed} refused`));
    }
    await flushMicrotasks();
    const gaps = threads.slice(1).map((thread, i) => thread.spawnedAt - (threads[i]!.spawnedAt));
    assert.deepEqual(gaps, [0, 100, 200, 400, 800]);
    assert.match(
      String(pool.broken),
      /worker 0 failed to start 5 times in a row \(module file:\/\/\/w\.ts\): Error: load 4 refused/,
    );
    const [ended, ...rest] = log.slice(2).filter((line) => !line.startsWith("joined"));
    assert.match(ended!, /^ended #0 restarted: WorkerCrashedError: .*the worker exited/);
    assert.match(rest.at(-1)!, /^ended #5 final: EngineFailedError/);
    assert.match(rest.at(-2)!, /^stopped: EngineFailedError/);
    assert.ok(rest.slice(0, -2).every((line) => /^ended #\d restarted: undefined$/.test(line)), log.join("\n"));
    assert.equal(time.pending(), 0);
  });

  test("recycle() and kill() replace the worker and count it; a failed post is the worker's death", async () => {
    const { pool, threads, log, members, send } = setup();
    pool.launch();
    send(threads[0]!, { type: "ready" });
    members[0]!.recycle();
    send(threads[1]!, { type: "ready" });
    members[1]!.kill(() => new WorkerCrashedError("too slow"));
    members[1]!.kill(() => "ignored: already gone");
    members[2]!.post({ type: "cancel", slot: 0, id: 1, reason: { name: "Error", message: "x" } }, []);
    assert.deepEqual(threads[2]!.posts.map((post) => post.type), ["cancel"]);
    await flushMicrotasks();
    assert.deepEqual(log.filter((line) => line.startsWith("ended")), [
      "ended #0 restarted: undefined",
      "ended #1 restarted: WorkerCrashedError: too slow",
    ]);
    assert.deepEqual(pool.stats(), { workersStarted: 3, crashes: 0, kills: 1, recycles: 1 });

    const failing = setup(1, { failPost: true });
    failing.pool.launch();
    failing.send(failing.threads[0]!, { type: "ready" });
    failing.members[0]!.post({ type: "cancel", slot: 0, id: 1, reason: { name: "Error", message: "x" } }, []);
    assert.equal(failing.members[0]!.dead, true);
    await flushMicrotasks();
    assert.match(failing.log.at(-1)!, /^ended #0 restarted: WorkerCrashedError: .*DataCloneError: could not clone/);
  });

  test("closing: `started` rejects if still pending, no launch; terminate() ends every worker for good", async () => {
    const { pool, threads, log, send, started } = setup(2);
    pool.launch();
    send(threads[0]!, { type: "ready" });
    pool.beginClose();
    assert.equal(pool.closing, true);
    await pool.terminate(() => "closed");
    assert.equal(started.error, undefined, "it had resolved");
    assert.ok(threads.every((thread) => thread.terminated));
    assert.deepEqual(log.slice(-3), ["stopped: closed", "ended #0 final: closed", "ended #1 final: closed"]);

    const early = setup();
    early.pool.beginClose();
    early.pool.launch();
    await flushMicrotasks();
    assert.equal(early.threads.length, 0);
    assert.match(
      String(early.started.error),
      /EngineFailedError: the worker engine was closed before a worker was ready/,
    );
  });
});
