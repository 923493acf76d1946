// The real WorkerEngine in virtual time, on fake threads (tests/simulation/fake-worker-thread.ts):
// exact timings of starts, restarts, crashes and timeouts, without waiting for any of them.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Attempt } from "../../src/core/attempt.ts";
import type { Clock } from "../../src/core/clock.ts";
import { EngineFailedError, HandlerTimeoutError, WorkerCrashedError } from "../../src/core/errors.ts";
import type { ConsumerMessage, HandlerContext } from "../../src/core/message.ts";
import { NotStartedError } from "../../src/core/ports/execution-engine.ts";
import { WorkerEngine, type WorkerEngineSettings } from "../../src/engines/worker/worker-engine.ts";
import type { TaskRunner } from "../../src/engines/worker/task-runner.ts";
import { fakeSpawn, type FakeThreadInfo, type FakeWorkerBehaviour } from "../simulation/fake-worker-thread.ts";
import { VirtualClock } from "../simulation/virtual-clock.ts";
import { attemptOutcome, chainOutcomes } from "../support/engine-outcome.ts";

const LOAD_MS = 50;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A promise's outcome, readable synchronously while the clock runs. */
interface Outcome {
  settled: boolean;
  at: number;
  error: unknown;
}

/** A pool on fake threads; `behave` picks each thread's behaviour (default: loads, runs `work`). */
function setup(
  options: Partial<WorkerEngineSettings>,
  behave: (thread: FakeThreadInfo) => Partial<FakeWorkerBehaviour> = () => ({}),
) {
  const time = new VirtualClock();
  const clock = time.clock("worker-engine");
  /** Which thread ran each message (by its value), in completion order. */
  const ranOn: string[] = [];
  const work = async (message: ConsumerMessage, context: HandlerContext, thread: FakeThreadInfo): Promise<void> => {
    const ms = Number(decoder.decode(message.value ?? new Uint8Array()));
    await sleepUnlessAborted(clock, ms, context.signal);
    ranOn.push(`${thread.name}#${thread.start}`);
  };
  const spawn = fakeSpawn(clock, (thread) => ({
    loadMs: LOAD_MS,
    loads: true,
    handle: (message, context) => work(message, context, thread),
    ...behave(thread),
  }));
  const engine = new WorkerEngine({
    module: "file:///fake-worker.ts",
    workers: 1,
    concurrencyPerWorker: 4,
    maxBatchSize: 64,
    clock,
    spawn,
    ...options,
  });
  const outcome = (promise: Promise<unknown>): Outcome => {
    const result: Outcome = { settled: false, at: NaN, error: undefined };
    promise.then(
      () => Object.assign(result, { settled: true, at: time.now }),
      (error: unknown) => Object.assign(result, { settled: true, at: time.now, error }),
    );
    return result;
  };
  /** Runs virtual time until every outcome settled (fails after `deadline` virtual ms). */
  const settle = async (outcomes: Outcome[], deadline = 120_000): Promise<void> => {
    const done = await time.runUntil(() => outcomes.every((o) => o.settled), deadline);
    assert.ok(done, `${outcomes.filter((o) => !o.settled).length} still pending at ${time.now} ms`);
  };
  /** Runs a message that takes `ms` of handler time. */
  const run = (ms: number, attempt = new Attempt(1, time.now)): Outcome =>
    outcome(attemptOutcome(engine, messageOf(ms), attempt));
  return { time, engine, ranOn, outcome, settle, run };
}

/** Virtual sleep that rejects when `signal` aborts (e.g. its fake thread was terminated). */
function sleepUnlessAborted(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = clock.setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clock.clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

function messageOf(ms: number): ConsumerMessage {
  const value = encoder.encode(String(ms));
  return { topic: "t", partition: 0, offset: 0n, key: null, value, headers: new Map(), timestamp: 0 };
}

const isA = (type: new (...args: never[]) => Error) => (outcome: Outcome): boolean => outcome.error instanceof type;

describe("WorkerEngine in virtual time (fake threads)", () => {
  test("start() resolves when the first worker is ready; messages run on the pool", async () => {
    const { time, engine, outcome, settle, run, ranOn } = setup({ workers: 2, concurrencyPerWorker: 2 });
    const started = outcome(engine.start());
    await settle([started]);
    assert.equal(started.at, LOAD_MS);
    assert.equal(engine.idleSlots, 8, "before any report each worker holds twice its concurrency");
    await time.runUntil(() => false, LOAD_MS); // the second worker is ready too (a ready one is preferred)
    const runs = Array.from({ length: 4 }, () => run(100));
    assert.equal(engine.idleSlots, 4);
    await settle(runs);
    assert.ok(runs.every((o) => o.error === undefined && o.at === LOAD_MS + 100));
    assert.deepEqual(new Set(ranOn), new Set(["pyrallel-worker-0#0", "pyrallel-worker-1#0"]));
    await engine.close();
    assert.equal(time.pending(), 0, "no timer left behind");
  });

  test("a module that does not load: start() rejects with EngineFailedError at once, no restart", async () => {
    const { time, engine, outcome, settle, run } = setup({ workers: 3 }, () => ({ loads: false }));
    const held = run(10);
    const started = outcome(engine.start());
    await settle([started, held]);
    assert.ok(started.error instanceof EngineFailedError);
    assert.match(started.error.message, /file:\/\/\/fake-worker\.ts failed to start: Error: the fake worker module/);
    assert.equal(started.at, LOAD_MS);
    assert.ok(isA(EngineFailedError)(held), "never WorkerCrashedError: it was not attempted");
    assert.deepEqual([engine.stats().workersStarted, engine.stats().crashes], [3, 1]);
    const later = run(10);
    await settle([later]);
    assert.ok(isA(EngineFailedError)(later));
    await engine.close();
    assert.equal(time.pending(), 0);
  });

  test("a module that never calls runWorker(): start() rejects after the 30 s ready deadline", async () => {
    const { engine, outcome, settle } = setup({}, () => ({ loadMs: 3_600_000 }));
    const started = outcome(engine.start());
    await settle([started]);
    assert.ok(started.error instanceof EngineFailedError);
    assert.match(started.error.message, /did not call runWorker\(\) within 30000 ms/);
    assert.equal(started.at, 30_000);
    await engine.close();
  });

  test("a crash after ready fails the held messages with WorkerCrashedError; the replacement runs on", async () => {
    const { engine, outcome, settle, run, ranOn } = setup({ concurrencyPerWorker: 4 }, (thread) => ({
      // The first thread dies 30 ms into its first batch.
      crashAfterMs: () => (thread.start === 0 ? 30 : undefined),
    }));
    await settle([outcome(engine.start())]);
    const held = [run(100), run(100)];
    await settle(held);
    assert.ok(held.every(isA(WorkerCrashedError)));
    assert.match((held[0]!.error as Error).message, /worker 0 crashed.*fake worker crashed 30 ms after a batch/);
    assert.equal(held[0]!.at, LOAD_MS + 30);
    const next = run(10);
    await settle([next]);
    assert.equal(next.error, undefined);
    assert.deepEqual(ranOn, ["pyrallel-worker-0#1"], "the crashed thread never reported again");
    assert.deepEqual([engine.stats().workersStarted, engine.stats().crashes], [2, 1]);
    await engine.close();
  });

  test("failed restarts after ready: messages wait, are never failed, and 5 in a row break the engine", async () => {
    const { time, engine, outcome, settle, run } = setup({}, (thread) => ({
      loads: thread.start === 0,
      crashAfterMs: () => 0,
    }));
    await settle([outcome(engine.start())]);
    const crashed = run(10);
    await settle([crashed]);
    assert.ok(isA(WorkerCrashedError)(crashed));
    const crashedAt = time.now;
    const held = [run(10), run(10)];
    await settle(held);
    for (const o of held) {
      assert.ok(o.error instanceof EngineFailedError, `got ${String(o.error)}`);
      assert.match(o.error.message, /worker 0 failed to start 5 times in a row \(module file:\/\/\/fake-worker\.ts\)/);
    }
    // Five loads of 50 ms, and restart delays of 100, 200, 400 and 800 ms between them.
    assert.equal(held[0]!.at - crashedAt, 5 * LOAD_MS + 1_500);
    const later = run(10);
    await settle([later]);
    assert.ok(isA(EngineFailedError)(later));
    assert.ok(engine.idleSlots > 0, "a broken engine takes execute() calls, to reject them at once");
    assert.deepEqual([engine.stats().workersStarted, engine.stats().crashes], [6, 6]);
    await engine.close();
    assert.equal(time.pending(), 0);
  });

  test("a message held by a worker that fails to start moves to a ready worker", async () => {
    const { engine, outcome, settle, run, ranOn } = setup({ workers: 2, concurrencyPerWorker: 1 }, (thread) => ({
      // Slot 0's first thread crashes on its first batch and never loads again; slot 1 is fine.
      loads: thread.name.endsWith("-1") || thread.start === 0,
      crashAfterMs: () => (thread.name.endsWith("-0") ? 0 : undefined),
    }));
    await settle([outcome(engine.start())]);
    const crashed = run(10);
    await settle([crashed]);
    assert.ok(isA(WorkerCrashedError)(crashed));
    const busy = [run(120), run(120)]; // slot 1 holds its depth (2) until the first finishes
    const moved = run(10); // goes to slot 0's replacement, which fails to load
    await settle([...busy, moved]);
    assert.equal(moved.error, undefined, "moved, not failed");
    assert.deepEqual(ranOn, ["pyrallel-worker-1#0", "pyrallel-worker-1#0", "pyrallel-worker-1#0"]);
    assert.equal(engine.stats().crashes, 3, "one crash and 2 failed starts so far");
    await engine.close();
  });

  test("handlerTimeoutMs aborts the attempt with HandlerTimeoutError and replaces the worker", async () => {
    const { engine, outcome, settle, run } = setup({ handlerTimeoutMs: 500 }, () => ({
      handle: () => new Promise<void>(() => undefined), // never settles
    }));
    await settle([outcome(engine.start())]);
    const attempt = new Attempt(1, 0);
    const stuck = run(0, attempt);
    await settle([stuck]);
    assert.ok(stuck.error instanceof HandlerTimeoutError);
    assert.equal(stuck.at, LOAD_MS + 500);
    assert.equal(attempt.reason, stuck.error);
    assert.deepEqual([engine.stats().kills, engine.stats().workersStarted], [1, 2]);
    await engine.close();
  });

  test("recycleAfterTasks: a single worker retiring on a cancelled message is still replaced", async () => {
    const { engine, outcome, settle, run } = setup({ recycleAfterTasks: 1 });
    await settle([outcome(engine.start())]);
    const attempt = new Attempt(1, 0);
    const cancelled = run(10, attempt);
    attempt.abort(new Error("revoked"));
    const next = run(10);
    await settle([cancelled, next]);
    assert.match(String(cancelled.error), /revoked/);
    assert.equal(next.error, undefined);
    assert.equal(engine.stats().recycles, 2);
    await engine.close();
  });
});

describe("WorkerEngine chains (executeChain) in virtual time", () => {
  /** A chain of messages of `values`; each outcome records the order it settled in. */
  function chainOf(
    context: ReturnType<typeof setup>,
    values: readonly string[],
    attempts = values.map(() => new Attempt(1, context.time.now)),
  ) {
    const order: number[] = [];
    const messages = values.map((value, i): ConsumerMessage => ({
      ...messageOf(0),
      offset: BigInt(i),
      value: encoder.encode(value),
    }));
    const outcomes = chainOutcomes(context.engine, messages, attempts).map((promise, i) => {
      const outcome = context.outcome(promise);
      promise.then(() => order.push(i), () => order.push(i));
      return outcome;
    });
    return { outcomes, order, attempts };
  }

  /**
   * A started engine whose handlers take the ms in their value ("fail" throws at once) and ignore
   * their signal; `ran` and `startedAt` log what they ran and when.
   */
  async function started(options: Partial<WorkerEngineSettings>) {
    const ran: string[] = [];
    const startedAt: number[] = [];
    const handlers: { clock?: Clock } = {};
    const context = setup(options, () => ({
      handle: async (message: ConsumerMessage) => {
        const value = decoder.decode(message.value!);
        ran.push(`${message.offset}`);
        startedAt.push(handlers.clock!.now());
        if (value === "fail") throw new Error("handler failed");
        await new Promise<void>((resolve) => handlers.clock!.setTimeout(resolve, Number(value)));
      },
    }));
    handlers.clock = context.time.clock("handlers");
    await context.settle([context.outcome(context.engine.start())]);
    return { context, ran, startedAt };
  }

  test("runs one message after another on one worker, each once the one before succeeded", async () => {
    const { context, ran, startedAt } = await started({ workers: 2, concurrencyPerWorker: 4 });
    await context.time.runUntil(() => false, 2 * LOAD_MS); // both workers ready
    const { outcomes, order } = chainOf(context, ["10", "10", "10"]);
    await context.settle(outcomes);
    assert.ok(outcomes.every((o) => o.error === undefined));
    assert.deepEqual(order, [0, 1, 2]);
    assert.deepEqual(ran, ["0", "1", "2"]);
    // With 4 handlers at once they would all start together: each starts as the one before ends.
    assert.deepEqual(startedAt.map((at) => at - startedAt[0]!), [0, 10, 20]);
    await context.engine.close();
  });

  test("a failure breaks the chain: the messages after it never start, and settle as not started first", async () => {
    const { context, ran } = await started({ concurrencyPerWorker: 4 });
    const { outcomes, order } = chainOf(context, ["10", "fail", "10", "10"]);
    await context.settle(outcomes);
    assert.equal(outcomes[0]!.error, undefined);
    assert.match(String(outcomes[1]!.error), /handler failed/);
    assert.ok(outcomes.slice(2).every(isA(NotStartedError)), "the messages after the failure did not run");
    assert.deepEqual(ran, ["0", "1"]);
    assert.deepEqual(order, [0, 2, 3, 1], "given back before the failure settles");
    await context.engine.close();
  });

  test("a follower started as its predecessor's attempt was given up on counts for nothing; the predecessor waits for it", async () => {
    // The handlers ignore their signal: the predecessor returns normally after its abort.
    const { context, ran } = await started({ concurrencyPerWorker: 4 });
    const { outcomes, order, attempts } = chainOf(context, ["10", "10", "10"]);
    await context.time.runUntil(() => false, LOAD_MS + 5);
    attempts[0]!.abort(new Error("revoked"));
    await context.settle(outcomes);
    assert.deepEqual(ran, ["0", "1"], "the follower started before the worker heard of the abort");
    assert.equal(
      outcomes[0]!.error,
      undefined,
      "the predecessor's handler returned (the control plane counts it failed)",
    );
    assert.ok(isA(NotStartedError)(outcomes[1]!) && isA(NotStartedError)(outcomes[2]!));
    assert.deepEqual(order, [2, 1, 0], "the predecessor settles only once the follower it started ended");
    assert.ok(outcomes[0]!.at >= outcomes[1]!.at);
    await context.engine.close();
  });

  for (const [name, posted] of [["not posted yet", false], ["posted already", true]] as const) {
    test(`a follower with no slot left on its worker, its predecessor ${name}, leaves nothing kept in the worker`, async () => {
      const runners: TaskRunner[] = [];
      const context = setup(
        { workers: 1, concurrencyPerWorker: 1, maxBatchSize: posted ? 1 : 64 },
        () => ({ loaded: (runner) => runners.push(runner) }),
      );
      await context.settle([context.outcome(context.engine.start())]);
      // The worker's slots (1 running + 256 queued) all taken but one: the chain's head takes it.
      const fill = Array.from({ length: 256 }, () => context.run(1));
      const { outcomes } = chainOf(context, ["1", "1"]);
      await context.settle([...fill, ...outcomes]);
      assert.equal(outcomes[0]!.error, undefined);
      assert.ok(isA(NotStartedError)(outcomes[1]!), "the follower was given back, not run");
      assert.equal(runners.length, 1);
      assert.equal(
        runners[0]!.chainOutcomesKept,
        0,
        "the predecessor's outcome is not kept for a follower that never comes",
      );
      await context.engine.close();
    });
  }
});
