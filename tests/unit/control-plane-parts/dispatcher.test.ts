import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Dispatcher } from "../../../src/core/control-plane/dispatcher.ts";
import { PartitionState, type WorkItem } from "../../../src/core/control-plane/partition-state.ts";
import { Statistics } from "../../../src/core/control-plane/statistics.ts";
import { InFlightBudget } from "../../../src/core/backpressure.ts";
import { BlockedTooLongError, EngineFailedError, PoisonKeyError } from "../../../src/core/errors.ts";
import { PoisonKeys } from "../../../src/core/poison-keys.ts";
import type { Attempt } from "../../../src/core/attempt.ts";
import type { ConsumerMessage } from "../../../src/core/message.ts";
import { type AttemptEnded, NotStartedError } from "../../../src/core/ports/execution-engine.ts";
import { acceptAll, FakeEngine, flushMicrotasks } from "./fakes.ts";

/** How the dispatcher reported an attempt's end (or a refusal), as "kind partition:offset". */
interface Ended {
  readonly kind: "succeeded" | "attemptFailed" | "engineFailed" | "refused" | "returned";
  readonly item: WorkItem;
  readonly detail: unknown;
}

/** A fake engine that chains: each chain's messages run as separate attempts the test ends. */
class ChainingEngine extends FakeEngine {
  readonly chains: string[][] = [];

  executeChain<A extends Attempt>(
    messages: readonly ConsumerMessage[],
    attempts: readonly A[],
    ended: AttemptEnded<A>,
  ): void {
    this.chains.push(messages.map((message) => `${message.partition}:${message.offset}`));
    messages.forEach((message, i) => this.execute(message, attempts[i]!, ended));
  }
}

function setup(options: { capacity?: number; cooldownMs?: number; chains?: boolean } = {}) {
  let time = 0;
  const clock = { now: () => time, set: (ms: number) => void (time = ms) };
  const engine = options.chains ? new ChainingEngine(options.capacity ?? 10) : new FakeEngine(options.capacity ?? 10);
  const statistics = new Statistics();
  const lifecycle = { startsWork: true };
  const ended: Ended[] = [];
  const record = (kind: Ended["kind"]) => (item: WorkItem, detail: unknown) => void ended.push({ kind, item, detail });
  const budget = new InFlightBudget(1000, 1_000_000);
  const dispatcher = new Dispatcher(engine, budget, clock.now, statistics, options.cooldownMs, lifecycle, {
    succeeded: record("succeeded"),
    attemptFailed: record("attemptFailed"),
    engineFailed: record("engineFailed"),
    refused: record("refused"),
    returned: (item) => record("returned")(item, undefined),
  });
  const names = () => ended.map(({ kind, item }) => `${kind} ${item.partition.partition}:${item.offset}`);
  return { clock, engine, budget, statistics, lifecycle, ended, names, dispatcher };
}

function partition(
  number: number,
  offsets: readonly number[],
  key: string | null = null,
  poison?: PoisonKeys,
  maxMetadataBytes = 4096,
) {
  const state = new PartitionState("t", number, () => 0, maxMetadataBytes, poison);
  state.seed(0, [], 0);
  const items = acceptAll(state, offsets, key);
  return { state, items };
}

describe("Dispatcher", () => {
  test("never starts more attempts than the engine has idle slots", async () => {
    const { engine, names, dispatcher } = setup({ capacity: 2 });
    const { state } = partition(0, [0, 1, 2, 3, 4]);
    dispatcher.join(state);
    dispatcher.pump();
    assert.deepEqual(engine.started, ["0:0", "0:1"]);
    dispatcher.pump();
    assert.deepEqual(engine.started, ["0:0", "0:1"], "no slot: nothing more");
    engine.runs[0]!.resolve();
    await flushMicrotasks();
    assert.deepEqual(names(), ["succeeded 0:0"]);
    dispatcher.pump();
    assert.deepEqual(engine.started, ["0:0", "0:1", "0:2"], "still had ready work: still in the rotation, no join");
    assert.equal(state.running, 2);
  });

  test("partitions take turns, one message each per turn", () => {
    const { engine, dispatcher } = setup({ capacity: 5 });
    const a = partition(0, [0, 1, 2]);
    const b = partition(1, [0, 1, 2]);
    dispatcher.join(a.state);
    dispatcher.join(b.state);
    dispatcher.pump();
    assert.deepEqual(engine.started, ["0:0", "1:0", "0:1", "1:1", "0:2"]);
    engine.capacity = 6;
    dispatcher.pump();
    assert.deepEqual(engine.started.slice(5), ["1:2"]);
    // Nothing ready: both left the rotation, so new ready work starts only once they join again.
    acceptAll(a.state, [3]);
    acceptAll(b.state, [3]);
    engine.capacity = 10;
    dispatcher.pump();
    assert.deepEqual(engine.started.length, 6, "out of the rotation: nothing starts without a join");
    dispatcher.join(b.state);
    dispatcher.join(a.state);
    dispatcher.pump();
    assert.deepEqual(engine.started.slice(6), ["1:3", "0:3"]);
  });

  test("join adds a partition once, and only while it has ready work", () => {
    const { engine, dispatcher } = setup({ capacity: 3 });
    const empty = partition(0, []);
    dispatcher.join(empty.state);
    // Ready work arrives after the join: had the empty partition joined, it would start first.
    acceptAll(empty.state, [0]);
    const a = partition(1, [0, 1, 2]);
    const b = partition(2, [0, 1, 2]);
    dispatcher.join(a.state);
    dispatcher.join(a.state);
    dispatcher.join(b.state);
    dispatcher.pump();
    assert.deepEqual(
      engine.started,
      ["1:0", "2:0", "1:1"],
      "joined twice, still one turn per round; the empty one never",
    );
  });

  test("nothing starts while the lifecycle says no work starts", () => {
    const { engine, lifecycle, dispatcher } = setup();
    const { state } = partition(0, [0]);
    lifecycle.startsWork = false;
    dispatcher.join(state);
    dispatcher.pump();
    assert.deepEqual(engine.started, []);
    lifecycle.startsWork = true;
    dispatcher.pump();
    assert.deepEqual(engine.started, ["0:0"]);
  });

  test("a partition that is not active, or waits for its previous drain, leaves the rotation unstarted", () => {
    const { engine, dispatcher } = setup();
    const revoking = partition(0, [0]);
    const waiting = partition(1, [0]);
    dispatcher.join(revoking.state);
    dispatcher.join(waiting.state);
    revoking.state.phase = "revoking";
    waiting.state.waitingForDrain = true;
    dispatcher.pump();
    assert.deepEqual(engine.started, []);
    revoking.state.phase = "active";
    waiting.state.waitingForDrain = false;
    dispatcher.pump();
    assert.deepEqual(engine.started, [], "both left the rotation: they must join again");
    dispatcher.join(waiting.state);
    dispatcher.pump();
    assert.deepEqual(engine.started, ["1:0"]);
  });

  describe("attempt ends", () => {
    test("success is reported with the end time; the attempt's duration is observed", async () => {
      const { clock, engine, statistics, ended, dispatcher } = setup();
      const { state, items } = partition(0, [0]);
      clock.set(1000);
      dispatcher.join(state);
      dispatcher.pump();
      assert.equal(engine.runs[0]!.attempt.startedAt, 1000);
      assert.equal(engine.runs[0]!.attempt.attempt, 1);
      clock.set(1250);
      engine.runs[0]!.resolve();
      await flushMicrotasks();
      assert.deepEqual(ended, [{ kind: "succeeded", item: items[0], detail: 1250 }]);
      assert.equal(state.running, 0);
      const seconds = statistics.handlerSeconds.snapshot();
      assert.deepEqual([seconds.count, seconds.sum], [1, 0.25]);
    });

    test("a rejection is a failed attempt with the handler's error", async () => {
      const { engine, ended, dispatcher } = setup();
      const { state, items } = partition(0, [0]);
      dispatcher.join(state);
      dispatcher.pump();
      const error = new Error("handler failed");
      engine.runs[0]!.reject(error);
      await flushMicrotasks();
      assert.deepEqual(ended, [{ kind: "attemptFailed", item: items[0], detail: error }]);
    });

    test("an aborted attempt counts as failed with the abort reason, even when its handler returned", async () => {
      const { engine, ended, dispatcher } = setup();
      const { state, items } = partition(0, [0, 1]);
      dispatcher.join(state);
      dispatcher.pump();
      const reason = new BlockedTooLongError(500);
      engine.runs[0]!.attempt.abort(reason);
      engine.runs[1]!.attempt.abort(reason);
      engine.runs[0]!.resolve();
      engine.runs[1]!.reject(new Error("gave up on the signal"));
      await flushMicrotasks();
      assert.deepEqual(ended, [
        { kind: "attemptFailed", item: items[0], detail: reason },
        { kind: "attemptFailed", item: items[1], detail: reason },
      ]);
    });

    test("EngineFailedError is the engine's failure, not the message's", async () => {
      const { engine, ended, dispatcher } = setup();
      const { state, items } = partition(0, [0]);
      dispatcher.join(state);
      dispatcher.pump();
      const error = new EngineFailedError("workers cannot start");
      engine.runs[0]!.attempt.abort(new BlockedTooLongError(1)); // even when aborted
      engine.runs[0]!.reject(error);
      await flushMicrotasks();
      assert.deepEqual(ended, [{ kind: "engineFailed", item: items[0], detail: error }]);
      assert.equal(state.running, 0, "the attempt ended");
    });

    test("an engine that throws synchronously fails the attempt instead of throwing from pump", async () => {
      const { engine, ended, dispatcher } = setup();
      const { state, items } = partition(0, [0]);
      const error = new Error("sync");
      engine.executeThrows = error;
      dispatcher.join(state);
      dispatcher.pump();
      await flushMicrotasks();
      assert.deepEqual(ended, [{ kind: "attemptFailed", item: items[0], detail: error }]);
      assert.equal(state.running, 0);
    });

    test("the end of an attempt taken back (withdrawn: its handler never ran) is neither observed nor reported", async () => {
      const { engine, statistics, ended, dispatcher } = setup();
      const { state, items } = partition(0, [0]);
      dispatcher.join(state);
      dispatcher.pump();
      state.endAttempt(items[0]!, engine.runs[0]!.attempt);
      engine.runs[0]!.resolve();
      await flushMicrotasks();
      assert.deepEqual(ended, []);
      assert.equal(statistics.handlerSeconds.snapshot().count, 0);
    });
  });

  test("while the offset map is full only the blocking offset starts, and the partition leaves the rotation", () => {
    const { engine, dispatcher } = setup({ capacity: 10 });
    const { state, items } = partition(0, Array.from({ length: 10 }, (_, i) => i), null, undefined, 8);
    // 0 failed once and waits at the back of the ready queue; 2, 4, 6 are done: the map is large.
    const blocker = state.scheduler.next()!;
    state.endAttempt(blocker, state.startAttempt(blocker, 0));
    state.scheduler.retry(blocker);
    for (const offset of [2, 4, 6]) state.finish(state.scheduler.nextMatching((item) => item.offset === offset)!.item);
    state.prepareCommit();
    assert.equal(state.mapFull, true);
    dispatcher.join(state);
    dispatcher.pump();
    assert.deepEqual(engine.started, ["0:0"]);
    assert.equal(engine.runs[0]!.attempt.attempt, 2);
    dispatcher.join(state);
    dispatcher.pump();
    assert.deepEqual(engine.started, ["0:0"], "the blocker runs already: nothing else may start");
    assert.equal(items[1]!.running, undefined);
    // The map shrinks (0, 1, 3, 5 done: position 7, nothing above): work may start again, but the
    // partition waits for a commit's join instead of spinning in the rotation.
    state.endAttempt(blocker, engine.runs[0]!.attempt);
    state.finish(blocker);
    for (const offset of [1, 3, 5]) state.finish(state.scheduler.nextMatching((item) => item.offset === offset)!.item);
    state.prepareCommit();
    assert.equal(state.mapFull, false);
    dispatcher.pump();
    assert.deepEqual(engine.started, ["0:0"], "out of the rotation until it joins again");
    dispatcher.join(state);
    dispatcher.pump();
    assert.deepEqual(engine.started, ["0:0", "0:7", "0:8", "0:9"]);
  });

  test("while the offset map is full a blocking offset still in the buffer is admitted out of turn", () => {
    const { engine, budget, dispatcher } = setup({ capacity: 10 });
    const state = new PartitionState("t", 0, () => 0, 8);
    state.seed(0, [], 0);
    // Key "a": 0 is admitted, 1..4 wait behind it. Keys "b5".."b7": admitted and done, so the
    // offset map is large. Key "c": 8 is admitted and ready.
    const [blocker] = acceptAll(state, [0, 1, 2, 3, 4], "a");
    for (const offset of [5, 6, 7]) {
      const [item] = acceptAll(state, [offset], `b${offset}`);
      state.finish(state.scheduler.nextMatching((ready) => ready === item)!.item);
    }
    acceptAll(state, [8], "c");
    state.finish(state.scheduler.nextMatching((ready) => ready === blocker)!.item);
    // 0 is done: 1 blocks now, and it is admissible (first of key "a"), not admitted.
    assert.equal(state.tracker.blockingOffset, 1);
    assert.deepEqual([state.admittedCount, state.scheduler.admissibleCount, state.scheduler.readyCount], [1, 1, 1]);
    state.prepareCommit();
    assert.equal(state.mapFull, true);
    dispatcher.join(state);
    dispatcher.pump();
    assert.deepEqual(engine.started, ["0:1"], "the blocking offset, not the ready 8");
    assert.equal(state.admittedCount, 2, "1 admitted out of turn, beside 8");
    assert.equal(budget.messages, 1, "the dispatcher counts what it admitted against the budget");
    assert.equal(budget.bytes, state.held(1)!.bytes);
    assert.deepEqual([state.bufferedCount, state.scheduler.admissibleCount], [3, 0], "2..4 wait behind key a");
  });

  test("while the offset map is full an admitted blocking offset is not counted twice", () => {
    const { engine, budget, dispatcher } = setup({ capacity: 10 });
    const state = new PartitionState("t", 0, () => 0, 8);
    state.seed(0, [], 0);
    acceptAll(state, [0, 1, 2, 3, 4, 5]);
    for (const offset of [1, 3, 5]) state.finish(state.scheduler.nextMatching((item) => item.offset === offset)!.item);
    state.prepareCommit();
    assert.equal(state.mapFull, true);
    dispatcher.join(state);
    dispatcher.pump();
    assert.deepEqual(engine.started, ["0:0"]);
    assert.deepEqual([budget.messages, budget.bytes], [0, 0], "admitted before: the admission counted it");
  });

  test("a message of a cooling key is refused (asynchronously) without starting an attempt", async () => {
    const { engine, ended, dispatcher } = setup({ cooldownMs: 1000 });
    const poison = new PoisonKeys({ maxFailures: 1, cooldownMs: 1000 }, () => 0);
    poison.recordFailure("bad");
    const cooling = partition(0, [0], "bad", poison);
    const fine = partition(1, [0], "good", poison);
    dispatcher.join(cooling.state);
    dispatcher.join(fine.state);
    dispatcher.pump();
    assert.equal(ended.length, 0, "refused in a later microtask, not inside pump");
    assert.deepEqual(engine.started, ["1:0"]);
    await flushMicrotasks();
    assert.equal(ended.length, 1);
    const [refusal] = ended;
    assert.equal(refusal!.kind, "refused");
    assert.equal(refusal!.item, cooling.items[0]);
    assert.ok(refusal!.detail instanceof PoisonKeyError);
    assert.equal(refusal!.detail.code, "PYRALLEL_POISON_KEY");
    assert.deepEqual([cooling.items[0]!.attempt, cooling.state.running], [0, 0]);
  });

  test("without poison-key isolation a cooling key still runs", () => {
    const { engine, dispatcher } = setup({ cooldownMs: undefined });
    const poison = new PoisonKeys({ maxFailures: 1, cooldownMs: 1000 }, () => 0);
    poison.recordFailure("bad");
    const { state } = partition(0, [0], "bad", poison);
    dispatcher.join(state);
    dispatcher.pump();
    assert.deepEqual(engine.started, ["0:0"]);
  });

  test("an engine that chains gets a key's waiting messages with its first, each in its own attempt", async () => {
    const { engine, budget, names, dispatcher } = setup({ capacity: 10, chains: true });
    const { state } = partition(0, [0, 1, 2, 3], "k");
    const other = partition(1, [0], "j");
    dispatcher.join(state);
    dispatcher.join(other.state);
    dispatcher.pump();
    assert.deepEqual((engine as ChainingEngine).chains, [["0:0", "0:1", "0:2", "0:3"]], "one chain; j's message alone");
    assert.deepEqual(engine.started, ["0:0", "0:1", "0:2", "0:3", "1:0"]);
    assert.equal(budget.messages, 3, "the followers came from the buffer into the window");
    assert.equal(state.running, 4);
    // 0:1 fails: 0:2 and 0:3 come back not started.
    engine.runs[0]!.resolve();
    engine.runs[2]!.reject(new NotStartedError());
    engine.runs[3]!.reject(new NotStartedError());
    engine.runs[1]!.reject(new Error("handler failed"));
    await flushMicrotasks();
    assert.deepEqual(names(), ["succeeded 0:0", "returned 0:2", "returned 0:3", "attemptFailed 0:1"]);
  });

  test("no chain while the lane's previous chain is still out, nor when the engine has no spare room", () => {
    const { engine, dispatcher } = setup({ capacity: 2, chains: true });
    const { state } = partition(0, [0, 1, 2], "k");
    dispatcher.join(state);
    dispatcher.pump();
    assert.deepEqual((engine as ChainingEngine).chains, [["0:0", "0:1"]], "room for one follower");
    // 0:0 fails and runs again while 0:1 is still out: alone.
    state.endAttempt(state.held(0)!, state.held(0)!.running!);
    state.scheduler.retry(state.held(0)!);
    engine.capacity = 10;
    dispatcher.join(state);
    dispatcher.pump();
    assert.deepEqual(engine.started, ["0:0", "0:1", "0:0"]);
    assert.equal((engine as ChainingEngine).chains.length, 1);
  });
});
