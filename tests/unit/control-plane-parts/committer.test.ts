import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { Committer } from "../../../src/core/control-plane/committer.ts";
import { PartitionState } from "../../../src/core/control-plane/partition-state.ts";
import { CommitFailedError } from "../../../src/core/errors.ts";
import { VirtualClock } from "../../simulation/virtual-clock.ts";
import { acceptAll, FakeAdapter, flushMicrotasks } from "./fakes.ts";

function setup() {
  const virtual = new VirtualClock();
  const clock = virtual.clock("committer");
  const adapter = new FakeAdapter();
  const counts = { commits: 0, commitFailures: 0 };
  const failures: CommitFailedError[] = [];
  const committer = new Committer(adapter, clock, counts, (error) => failures.push(error));
  return { virtual, adapter, counts, failures, committer };
}

/** A partition seeded (and committed) at 0 whose first `done` offsets are finished: commit pending at `done`. */
function progressed(partition: number, done: number): PartitionState {
  const state = new PartitionState("t", partition, () => 0, 4096);
  state.seed(0, [], 0);
  progress(state, done);
  return state;
}

/** Fetches and finishes `count` more offsets. */
function progress(state: PartitionState, count: number): void {
  const from = state.tracker.lastFetchedOffset! + 1;
  const offsets = Array.from({ length: count }, (_, i) => from + i);
  for (const item of acceptAll(state, offsets)) state.finish(item);
}

const sent = (request: { offsets: readonly { partition: number; offset: bigint }[] }) =>
  request.offsets.map(({ partition, offset }) => `${partition}@${offset}`);

describe("Committer", () => {
  test("commits only partitions whose position moved; the broker's answer acknowledges them", async () => {
    const { adapter, counts, failures, committer } = setup();
    const moved = progressed(0, 3);
    const clean = new PartitionState("t", 1, () => 0, 4096);
    clean.seed(5, [], 5);
    const done = committer.commit([moved, clean]);
    assert.equal(adapter.commits.length, 1);
    assert.deepEqual(adapter.commits[0]!.offsets, [{ topic: "t", partition: 0, offset: 3n, metadata: "" }]);
    assert.equal(moved.commitPending, true, "not acknowledged before the broker answers");
    adapter.commits[0]!.reply.resolve([]);
    assert.deepEqual(await done, [moved]);
    assert.equal(moved.commitPending, false);
    assert.equal(moved.metrics().committedOffset, 3n);
    assert.deepEqual(counts, { commits: 1, commitFailures: 0 });
    assert.deepEqual(failures, []);

    assert.deepEqual(await committer.commit([moved, clean]), [], "nothing changed: no request at all");
    assert.equal(adapter.commits.length, 1);
  });

  test("a second commit waits for the request in flight, then sends the newer position", async () => {
    const { adapter, committer } = setup();
    const state = progressed(0, 1);
    const first = committer.commit([state]);
    progress(state, 1);
    const second = committer.commit([state]);
    await flushMicrotasks();
    assert.equal(adapter.commits.length, 1, "one request at a time");
    adapter.commits[0]!.reply.resolve([]);
    await first;
    await flushMicrotasks();
    assert.deepEqual(adapter.commits.map(sent), [["0@1"], ["0@2"]]);

    // A third commit, asked for while the second is in flight, has nothing left to send.
    const third = committer.commit([state]);
    adapter.commits[1]!.reply.resolve([]);
    assert.deepEqual(await second, [state]);
    assert.deepEqual(await third, []);
    assert.equal(adapter.commits.length, 2);
  });

  test("a partition the broker refused stays pending; the others of the request are acknowledged", async () => {
    const { adapter, counts, failures, committer } = setup();
    const accepted = progressed(0, 2);
    const refused = progressed(1, 4);
    const done = committer.commit([accepted, refused]);
    const refusal = { topic: "t", partition: 1, error: new Error("NOT_COORDINATOR") };
    adapter.commits[0]!.reply.resolve([refusal]);
    assert.deepEqual(await done, [accepted, refused]);
    assert.equal(accepted.commitPending, false);
    assert.equal(refused.commitPending, true);
    assert.deepEqual(counts, { commits: 1, commitFailures: 1 });
    assert.equal(failures.length, 1);
    assert.ok(failures[0] instanceof CommitFailedError);
    assert.equal(failures[0].code, "PYRALLEL_COMMIT_FAILED");
    assert.deepEqual(failures[0].partitions, [refusal]);
    assert.match(failures[0].message, /t\[1\] \(NOT_COORDINATOR\)/);

    const again = committer.commit([accepted, refused]);
    assert.deepEqual(adapter.commits.map(sent), [["0@2", "1@4"], ["1@4"]], "only the refused partition is sent again");
    adapter.commits[1]!.reply.resolve([]);
    await again;
    assert.equal(refused.commitPending, false);
    assert.deepEqual(counts, { commits: 2, commitFailures: 1 });
  });

  test("a failed request acknowledges nothing and reports the cause with no partitions", async () => {
    const { adapter, counts, failures, committer } = setup();
    const a = progressed(0, 2);
    const b = progressed(1, 1);
    const done = committer.commit([a, b]);
    const cause = new Error("request timed out");
    adapter.commits[0]!.reply.reject(cause);
    assert.deepEqual(await done, [a, b], "still returns the partitions it tried");
    assert.equal(a.commitPending, true);
    assert.equal(b.commitPending, true);
    assert.deepEqual(counts, { commits: 0, commitFailures: 1 });
    assert.equal(failures.length, 1);
    assert.deepEqual(failures[0]!.partitions, []);
    assert.equal(failures[0]!.cause, cause);
    assert.match(failures[0]!.message, /request failed \(request timed out\)/);
  });

  test("an adapter that throws synchronously counts as a failed request, and the next commit still goes out", async () => {
    const { adapter, counts, failures, committer } = setup();
    const state = progressed(0, 1);
    const cause = new Error("not connected");
    adapter.commitThrows = cause;
    assert.deepEqual(await committer.commit([state]), [state]);
    assert.deepEqual(counts, { commits: 0, commitFailures: 1 });
    assert.equal(failures[0]!.cause, cause);
    adapter.commitThrows = undefined;
    const next = committer.commit([state]);
    assert.equal(adapter.commits.length, 1, "the failed request does not block the next one");
    adapter.commits[0]!.reply.resolve([]);
    await next;
    assert.equal(state.commitPending, false);
  });

  test("commitNow sends at once beside a request in flight, and a later commit waits for it too", async () => {
    const { adapter, committer } = setup();
    const state = progressed(0, 1);
    const first = committer.commit([state]);
    progress(state, 1);
    const now = committer.commitNow([state]);
    assert.equal(adapter.openCommits.length, 2, "commitNow does not wait");
    progress(state, 1);
    const later = committer.commit([state]);
    adapter.commits[0]!.reply.resolve([]);
    await first;
    await flushMicrotasks();
    assert.equal(adapter.commits.length, 2, "the later commit waits for the commitNow request");
    adapter.commits[1]!.reply.resolve([]);
    await now;
    await flushMicrotasks();
    assert.deepEqual(adapter.commits.map(sent), [["0@1"], ["0@2"], ["0@3"]]);
    adapter.commits[2]!.reply.resolve([]);
    await later;
    assert.equal(state.commitPending, false);
  });

  test("property: whatever the interleaving, one request at a time and positions never go backwards", async () => {
    type Op = "progress0" | "progress1" | "commit" | "ack" | "refuse1" | "fail";
    const ops = fc.array(fc.constantFrom<Op>("progress0", "progress1", "commit", "ack", "refuse1", "fail"), {
      maxLength: 30,
    });
    await fc.assert(
      fc.asyncProperty(ops, async (script) => {
        const { adapter, committer } = setup();
        const states = [progressed(0, 1), progressed(1, 1)];
        const calls: Promise<unknown>[] = [];
        for (const op of script) {
          const open = adapter.openCommits[0];
          if (op === "progress0") progress(states[0]!, 1);
          else if (op === "progress1") progress(states[1]!, 1);
          else if (op === "commit") calls.push(committer.commit(states));
          else if (op === "ack") open?.reply.resolve([]);
          else if (op === "refuse1") open?.reply.resolve([{ topic: "t", partition: 1, error: new Error("refused") }]);
          else open?.reply.reject(new Error("failed"));
          await flushMicrotasks();
          assert.ok(adapter.openCommits.length <= 1, "two commit requests in flight");
        }
        // Answer whatever is still open, then one last commit must leave nothing pending.
        for (;;) {
          await flushMicrotasks();
          const open = adapter.openCommits[0];
          if (!open) break;
          open.reply.resolve([]);
        }
        await Promise.all(calls);
        const last = committer.commit(states);
        await flushMicrotasks();
        adapter.openCommits[0]?.reply.resolve([]);
        await last;
        assert.deepEqual(states.map((state) => state.commitPending), [false, false]);
        for (const partition of [0, 1]) {
          const positions = adapter.commits.flatMap((request) =>
            request.offsets.filter((offset) => offset.partition === partition).map((offset) => offset.offset)
          );
          assert.deepEqual(positions, [...positions].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)));
        }
      }),
      { numRuns: 100 },
    );
  });

  describe("commitUntilClean", () => {
    test("retries after 100 ms, then 200 ms, and resolves undefined once a request goes through", async () => {
      const { virtual, adapter, counts, committer } = setup();
      const state = progressed(0, 2);
      const result = committer.commitUntilClean(() => [state], 3);
      adapter.commits[0]!.reply.reject(new Error("first"));
      assert.ok(await virtual.runUntil(() => adapter.commits.length === 2, 10_000));
      assert.equal(virtual.now, 100);
      adapter.commits[1]!.reply.resolve([{ topic: "t", partition: 0, error: new Error("second") }]);
      assert.ok(await virtual.runUntil(() => adapter.commits.length === 3, 10_000));
      assert.equal(virtual.now, 300);
      adapter.commits[2]!.reply.resolve([]);
      assert.equal(await result, undefined);
      assert.deepEqual(counts, { commits: 2, commitFailures: 2 });
      assert.equal(state.commitPending, false);
    });

    test("gives up after the attempts and returns the last failure, with no sleep after it", async () => {
      const { virtual, adapter, failures, committer } = setup();
      const state = progressed(0, 2);
      const result = committer.commitUntilClean(() => [state], 3);
      const causes = [new Error("a"), new Error("b"), new Error("c")];
      for (const [index, cause] of causes.entries()) {
        assert.ok(await virtual.runUntil(() => adapter.commits.length === index + 1, 10_000));
        adapter.commits[index]!.reply.reject(cause);
      }
      const last = await result;
      assert.equal(adapter.commits.length, 3);
      assert.equal(failures.length, 3);
      assert.equal(last, failures[2]);
      assert.equal(last?.cause, causes[2]);
      assert.equal(virtual.now, 300);
      assert.equal(virtual.pending(), 0, "no timer left behind");
    });

    test("with nothing to commit it resolves undefined without a request", async () => {
      const { adapter, committer } = setup();
      const state = new PartitionState("t", 0, () => 0, 4096);
      state.seed(7, [], 7);
      assert.equal(await committer.commitUntilClean(() => [state], 3), undefined);
      assert.equal(adapter.commits.length, 0);
    });
  });
});
