import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { PartitionState, type WorkItem } from "../../../src/core/control-plane/partition-state.ts";
import { ConsumerClosedError } from "../../../src/core/errors.ts";
import { acceptAll, message } from "./fakes.ts";

function seeded(position = 0): PartitionState {
  const state = new PartitionState("t", 0, () => 0);
  state.seed(position, [], position);
  return state;
}

/** Runs `item` once to the end (takes it from the ready queue first when it is there). */
function runOnce(state: PartitionState, item: WorkItem): void {
  state.scheduler.nextMatching((ready) => ready === item);
  const attempt = state.startAttempt(item, 0);
  assert.equal(state.endAttempt(item, attempt), true);
}

describe("PartitionState", () => {
  test("accept takes new offsets only: not duplicates, nor below the position, nor done per the offset map", () => {
    const state = new PartitionState("t", 3, () => 7);
    state.seed(10, [[12, 12]], 10);
    assert.equal(state.accept(message(9, null, { partition: 3 }), 9, null, 7), undefined, "below the position");
    const item = state.accept(message(10, "k", { partition: 3, value: "abc" }), 10, "k", 7);
    assert.ok(item);
    assert.deepEqual(
      { offset: item.offset, lane: item.lane, bytes: item.bytes, attempt: item.attempt, fetchedAt: item.fetchedAt },
      { offset: 10, lane: "k", bytes: 4, attempt: 0, fetchedAt: 7 },
    );
    assert.equal(item.partition, state);
    assert.equal(state.accept(message(10, "k", { partition: 3 }), 10, "k", 7), undefined, "duplicate");
    assert.ok(state.accept(message(11, null, { partition: 3, value: "xy" }), 11, null, 7));
    assert.equal(state.accept(message(12, null, { partition: 3 }), 12, null, 7), undefined, "done per the offset map");
    assert.equal(state.heldCount, 2);
    assert.equal(state.heldBytes, 6);
    assert.equal(state.held(10), item);
    assert.equal(state.held(12), undefined);
    assert.equal(state.scheduler.readyCount, 2);
  });

  test("held counts, queued and in-flight figures follow a message through its attempts", () => {
    const state = seeded();
    const [a0, a1, b2] = [...acceptAll(state, [0, 1], "a"), ...acceptAll(state, [2], "b")] as [
      WorkItem,
      WorkItem,
      WorkItem,
    ];
    assert.equal(state.heldCount, 3);
    assert.equal(state.heldBytes, 9, "key (1 byte) + value (2 bytes) each");
    assert.deepEqual([state.metrics().queuedCount, state.metrics().inFlight], [3, 0]);
    assert.equal(state.scheduler.readyCount, 2, "a1 waits behind a0 in lane a");

    assert.equal(state.scheduler.next(), a0);
    const attempt = state.startAttempt(a0, 50);
    assert.deepEqual([attempt.attempt, attempt.startedAt, a0.attempt, a0.running], [1, 50, 1, attempt]);
    assert.deepEqual([state.metrics().queuedCount, state.metrics().inFlight, state.running], [2, 1, 1]);
    assert.equal(state.busy(false), true, "an attempt runs");

    assert.equal(state.endAttempt(a0, attempt), true);
    assert.equal(a0.running, undefined);
    assert.equal(state.running, 0);
    assert.equal(state.endAttempt(a0, attempt), false, "ended twice");
    assert.equal(state.running, 0);

    const endRetryWait = state.hold("retry");
    assert.deepEqual([state.metrics().queuedCount, state.metrics().inFlight], [3, 0]);
    assert.equal(state.busy(true), true, "a retry may still start");
    assert.equal(state.busy(false), false, "a retry that may not start is no progress");
    endRetryWait();
    endRetryWait();
    assert.equal(state.metrics().queuedCount, 2, "ending a wait twice counts once");

    const endDeadLetter = state.hold("deadLetter");
    assert.equal(state.busy(false), true, "a dead letter being published is progress");
    endDeadLetter();

    state.finish(a0);
    assert.equal(state.heldCount, 2);
    assert.equal(state.heldBytes, 6);
    assert.equal(state.tracker.commitPosition, 1);
    assert.equal(state.scheduler.readyCount, 2, "a1 is ready once a0 released lane a");
    assert.deepEqual([state.scheduler.next(), state.scheduler.next()], [b2, a1]);
  });

  test("an attempt that is not the item's current one ends nothing", () => {
    const state = seeded();
    const [item] = acceptAll(state, [0]) as [WorkItem];
    state.scheduler.next();
    const first = state.startAttempt(item, 0);
    state.endAttempt(item, first);
    const second = state.startAttempt(item, 1);
    assert.equal(second.attempt, 2);
    assert.equal(state.endAttempt(item, first), false, "stale");
    assert.equal(state.running, 1);
    assert.equal(item.running, second);
    assert.equal(state.endAttempt(item, second), true);
    assert.equal(state.running, 0);
  });

  test("takeBack undoes the attempt count and makes the message ready again", () => {
    const state = seeded();
    const [item] = acceptAll(state, [0], "k") as [WorkItem];
    runOnce(state, item);
    assert.equal(item.attempt, 1);
    assert.equal(state.scheduler.readyCount, 0);
    state.takeBack(item);
    assert.equal(item.attempt, 0);
    assert.equal(state.scheduler.next(), item);
  });

  test("abortRunning aborts every running attempt with the reason, and nothing else", () => {
    const state = seeded();
    const [i0, i1, i2] = acceptAll(state, [0, 1, 2]) as [WorkItem, WorkItem, WorkItem];
    const a0 = state.startAttempt(i0, 0);
    const a1 = state.startAttempt(i1, 0);
    const a2 = state.startAttempt(i2, 0);
    state.endAttempt(i2, a2);
    const reason = new ConsumerClosedError();
    state.abortRunning(reason);
    assert.deepEqual([a0.aborted, a1.aborted, a2.aborted], [true, true, false]);
    assert.equal(a0.reason, reason);
    assert.equal(a1.signal.reason, reason);
  });

  describe("commitPending", () => {
    test("after seed: false only when the group's committed offset is the position", () => {
      const cases: [committed: number | undefined, pending: boolean][] = [[5, false], [undefined, true], [3, true], [
        8,
        true,
      ]];
      for (const [committed, pending] of cases) {
        const state = new PartitionState("t", 0, () => 0);
        state.seed(5, [], committed);
        assert.equal(state.commitPending, pending, `committed ${committed}`);
        assert.equal(state.prepareCommit(100)?.offset.offset, pending ? 5n : undefined);
      }
    });

    test("never seeded: nothing before the first fetched offset is to commit", () => {
      const state = new PartitionState("t", 0, () => 0);
      assert.equal(state.commitPending, false, "no position yet");
      const [item] = acceptAll(state, [20]) as [WorkItem];
      assert.equal(state.commitPending, false);
      assert.equal(state.metrics().committedOffset, 20n);
      state.finish(item);
      assert.equal(state.commitPending, true);
      assert.equal(state.prepareCommit(100)?.position, 21);
    });

    test("a completion above the blocker is pending too (the offset map changed); acknowledge clears it", () => {
      const state = seeded();
      const [, i1] = acceptAll(state, [0, 1, 2]) as [WorkItem, WorkItem, WorkItem];
      assert.equal(state.commitPending, false);
      state.finish(i1);
      assert.equal(state.commitPending, true);
      const commit = state.prepareCommit(100);
      assert.ok(commit);
      assert.deepEqual([commit.position, commit.offset.offset, commit.offset.topic, commit.offset.partition], [
        0,
        0n,
        "t",
        0,
      ]);
      assert.notEqual(commit.offset.metadata, "");
      assert.equal(state.metrics().commitMetadataBytes, commit.offset.metadata.length);
      assert.equal(state.commitPending, true, "prepared is not acknowledged");
      state.acknowledge(commit);
      assert.equal(state.commitPending, false);
      assert.equal(state.prepareCommit(100), undefined);
    });

    test("acknowledging an older commit leaves the newer progress pending", () => {
      const state = seeded();
      const [i0, i1] = acceptAll(state, [0, 1]) as [WorkItem, WorkItem];
      state.finish(i0);
      const older = state.prepareCommit(100)!;
      state.finish(i1);
      state.acknowledge(older);
      assert.equal(state.commitPending, true);
      assert.equal(state.prepareCommit(100)?.position, 2);
    });
  });

  describe("map pressure", () => {
    /** 40 offsets fetched at 0..39, the even ones from 2 done: 19 done ranges above position 0. */
    function gappy(doneEvens: number): PartitionState {
      const state = seeded();
      acceptAll(state, Array.from({ length: 40 }, (_, i) => i));
      for (let i = 0; i < doneEvens; i++) state.finish(state.held(2 + 2 * i)!);
      return state;
    }

    test("mapFull is set above 90% of maxMetadataBytes and cleared only below 50%", () => {
      const max = 16; // full above 14.4 characters, clear below 8
      const state = gappy(19);
      let commit = state.prepareCommit(max)!;
      assert.equal(commit.offset.metadata.length, 16);
      assert.equal(state.mapFull, true);
      assert.equal(state.pauseReason, "commitMetadataFull");

      // Position 31, done 32, 34, 36, 38: 8 characters, 50% exactly: still full.
      for (let offset = 0; offset < 30; offset++) if (state.held(offset)) state.finish(state.held(offset)!);
      commit = state.prepareCommit(max)!;
      assert.deepEqual([commit.position, commit.offset.metadata.length], [31, 8]);
      assert.equal(state.mapFull, true, "hysteresis: between 50% and 90% it stays full");

      for (let offset = 30; offset < 38; offset++) if (state.held(offset)) state.finish(state.held(offset)!);
      commit = state.prepareCommit(max)!;
      assert.deepEqual([commit.position, commit.offset.metadata], [39, ""]);
      assert.equal(state.mapFull, false);
      assert.equal(state.pauseReason, null);
    });

    test("a map between 50% and 90% does not set mapFull when it was not full", () => {
      const state = gappy(4);
      const commit = state.prepareCommit(16)!;
      assert.equal(commit.offset.metadata.length, 12);
      assert.equal(state.mapFull, false);
    });

    test("a map cut short by the limit is full even below 90% of it", () => {
      const state = gappy(19);
      const commit = state.prepareCommit(11)!;
      assert.equal(commit.offset.metadata.length, 8, "8 <= 9.9: full only because it is incomplete");
      assert.equal(state.mapFull, true);
    });
  });

  test("windowCrossed reports reaching the limit once, and falling below 80% of it once", () => {
    const state = seeded();
    const items = acceptAll(state, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal(state.windowCrossed(10), undefined, "9 < 10");
    items.push(...acceptAll(state, [9]));
    assert.equal(state.windowCrossed(10), true);
    assert.equal(state.windowFull, true);
    assert.equal(state.pauseReason, "maxUncommittedOffsets");
    items.push(...acceptAll(state, [10, 11]));
    assert.equal(state.windowCrossed(10), undefined, "already full");
    for (const item of items.slice(0, 4)) state.finish(item); // window 8 = 80%: not below
    assert.equal(state.tracker.windowSize, 8);
    assert.equal(state.windowCrossed(10), undefined);
    state.finish(items[4]!);
    assert.equal(state.windowCrossed(10), false);
    assert.equal(state.windowFull, false);
    assert.equal(state.windowCrossed(10), undefined);
  });

  test("pauseReason names the offset map before the window", () => {
    const state = seeded();
    acceptAll(state, Array.from({ length: 40 }, (_, i) => i));
    for (let offset = 2; offset < 40; offset += 2) state.finish(state.held(offset)!);
    state.windowCrossed(10);
    assert.equal(state.pauseReason, "maxUncommittedOffsets");
    state.prepareCommit(16);
    assert.equal(state.pauseReason, "commitMetadataFull");
  });

  test("metrics report the tracker's figures as bigints", () => {
    let time = 1000;
    const state = new PartitionState("t", 2, () => time);
    state.seed(100, [], 90);
    const [, i101, i102] = acceptAll(state, [100, 101, 102, 103]) as [WorkItem, WorkItem, WorkItem, WorkItem];
    runOnce(state, i101);
    state.finish(i101);
    state.scheduler.nextMatching((item) => item === i102);
    state.startAttempt(i102, time);
    state.hold("retry");
    time = 3500;
    assert.deepEqual(state.metrics(), {
      topic: "t",
      partition: 2,
      trueLag: 4,
      gapCount: 1,
      blockingOffset: 100n,
      blockingDurationSec: 2.5,
      queuedCount: 3, // 100 and 103 ready, one waiting to retry
      inFlight: 1,
      highestContiguousOffset: 99n,
      committedOffset: 90n,
      lastFetchedOffset: 103n,
      commitMetadataBytes: 0,
      uncommittedOffsets: 4,
      pauseReason: null,
    });
  });

  test("property: held figures and the commit position match a model of accepted, running and finished messages", () => {
    type Op = { op: "accept"; lane: string | null; size: number } | { op: "start" } | {
      op: "finish" | "fail";
      pick: number;
    };
    const op = fc.oneof(
      fc.record({ op: fc.constant("accept" as const), lane: fc.constantFrom(null, "a", "b"), size: fc.nat(20) }),
      fc.record({ op: fc.constant("start" as const) }),
      fc.record({ op: fc.constantFrom("finish" as const, "fail" as const), pick: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array<Op>(op, { maxLength: 80 }), (ops) => {
        const state = seeded(10);
        let next = 10;
        let lastAccepted: number | undefined;
        const held = new Map<number, WorkItem>();
        const running: WorkItem[] = [];
        for (const step of ops) {
          if (step.op === "accept") {
            const offset = next;
            next += 1 + (step.size % 3); // holes between offsets are allowed
            const item = state.accept(
              { ...message(offset, step.lane), value: new Uint8Array(step.size) },
              offset,
              step.lane,
              0,
            );
            assert.ok(item);
            held.set(offset, item);
            lastAccepted = offset;
          } else if (step.op === "start") {
            const item = state.scheduler.next();
            if (item) {
              state.startAttempt(item, 0);
              running.push(item);
            }
          } else if (running.length > 0) {
            const [item] = running.splice(step.pick % running.length, 1) as [WorkItem];
            assert.equal(state.endAttempt(item, item.running!), true);
            if (step.op === "finish") {
              state.finish(item);
              held.delete(item.offset);
            } else {
              state.scheduler.retry(item);
            }
          }
          const lanes = running.map((item) => item.lane).filter((lane) => lane !== null);
          assert.equal(new Set(lanes).size, lanes.length, "two messages of one key run at once");
          assert.equal(state.heldCount, held.size);
          assert.equal(state.heldBytes, [...held.values()].reduce((sum, item) => sum + item.bytes, 0));
          const metrics = state.metrics();
          assert.equal(metrics.inFlight, running.length);
          assert.equal(metrics.queuedCount, held.size - running.length);
          const expected = held.size > 0
            ? Math.min(...held.keys())
            : lastAccepted === undefined
            ? 10
            : lastAccepted + 1;
          assert.equal(state.tracker.commitPosition, expected);
        }
      }),
      { numRuns: 200 },
    );
  });
});
