// The worker engine's dispatcher on stub pool workers: which worker gets which message, batching,
// capacity, results and cancels, handler timeouts, recycling, and what happens to a gone worker's
// messages. No thread, no pool: each stub records what it was posted.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Attempt } from "../../src/core/attempt.ts";
import { EngineFailedError, HandlerTimeoutError, WorkerCrashedError } from "../../src/core/errors.ts";
import type { ConsumerMessage } from "../../src/core/message.ts";
import { TaskDispatcher, type TaskDispatcherSettings } from "../../src/engines/worker/dispatcher.ts";
import type { Failure, PoolWorker, WorkerListener } from "../../src/engines/worker/pool.ts";
import type { ToWorker, WireTask } from "../../src/engines/worker/protocol.ts";
import { flushMicrotasks, VirtualClock } from "../simulation/virtual-clock.ts";

type RunMessage = Extract<ToWorker, { type: "run" }>;

/** A pool worker that records what it is posted; the test plays the pool. */
class StubWorker implements PoolWorker {
  readonly slot: number;
  ready = false;
  dead = false;
  readonly posts: ToWorker[] = [];
  recycled = 0;
  timedOutWith: Failure | undefined = undefined;
  readonly listener: WorkerListener;

  constructor(dispatcher: TaskDispatcher, slot: number, ready = true) {
    this.slot = slot;
    this.listener = dispatcher.joined(this);
    if (ready) this.becomeReady();
  }

  post(message: ToWorker): void {
    this.posts.push(message);
  }

  recycle(): void {
    this.recycled++;
  }

  timedOut(failure: Failure): void {
    this.timedOutWith = failure;
  }

  becomeReady(): void {
    this.ready = true;
    this.listener.ready();
  }

  /** The batches posted so far, as the ids of their tasks. */
  batches(): number[][] {
    return this.runs().map((run) => run.tasks.map((task) => task.id));
  }

  /** Every task posted so far. */
  tasks(): WireTask[] {
    return this.runs().flatMap((run) => run.tasks);
  }

  runs(): RunMessage[] {
    return this.posts.filter((post): post is RunMessage => post.type === "run");
  }
}

/** Ends `worker` as the pool would: its successor (if `restarted`) joins before the old one ends. */
function end(
  dispatcher: TaskDispatcher,
  worker: StubWorker,
  failure: Failure | undefined,
  restarted: boolean,
): StubWorker | undefined {
  worker.dead = true;
  const successor = restarted ? new StubWorker(dispatcher, worker.slot, false) : undefined;
  worker.listener.ended(failure, restarted);
  return successor;
}

function setup(settings: Partial<TaskDispatcherSettings> = {}) {
  const time = new VirtualClock();
  const dispatcher = new TaskDispatcher({
    concurrencyPerWorker: 2,
    maxBatchSize: 64,
    handlerTimeoutMs: undefined,
    recycleAfterTasks: undefined,
    clock: time.clock("dispatcher"),
    ...settings,
  });
  const run = (attempt = new Attempt(1, 0)) => {
    const outcome = { settled: false, error: undefined as unknown, attempt };
    dispatcher.execute(message, attempt).then(
      () => (outcome.settled = true),
      (error: unknown) => Object.assign(outcome, { settled: true, error }),
    );
    return outcome;
  };
  return { time, dispatcher, run };
}

const message: ConsumerMessage = {
  topic: "t",
  partition: 1,
  offset: 7n,
  key: null,
  value: null,
  headers: new Map(),
  timestamp: 0,
};

describe("worker engine dispatcher", () => {
  test("messages of one tick go out as one batch on the next microtask; maxBatchSize splits at once", async () => {
    const { dispatcher, run } = setup({ concurrencyPerWorker: 10, maxBatchSize: 3 });
    const worker = new StubWorker(dispatcher, 0);
    assert.deepEqual(worker.posts.map((post) => post.type), ["init"]);
    for (let i = 0; i < 4; i++) run();
    assert.deepEqual(worker.batches(), [[0, 1, 2]], "a full batch is posted without waiting");
    await flushMicrotasks();
    assert.deepEqual(worker.batches(), [[0, 1, 2], [3]]);
    assert.equal(worker.tasks()[0]!.offset, 7n);
  });

  test("the least-loaded worker gets each message; a ready one before one still starting; full ones last", async () => {
    const { dispatcher, run } = setup({ concurrencyPerWorker: 2 });
    const starting = new StubWorker(dispatcher, 0, false);
    const ready = [new StubWorker(dispatcher, 1), new StubWorker(dispatcher, 2)];
    for (let i = 0; i < 7; i++) run();
    await flushMicrotasks();
    // 0..3 fill the ready workers, alternating; 4 and 5 go to the starting one (below capacity);
    // 6 finds every worker full and joins the least-loaded, preferring a ready one.
    assert.deepEqual(ready.map((worker) => worker.tasks().map((task) => task.id)), [[0, 2, 6], [1, 3]]);
    assert.equal(starting.runs().length, 0, "nothing posted before ready");
    assert.equal(dispatcher.idleSlots, 0);
    starting.becomeReady();
    const init = starting.posts[0];
    assert.ok(init?.type === "init");
    assert.equal(init.lowWater, 1, "the worker reports at once when down to half its capacity");
    assert.deepEqual(starting.batches(), [[4, 5]]);
  });

  test("results settle their attempts: a worker's error comes back with its name; idleSlots follow", async () => {
    const { dispatcher, run } = setup();
    const worker = new StubWorker(dispatcher, 0);
    const [ok, failed] = [run(), run()];
    await flushMicrotasks();
    assert.equal(dispatcher.idleSlots, 0);
    assert.ok(ok.attempt.onAbort !== undefined, "the abort hook is set while the task is held");
    worker.listener.done({ type: "done", ok: [0], failed: [{ id: 1, error: { name: "TypeError", message: "bad" } }] });
    worker.listener.done({ type: "done", ok: [0], failed: [] }); // a stale result is ignored
    await flushMicrotasks();
    assert.deepEqual([ok.settled, ok.error], [true, undefined]);
    assert.ok(failed.error instanceof Error);
    assert.deepEqual([failed.error.name, failed.error.message], ["TypeError", "bad"]);
    assert.equal(ok.attempt.onAbort, undefined, "cleared once settled");
    assert.equal(dispatcher.idleSlots, 2);
  });

  test("an abort before posting drops the message; after posting it is sent to the worker as a cancel", async () => {
    const { dispatcher, run } = setup();
    const worker = new StubWorker(dispatcher, 0);
    const early = run();
    early.attempt.abort(new Error("revoked"));
    const late = run();
    await flushMicrotasks();
    assert.match(String(early.error), /revoked/);
    assert.deepEqual(worker.batches(), [[1]]);
    late.attempt.abort(new Error("closing"));
    const reason = { name: "Error", message: "closing", stack: (late.attempt.reason as Error).stack };
    assert.deepEqual(worker.posts.at(-1), { type: "cancel", ids: [1], reason });
    assert.equal(late.settled, false, "the worker reports how it ended");
  });

  test("a timed-out batch: its worker is terminated; that batch fails with HandlerTimeoutError, its others as crashed", async () => {
    const { time, dispatcher, run } = setup({ concurrencyPerWorker: 4, handlerTimeoutMs: 500 });
    const worker = new StubWorker(dispatcher, 0);
    const slow = [run(), run()];
    await time.runUntil(() => false, 100);
    const later = run(); // a second batch on the same worker, posted at 100 ms
    await time.runUntil(() => worker.timedOutWith !== undefined, 10_000);
    assert.equal(time.now, 500);
    assert.deepEqual(worker.batches(), [[0, 1], [2]]);
    end(dispatcher, worker, worker.timedOutWith, true);
    await flushMicrotasks();
    for (const outcome of slow) {
      assert.ok(outcome.error instanceof HandlerTimeoutError);
      assert.equal(outcome.error.timeoutMs, 500);
      assert.equal(outcome.attempt.reason, outcome.error, "the attempt is aborted with the timeout");
    }
    assert.ok(later.error instanceof WorkerCrashedError);
    assert.match(
      later.error.message,
      /worker 0 was terminated because another of its messages exceeded handlerTimeoutMs \(500 ms\)/,
    );
    assert.equal(later.attempt.aborted, false, "a crash does not abort the attempt: the control plane retries it");
    assert.equal(time.pending(), 0, "the later batch's timer went with it");
  });

  test("a worker gone before it was sent anything: with a successor its messages move; without one they fail", async () => {
    const { dispatcher, run } = setup();
    const first = new StubWorker(dispatcher, 0, false);
    const waiting = [run(), run()];
    await flushMicrotasks();
    const successor = end(dispatcher, first, undefined, true)!;
    successor.becomeReady();
    assert.deepEqual(successor.batches(), [[0, 1]]);
    assert.ok(waiting.every((outcome) => !outcome.settled));
    const broken = new EngineFailedError("cannot start");
    end(dispatcher, successor, () => broken, false);
    await flushMicrotasks();
    assert.ok(
      waiting.every((outcome) => outcome.error === broken),
      "sent, and no successor: they fail with the failure",
    );
    const third = new StubWorker(dispatcher, 0, false);
    const orphan = run();
    await flushMicrotasks();
    end(dispatcher, third, undefined, false);
    await flushMicrotasks();
    assert.ok(orphan.error instanceof WorkerCrashedError);
    assert.match(orphan.error.message, /worker 0 ended/);
  });

  test("recycleAfterTasks: a worker given that many takes no more, and is recycled once it holds none", async () => {
    const { dispatcher, run } = setup({ concurrencyPerWorker: 4, recycleAfterTasks: 2 });
    const worker = new StubWorker(dispatcher, 0);
    run();
    run();
    assert.equal(dispatcher.idleSlots, 0, "retiring: its free capacity does not count");
    const waiting = run();
    await flushMicrotasks();
    assert.deepEqual(worker.batches(), [[0, 1]]);
    worker.listener.done({ type: "done", ok: [0], failed: [] });
    assert.equal(worker.recycled, 0);
    worker.listener.done({ type: "done", ok: [1], failed: [] });
    assert.equal(worker.recycled, 1);
    const successor = end(dispatcher, worker, undefined, true)!;
    successor.becomeReady();
    await flushMicrotasks();
    assert.deepEqual(successor.batches(), [[2]], "the waiting message went to the successor");
    assert.equal(waiting.settled, false);
  });

  test("stopped() fails the messages waiting for a worker; quiet() waits for held ones unless aborted", async () => {
    const { dispatcher, run } = setup({ recycleAfterTasks: 1 });
    const worker = new StubWorker(dispatcher, 0);
    const held = run();
    const waiting = run();
    await flushMicrotasks();
    let quiet = false;
    void dispatcher.quiet().then(() => (quiet = true));
    const stop = new WorkerCrashedError("closed");
    dispatcher.stopped(() => stop);
    await flushMicrotasks();
    assert.equal(waiting.error, stop);
    assert.equal(quiet, false, "a held message still runs");
    held.attempt.abort(new Error("given up"));
    await flushMicrotasks();
    assert.equal(quiet, true);
    assert.equal(worker.posts.at(-1)?.type, "cancel");
  });
});
