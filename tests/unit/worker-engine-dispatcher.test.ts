// The worker engine's dispatcher on stub pool workers: which worker gets which message, batching,
// depth, results and cancels, handler timeouts and kills, recycling, and what happens to a gone
// worker's messages (read from its task board). No thread, no pool: each stub records what it was
// posted, and the test plays the worker's side of the board.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Attempt } from "../../src/core/attempt.ts";
import {
  BlockedTooLongError,
  EngineFailedError,
  HandlerTimeoutError,
  PartitionRevokedError,
  WorkerCrashedError,
} from "../../src/core/errors.ts";
import type { ConsumerMessage } from "../../src/core/message.ts";
import { ABORT_GRACE_MS, TaskDispatcher, type TaskDispatcherSettings } from "../../src/engines/worker/dispatcher.ts";
import type { Failure, PoolWorker, WorkerListener } from "../../src/engines/worker/pool.ts";
import type { ToWorker } from "../../src/engines/worker/protocol.ts";
import { TaskBoard, WITHDRAWN } from "../../src/engines/worker/task-board.ts";
import { BatchReader } from "../../src/engines/worker/wire-batch.ts";

/** A task as the worker reads it from a batch. */
interface SentTask {
  readonly id: number;
  readonly slot: number;
  readonly message: ConsumerMessage;
}

function read(run: RunMessage): SentTask[] {
  const batch = new BatchReader(run.batch);
  return Array.from(
    { length: batch.count },
    (_, i) => ({ id: batch.id(i), slot: batch.slot(i), message: batch.message(i) }),
  );
}
import { flushMicrotasks, VirtualClock } from "../simulation/virtual-clock.ts";
import { attemptOutcome } from "../support/engine-outcome.ts";

type RunMessage = Extract<ToWorker, { type: "run" }>;

/** A pool worker that records what it is posted; the test plays the pool. */
class StubWorker implements PoolWorker {
  readonly slot: number;
  ready = false;
  dead = false;
  haltsRunningCode = true;
  readonly posts: ToWorker[] = [];
  recycled = 0;
  killedWith: Failure | undefined = undefined;
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

  kill(failure: Failure): void {
    this.killedWith = failure;
    this.dead = true; // as the pool does at once
  }

  becomeReady(): void {
    this.ready = true;
    this.listener.ready();
  }

  /** The batches posted so far, as the ids of their tasks. */
  batches(): number[][] {
    return this.runs().map((run) => read(run).map((task) => task.id));
  }

  /** Every task posted so far. */
  tasks(): SentTask[] {
    return this.runs().flatMap(read);
  }

  /** The worker's view of its task board (from the init message). */
  board(): TaskBoard {
    const init = this.posts.find((post) => post.type === "init");
    assert.ok(init?.type === "init");
    return new TaskBoard(init.slots, init.board);
  }

  /** Plays the worker claiming task `id` on its board at `now`: true when it was not withdrawn. */
  claim(id: number, now = 0): boolean {
    const task = this.tasks().find((task) => task.id === id)!;
    return this.board().claim(task.slot, id, now);
  }

  /** Plays the worker finishing task `id` (board only: no report). */
  finish(id: number, ok = true): void {
    const task = this.tasks().find((task) => task.id === id)!;
    this.board().finish(task.slot, id, ok);
  }

  /** The board slot task `id` was sent with. */
  slotOf(id: number): number {
    return this.tasks().find((task) => task.id === id)!.slot;
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
    // (`settled` flips on a later microtask: await flushMicrotasks() before reading it.)
    const outcome = { settled: false, error: undefined as unknown, attempt };
    attemptOutcome(dispatcher, message, attempt).then(
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
    assert.equal(worker.tasks()[0]!.message.offset, 7n);
    assert.deepEqual(worker.tasks().map((task) => task.slot), [0, 1, 2, 3], "each on its own board slot");
  });

  test("the least-loaded worker gets each message; a ready one before one still starting; full ones last", async () => {
    const { dispatcher, run } = setup({ concurrencyPerWorker: 2 });
    assert.equal(dispatcher.depth, 4, "before any report a worker holds twice its concurrency");
    const starting = new StubWorker(dispatcher, 0, false);
    const ready = [new StubWorker(dispatcher, 1), new StubWorker(dispatcher, 2)];
    for (let i = 0; i < 13; i++) run();
    await flushMicrotasks();
    // 0..7 fill the ready workers to their depth, alternating; 8..11 go to the starting one (below
    // its depth); 12 finds every worker full and joins the least-loaded, preferring a ready one.
    assert.deepEqual(ready.map((worker) => worker.tasks().map((task) => task.id)), [[0, 2, 4, 6, 12], [1, 3, 5, 7]]);
    assert.equal(starting.runs().length, 0, "nothing posted before ready");
    assert.equal(dispatcher.idleSlots, 0);
    starting.becomeReady();
    const init = starting.posts[0];
    assert.ok(init?.type === "init");
    assert.equal(init.concurrency, 2);
    assert.deepEqual(starting.batches(), [[8, 9, 10, 11]]);
  });

  test("results settle their attempts: a worker's error comes back with its name; idleSlots follow", async () => {
    const { dispatcher, run } = setup();
    const worker = new StubWorker(dispatcher, 0);
    const [ok, failed] = [run(), run()];
    await flushMicrotasks();
    assert.equal(dispatcher.idleSlots, 2);
    assert.ok(ok.attempt.onAbort !== undefined, "the abort hook is set while the task is held");
    const error = { name: "TypeError", message: "bad" };
    worker.listener.done({
      type: "done",
      ok: [worker.slotOf(0)],
      failed: [{ slot: worker.slotOf(1), error }],
      busyMs: 4,
    });
    worker.listener.done({ type: "done", ok: [worker.slotOf(0)], failed: [], busyMs: 0 }); // a stale result is ignored
    await flushMicrotasks();
    assert.deepEqual([ok.settled, ok.error], [true, undefined]);
    assert.ok(failed.error instanceof Error);
    assert.deepEqual([failed.error.name, failed.error.message], ["TypeError", "bad"]);
    assert.equal(ok.attempt.onAbort, undefined, "cleared once settled");
    assert.equal(dispatcher.idleSlots, dispatcher.depth);
  });

  test("the depth follows the reported handler time: 16 ms of queued work per worker, at most 256", async () => {
    const { dispatcher, run } = setup({ concurrencyPerWorker: 2 });
    const worker = new StubWorker(dispatcher, 0);
    const report = (count: number, busyMs: number) => {
      const slots = Array.from({ length: count }, (_, i) => worker.slotOf(i));
      worker.listener.done({ type: "done", ok: slots, failed: [], busyMs });
    };
    for (let i = 0; i < 4; i++) run();
    await flushMicrotasks();
    report(4, 4); // 1 ms per message: 16 queued beside 2 running
    assert.equal(dispatcher.depth, 2 + 16);
    report(0, 0); // an empty report changes nothing
    assert.equal(dispatcher.depth, 18);
    const fast = setup({ concurrencyPerWorker: 1 });
    const fastWorker = new StubWorker(fast.dispatcher, 0);
    fast.run();
    await flushMicrotasks();
    fastWorker.listener.done({ type: "done", ok: [fastWorker.slotOf(0)], failed: [], busyMs: 0.001 });
    assert.equal(fast.dispatcher.depth, 1 + 256, "capped");
  });

  test("an abort before posting drops the message; posted but not started it is withdrawn from the board", async () => {
    const { dispatcher, run } = setup();
    const worker = new StubWorker(dispatcher, 0);
    const early = run();
    early.attempt.abort(new Error("revoked"));
    const queued = run();
    await flushMicrotasks();
    assert.match(String(early.error), /revoked/);
    assert.deepEqual(worker.batches(), [[1]]);
    queued.attempt.abort(new Error("closing"));
    await flushMicrotasks();
    assert.match(String(queued.error), /closing/, "settled at once: the worker will never run it");
    assert.equal(worker.claim(1), false, "the worker's claim fails");
    assert.deepEqual(worker.posts.map((post) => post.type), ["init", "run"], "no cancel needed");
  });

  test("withdraw() takes back only what has not started: unposted or queued yes, running no", async () => {
    const { dispatcher, run } = setup({ concurrencyPerWorker: 1 });
    const worker = new StubWorker(dispatcher, 0);
    const running = run();
    const queued = run();
    await flushMicrotasks();
    const unposted = run();
    assert.ok(worker.claim(0), "the worker starts the first");
    assert.equal(running.attempt.withdraw(new Error("revoked")), false, "started: it stays");
    assert.equal(running.attempt.aborted, false);
    assert.equal(queued.attempt.withdraw(new Error("revoked")), true, "queued in the worker");
    assert.equal(unposted.attempt.withdraw(new Error("revoked")), true, "not sent yet");
    await flushMicrotasks();
    assert.match(String(queued.error), /revoked/);
    assert.match(String(unposted.error), /revoked/);
    assert.equal(queued.attempt.aborted, true, "a withdrawn attempt counts as aborted");
    assert.equal(worker.claim(1), false, "the worker's claim fails");
    assert.deepEqual(worker.batches(), [[0, 1]], "the unposted one never went out");
    assert.equal(queued.attempt.withdraw(new Error("again")), false, "once");
    assert.equal(running.settled, false);
  });

  test("a worker held by one handler's code for 20 ms gives its queued messages to the others, and takes none until it reports", async () => {
    const { time, dispatcher, run } = setup({ concurrencyPerWorker: 1 });
    const busy = new StubWorker(dispatcher, 0);
    const runs = [run(), run(), run()];
    await flushMicrotasks();
    const idle = new StubWorker(dispatcher, 1, false); // joins late: everything went to the first
    assert.deepEqual(busy.batches(), [[0, 1, 2]]);
    assert.ok(busy.claim(0, time.now));
    busy.board().setInCode(true); // a synchronous handler that does not return
    idle.becomeReady();
    await time.runUntil(() => idle.batches().length > 0, 19);
    assert.deepEqual(idle.batches(), [], "not before 20 ms");
    await time.runUntil(() => idle.batches().length > 0, 1_000);
    assert.equal(time.now, 20);
    assert.deepEqual(idle.batches(), [[1, 2]], "the queued ones moved");
    assert.equal(busy.claim(1), false, "taken back from its board first: it cannot start them too");
    const next = run();
    await flushMicrotasks();
    assert.deepEqual(idle.batches(), [[1, 2], [3]], "the held worker takes no new work");
    assert.deepEqual(runs.concat(next).map((r) => r.settled), [false, false, false, false]);
    // It reports again: it takes work again.
    busy.board().setInCode(false);
    busy.finish(0);
    busy.listener.done({ type: "done", ok: [busy.slotOf(0)], failed: [], busyMs: 30 });
    await flushMicrotasks();
    assert.equal(runs[0]!.settled, true);
    run();
    await flushMicrotasks();
    assert.equal(busy.batches().length, 2, "offered work again");
  });

  test("a message that found no worker with room goes out as soon as one has room", async () => {
    const { dispatcher, run } = setup({ concurrencyPerWorker: 1 });
    const worker = new StubWorker(dispatcher, 0);
    const slots = worker.board().slots;
    const runs = Array.from({ length: slots + 2 }, () => run());
    await flushMicrotasks();
    assert.equal(worker.tasks().length, slots, "every slot taken; two wait");
    worker.listener.done({ type: "done", ok: [worker.slotOf(0)], failed: [], busyMs: 1 });
    await flushMicrotasks();
    assert.equal(runs[0]!.settled, true);
    assert.deepEqual(worker.batches().at(-1), [slots], "the first waiting one took the freed slot");
    assert.equal(worker.tasks().at(-1)!.slot, worker.slotOf(0));
    worker.listener.done({ type: "done", ok: [worker.slotOf(1)], failed: [], busyMs: 1 });
    await flushMicrotasks();
    assert.deepEqual(worker.batches().at(-1), [slots + 1]);
  });

  test("messages a stuck worker gives up while the others are full go out once one of them has room", async () => {
    // Found by the CPU benchmark at 0.05 ms: they waited for a worker restart that never came,
    // and the consumer stalled with those messages in flight.
    const { time, dispatcher, run } = setup({ concurrencyPerWorker: 1 });
    const busy = new StubWorker(dispatcher, 0);
    const other = new StubWorker(dispatcher, 1);
    const slots = busy.board().slots;
    const runs = Array.from({ length: 2 * slots }, () => run());
    await flushMicrotasks();
    assert.equal(busy.tasks().length + other.tasks().length, 2 * slots, "both full");
    const first = busy.tasks()[0]!.id;
    assert.ok(busy.claim(first, time.now));
    busy.board().setInCode(true);
    const [, second, third] = busy.tasks();
    const withdrawn = () => busy.board().state(second!.slot, second!.id) === WITHDRAWN;
    await time.runUntil(withdrawn, 1_000);
    assert.equal(time.now, 20, "taken back from the stuck worker's board");
    assert.equal(other.tasks().length, slots, "nowhere to go yet");
    // The other worker reports two results: two of the stuck worker's messages take their slots.
    const done = other.tasks().slice(0, 2);
    other.listener.done({ type: "done", ok: done.map((task) => task.slot), failed: [], busyMs: 1 });
    await flushMicrotasks();
    const moved = other.tasks().slice(slots).map((task) => task.id);
    assert.deepEqual(moved, [second!.id, third!.id], "the oldest of them first");
    assert.equal(runs.filter((r) => r.settled).length, 2);
  });

  test("an abort while running reaches the handler's signal; a handler still running 1 s later has its worker killed", async () => {
    const { time, dispatcher, run } = setup();
    const worker = new StubWorker(dispatcher, 0);
    const [running, queued] = [run(), run()];
    await flushMicrotasks();
    assert.equal(worker.claim(0), true);
    running.attempt.abort(new Error("revoked"));
    const reason = { name: "Error", message: "revoked", stack: (running.attempt.reason as Error).stack };
    assert.deepEqual(worker.posts.at(-1), { type: "cancel", slot: worker.slotOf(0), id: 0, reason });
    await time.runUntil(() => worker.killedWith !== undefined, 10_000);
    assert.equal(time.now, ABORT_GRACE_MS);
    assert.equal(running.settled, false, "settled only once the thread is gone");
    const successor = end(dispatcher, worker, worker.killedWith, true)!;
    await flushMicrotasks();
    assert.match(String(running.error), /revoked/, "fails with the attempt's abort reason");
    successor.becomeReady();
    assert.deepEqual(successor.batches(), [[1]], "the message it never started moved to the successor");
    assert.equal(queued.settled, false);
    assert.equal(time.pending(), 0);
  });

  test("a revocation whose grace is over kills the worker of a handler still running at once: the next owner may start it now", async () => {
    const { time, dispatcher, run } = setup();
    const worker = new StubWorker(dispatcher, 0);
    const [running, queued] = [run(), run()];
    await flushMicrotasks();
    assert.equal(worker.claim(0), true);
    running.attempt.abort(new PartitionRevokedError("t", 0));
    assert.equal(time.now, 0);
    assert.ok(worker.killedWith !== undefined, "killed without waiting for the handler");
    assert.equal(worker.posts.some((post) => post.type === "cancel"), false, "no signal to wait for");
    assert.equal(running.settled, false, "settled only once the thread is gone");
    const successor = end(dispatcher, worker, worker.killedWith, true)!;
    await flushMicrotasks();
    assert.ok(running.error instanceof PartitionRevokedError);
    successor.becomeReady();
    assert.deepEqual(successor.batches(), [[1]], "the message it never started moved to the successor");
    assert.equal(queued.settled, false);
  });

  test("a handler that returns within the grace keeps its worker; its result is the one reported", async () => {
    const { time, dispatcher, run } = setup();
    const worker = new StubWorker(dispatcher, 0);
    const running = run();
    await flushMicrotasks();
    worker.claim(0);
    running.attempt.abort(new Error("revoked"));
    worker.finish(0);
    worker.listener.done({ type: "done", ok: [worker.slotOf(0)], failed: [], busyMs: 1 });
    await time.runUntil(() => false, 5_000);
    assert.equal(worker.killedWith, undefined);
    assert.deepEqual([running.settled, running.error], [true, undefined]);
  });

  test("handlerTimeoutMs counts from the handler's start on the board: the worker is killed, the message fails with HandlerTimeoutError", async () => {
    const { time, dispatcher, run } = setup({ concurrencyPerWorker: 1, handlerTimeoutMs: 500 });
    const worker = new StubWorker(dispatcher, 0);
    const [first, slow, never] = [run(), run(), run()];
    await flushMicrotasks();
    worker.claim(0, 0);
    await time.runUntil(() => false, 300);
    worker.finish(0);
    assert.equal(worker.claim(1, 300), true); // started at 300: times out at 800, not 500
    await time.runUntil(() => worker.killedWith !== undefined, 10_000);
    assert.equal(time.now, 800);
    assert.ok(slow.attempt.reason instanceof HandlerTimeoutError, "the attempt is aborted with the timeout");
    const successor = end(dispatcher, worker, worker.killedWith, true)!;
    await flushMicrotasks();
    assert.deepEqual([first.settled, first.error], [true, undefined], "finished on the board: its result stands");
    assert.ok(slow.error instanceof HandlerTimeoutError);
    assert.equal(slow.error.timeoutMs, 500);
    successor.becomeReady();
    assert.deepEqual(successor.batches(), [[2]], "the one never started runs on the successor, not attempted");
    assert.equal(never.settled, false);
    assert.equal(never.attempt.aborted, false);
  });

  test("maxBlockingMs (BlockedTooLongError) kills a running handler's worker at once", async () => {
    const { dispatcher, run } = setup();
    const worker = new StubWorker(dispatcher, 0);
    const blocked = run();
    await flushMicrotasks();
    worker.claim(0);
    blocked.attempt.abort(new BlockedTooLongError(2_000));
    assert.ok(worker.killedWith !== undefined);
    assert.match(String(worker.killedWith()), /terminated to stop another message's handler/);
    assert.equal(blocked.settled, false);
    end(dispatcher, worker, worker.killedWith, true);
    await flushMicrotasks();
    assert.ok(blocked.error instanceof BlockedTooLongError);
  });

  test("where terminate() lets running code finish (Deno), a killed handler still in its code settles once it is out", async () => {
    const { time, dispatcher, run } = setup({ handlerTimeoutMs: 100 });
    const worker = new StubWorker(dispatcher, 0);
    worker.haltsRunningCode = false;
    const stuck = run();
    await flushMicrotasks();
    worker.claim(0);
    worker.board().setInCode(true); // the handler's synchronous part is running
    await time.runUntil(() => worker.killedWith !== undefined, 10_000);
    end(dispatcher, worker, worker.killedWith, true);
    await time.runUntil(() => stuck.settled, 5_000);
    assert.equal(stuck.settled, false, "the retry must not start while the handler may still run");
    worker.board().setInCode(false); // it returned: Deno stops the thread before anything else runs
    await time.runUntil(() => stuck.settled, 5_100 + 100);
    assert.ok(stuck.error instanceof HandlerTimeoutError);

    const closing = setup({ handlerTimeoutMs: 100 });
    const other = new StubWorker(closing.dispatcher, 0);
    other.haltsRunningCode = false;
    const held = closing.run();
    await flushMicrotasks();
    other.claim(0);
    other.board().setInCode(true);
    closing.dispatcher.stopped(() => new WorkerCrashedError("closed"));
    end(closing.dispatcher, other, () => new WorkerCrashedError("closed"), false);
    await flushMicrotasks();
    assert.match(String(held.error), /closed/, "closing does not wait for it");
  });

  test("a crash: finished results stand (reported or not), the running one fails, the unstarted move on", async () => {
    const { dispatcher, run } = setup({ concurrencyPerWorker: 4 });
    const worker = new StubWorker(dispatcher, 0);
    const [done, failed, running, unstarted] = [run(), run(), run(), run()];
    await flushMicrotasks();
    for (const id of [0, 1, 2]) worker.claim(id);
    worker.finish(0, true);
    worker.finish(1, false);
    const crash = new WorkerCrashedError("worker 0 crashed");
    const successor = end(dispatcher, worker, () => crash, true)!;
    await flushMicrotasks();
    assert.deepEqual([done.settled, done.error], [true, undefined]);
    assert.ok(failed.error instanceof WorkerCrashedError);
    assert.match(failed.error.message, /ended before reporting this handler's error/);
    assert.equal(running.error, crash);
    assert.equal(unstarted.settled, false);
    successor.becomeReady();
    assert.deepEqual(successor.batches(), [[3]]);
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
      "sent, never started, and no successor: they fail with the failure",
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
    worker.listener.done({ type: "done", ok: [worker.slotOf(0)], failed: [], busyMs: 1 });
    assert.equal(worker.recycled, 0);
    worker.listener.done({ type: "done", ok: [worker.slotOf(1)], failed: [], busyMs: 1 });
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
    worker.claim(0);
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
