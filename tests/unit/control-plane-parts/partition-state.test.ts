import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { type FetchLimits, PartitionState, type WorkItem } from "../../../src/core/control-plane/partition-state.ts";
import { ConsumerClosedError } from "../../../src/core/errors.ts";
import { acceptAll, admitAll, bufferAll, message } from "./fakes.ts";
import { doneOffsets } from "../../support/offset-map.ts";

function seeded(position = 0, maxMetadataBytes = 4096): PartitionState {
  const state = new PartitionState("t", 0, () => 0, maxMetadataBytes);
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
    const state = new PartitionState("t", 3, () => 7, 4096);
    state.seed(10, [[12, 12]], 10);
    assert.equal(state.accept(message(9, null, { partition: 3 }), 9, null, 7), false, "below the position");
    assert.equal(state.accept(message(10, "k", { partition: 3, value: "abc" }), 10, "k", 7), true);
    const item = state.held(10);
    assert.ok(item);
    assert.deepEqual(
      { offset: item.offset, lane: item.lane, bytes: item.bytes, attempt: item.attempt, fetchedAt: item.fetchedAt },
      { offset: 10, lane: "k", bytes: 4, attempt: 0, fetchedAt: 7 },
    );
    assert.equal(item.partition, state);
    assert.equal(state.accept(message(10, "k", { partition: 3 }), 10, "k", 7), false, "duplicate");
    assert.equal(state.accept(message(11, null, { partition: 3, value: "xy" }), 11, null, 7), true);
    assert.equal(state.accept(message(12, null, { partition: 3 }), 12, null, 7), false, "done per the offset map");
    assert.equal(state.held(12), undefined);
    // Accepted messages are buffered, not admitted: nothing counts against the in-flight budget yet.
    assert.deepEqual([state.admittedCount, state.admittedBytes], [0, 0]);
    assert.equal(state.bufferedCount, 2);
    assert.equal(state.bufferedBytes, 4 + 2, "payload bytes: keys and values");
    assert.deepEqual([state.scheduler.readyCount, state.scheduler.admissibleCount], [0, 2]);
    assert.equal(state.tracker.lastFetchedOffset, 12, "the tracker counts them (and 12) as fetched");
    assert.equal(state.tracker.windowSize, 3, "10 and 11, and 12 done");
  });

  test("admit moves the next admissible message from the buffer into the in-flight window", () => {
    const state = seeded();
    const [a0, a1] = bufferAll(state, [0, 1], "a") as [WorkItem, WorkItem];
    const [b2] = bufferAll(state, [2], "b") as [WorkItem];
    assert.deepEqual([state.bufferedCount, state.bufferedBytes], [3, 9]);
    assert.equal(state.admit(), a0);
    assert.deepEqual([state.admittedCount, state.admittedBytes], [1, 3]);
    assert.deepEqual([state.bufferedCount, state.bufferedBytes], [2, 6]);
    assert.equal(state.admit(), b2);
    assert.equal(state.admit(), undefined, "a1 waits behind a0: not admissible");
    assert.deepEqual([state.admittedCount, state.bufferedCount], [2, 1]);
    assert.deepEqual(
      [state.metrics().queuedCount, state.metrics().bufferedCount, state.metrics().bufferedBytes],
      [2, 1, 3],
    );
    state.scheduler.next();
    state.finish(a0);
    assert.deepEqual([state.admittedCount, state.admittedBytes], [1, 3]);
    assert.equal(state.bufferedCount, 1, "a1 is admissible now, still buffered");
    assert.equal(state.admit(), a1);
    assert.deepEqual([state.bufferedCount, state.bufferedBytes, state.admittedCount], [0, 0, 2]);
  });

  test("nextBlocking takes the blocking offset out of turn, admitting it when it was buffered", () => {
    const state = seeded();
    assert.equal(state.nextBlocking(), undefined, "nothing tracked: no blocking offset");
    const [i0, i1, i2] = bufferAll(state, [0, 1, 2]) as [WorkItem, WorkItem, WorkItem];
    assert.equal(state.admit(), i0);
    assert.equal(state.admit(), i1);
    // 0 starts and finishes; 1 is ready, 2 admissible.
    state.scheduler.next();
    state.finish(i0);
    assert.equal(state.tracker.blockingOffset, 1);
    assert.deepEqual(state.nextBlocking(), { item: i1, admitted: false }, "already admitted");
    assert.equal(state.admittedCount, 1);
    assert.equal(state.scheduler.readyCount, 0, "taken out of the ready queue");
    state.finish(i1);
    assert.equal(state.tracker.blockingOffset, 2);
    assert.deepEqual(state.nextBlocking(), { item: i2, admitted: true }, "admitted now");
    assert.deepEqual([state.admittedCount, state.admittedBytes, state.bufferedCount, state.bufferedBytes], [
      1,
      2,
      0,
      0,
    ]);
    assert.equal(state.nextBlocking(), undefined, "taken already: running or about to");
  });

  test("held counts, queued and in-flight figures follow a message through its attempts", () => {
    const state = seeded();
    const [a0, a1, b2] = [...acceptAll(state, [0, 1], "a"), ...acceptAll(state, [2], "b")] as [
      WorkItem,
      WorkItem,
      WorkItem,
    ];
    assert.equal(state.admittedCount, 2, "a1 waits behind a0 in lane a: not admitted");
    assert.equal(state.admittedBytes, 6, "key (1 byte) + value (2 bytes) each");
    assert.deepEqual([state.bufferedCount, state.bufferedBytes], [1, 3]);
    assert.deepEqual([state.metrics().queuedCount, state.metrics().inFlight, state.metrics().bufferedCount], [2, 0, 1]);
    assert.equal(state.scheduler.readyCount, 2);

    assert.equal(state.scheduler.next(), a0);
    const attempt = state.startAttempt(a0, 50);
    assert.deepEqual([attempt.attempt, attempt.startedAt, a0.attempt, a0.running], [1, 50, 1, attempt]);
    assert.deepEqual([state.metrics().queuedCount, state.metrics().inFlight, state.running], [1, 1, 1]);
    assert.equal(state.busy(false), true, "an attempt runs");

    assert.equal(state.endAttempt(a0, attempt), true);
    assert.equal(a0.running, undefined);
    assert.equal(state.running, 0);
    assert.equal(state.endAttempt(a0, attempt), false, "ended twice");
    assert.equal(state.running, 0);

    state.scheduler.next(); // b2 starts and ends, so only the retry wait is left
    state.endAttempt(b2, state.startAttempt(b2, 60));
    state.scheduler.retry(b2);
    const endRetryWait = state.hold("retry");
    assert.deepEqual([state.metrics().queuedCount, state.metrics().inFlight], [2, 0], "admitted, not running");
    state.scheduler.nextMatching((item) => item === b2);
    assert.equal(state.busy(true), true, "a retry may still start");
    assert.equal(state.busy(false), false, "a retry that may not start is no progress");
    endRetryWait();
    assert.equal(state.busy(true), false, "the wait ended");
    const endAgain = state.hold("retry");
    endRetryWait();
    assert.equal(state.busy(true), true, "ending a wait twice counts once");
    endAgain();
    state.scheduler.retry(b2);

    const endDeadLetter = state.hold("deadLetter");
    assert.equal(state.busy(false), true, "a dead letter being published is progress");
    endDeadLetter();

    state.finish(a0);
    assert.equal(state.admittedCount, 1);
    assert.equal(state.admittedBytes, 3);
    assert.equal(state.tracker.commitPosition, 1);
    assert.equal(state.scheduler.admissibleCount, 1, "a1 is admissible once a0 released lane a");
    assert.equal(state.admit(), a1);
    assert.deepEqual([state.admittedCount, state.bufferedCount, state.bufferedBytes], [2, 0, 0]);
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
        const state = new PartitionState("t", 0, () => 0, 4096);
        state.seed(5, [], committed);
        assert.equal(state.commitPending, pending, `committed ${committed}`);
        assert.equal(state.prepareCommit()?.offset.offset, pending ? 5n : undefined);
      }
    });

    test("never seeded: nothing before the first fetched offset is to commit", () => {
      const state = new PartitionState("t", 0, () => 0, 4096);
      assert.equal(state.commitPending, false, "no position yet");
      const [item] = acceptAll(state, [20]) as [WorkItem];
      assert.equal(state.commitPending, false);
      assert.equal(state.metrics().committedOffset, 20n);
      state.finish(item);
      assert.equal(state.commitPending, true);
      assert.equal(state.prepareCommit()?.position, 21);
    });

    test("a completion above the blocker is pending too (the offset map changed); acknowledge clears it", () => {
      const state = seeded();
      const [, i1] = acceptAll(state, [0, 1, 2]) as [WorkItem, WorkItem, WorkItem];
      assert.equal(state.commitPending, false);
      state.finish(i1);
      assert.equal(state.commitPending, true);
      const commit = state.prepareCommit();
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
      assert.equal(state.prepareCommit(), undefined);
    });

    test("acknowledging an older commit leaves the newer progress pending", () => {
      const state = seeded();
      const [i0, i1] = acceptAll(state, [0, 1]) as [WorkItem, WorkItem];
      state.finish(i0);
      const older = state.prepareCommit()!;
      state.finish(i1);
      state.acknowledge(older);
      assert.equal(state.commitPending, true);
      assert.equal(state.prepareCommit()?.position, 2);
    });
  });

  describe("map pressure", () => {
    test("property: starting work only while mapHasRoom, every commit's map holds every finished offset", () => {
      // Commits are rare: between two of them many completions may grow the map.
      const action = fc.oneof(
        { arbitrary: fc.constant("start"), weight: 12 },
        { arbitrary: fc.nat({ max: 1000 }), weight: 6 },
        { arbitrary: fc.constant("commit"), weight: 1 },
      );
      fc.assert(
        fc.property(
          fc.constantFrom(16, 24, 64, 256),
          fc.array(action, { minLength: 100, maxLength: 600, size: "large" }),
          (max, actions) => {
            const state = seeded(0, max);
            acceptAll(state, Array.from({ length: 300 }, (_, i) => i));
            const running: WorkItem[] = [];
            const finished = new Set<number>();
            const commit = () => {
              const prepared = state.prepareCommit();
              if (!prepared) return;
              const { position, offset: { metadata } } = prepared;
              assert.ok(metadata.length <= max);
              const expected = [...finished].filter((offset) => offset > position).sort((a, b) => a - b);
              assert.deepEqual(doneOffsets(metadata, position), expected);
              state.acknowledge(prepared);
            };
            for (const step of actions) {
              if (step === "commit") commit();
              else if (step === "start") {
                const item = state.mapHasRoom(1) ? state.scheduler.next() : state.nextBlocking()?.item;
                if (item === undefined || item.running !== undefined) continue;
                state.startAttempt(item, 0);
                running.push(item);
              } else if (running.length > 0) {
                const [item] = running.splice(step % running.length, 1) as [WorkItem];
                state.endAttempt(item, item.running!);
                state.finish(item);
                finished.add(item.offset);
              }
            }
            commit();
          },
        ),
        { numRuns: 200 },
      );
    });

    test("mapRoom is the most messages that may start now, up to its limit", () => {
      const state = seeded(0, 24);
      acceptAll(state, Array.from({ length: 200 }, (_, i) => i));
      const rooms: number[] = [];
      for (let started = 0; started < 12; started++) {
        const room = state.mapRoom(50);
        rooms.push(room);
        assert.ok(room === 0 || state.mapHasRoom(room));
        assert.ok(room === 50 || !state.mapHasRoom(room + 1), `${room} is the most`);
        const item = state.scheduler.next()!;
        state.startAttempt(item, 0);
      }
      // Each start takes one unit of room. The bitset bound (200 offsets: 29 payload bytes) is over
      // the 15 a 24-character map holds, so the run-length bound decides: 2 bytes for the position
      // (up to 199), then 3 a message (a run and a gap of up to 199).
      assert.deepEqual(rooms, [4, 3, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
      assert.equal(state.mapFull, true);
    });

    test("at its map's limit, the map is measured again after a finish per 16 of its bytes, or once the position moved", () => {
      const state = seeded(0, 64); // 45 payload bytes
      acceptAll(state, Array.from({ length: 1000 }, (_, i) => i)); // a bitset would take 125
      const measures = countMeasures(state);
      const finish = (...offsets: number[]) => finishOffsets(state, offsets);
      // Ten messages running (offsets 500-509): a check counts them and the one to start.
      for (let offset = 500; offset < 510; offset++) {
        const item = state.held(offset)!;
        state.scheduler.nextMatching((ready) => ready === item);
        state.startAttempt(item, 0);
      }
      // 21 done offsets 48 apart, 2 to 962: the position's byte and 2 bytes a range make 43 (a
      // bitset, 121); with 11 more messages (up to 3 bytes each) it would not fit.
      finish(...Array.from({ length: 21 }, (_, i) => 2 + 48 * i));
      assert.equal(state.mapHasRoom(1), false);
      assert.equal(measures(), 1);
      // The same position: two finishes (32 < 43 bytes, fewer than 11 in flight) are not enough
      // for a measure, three are.
      finish(10, 20);
      assert.equal(state.mapHasRoom(1), false);
      assert.equal(measures(), 1);
      finish(30);
      assert.equal(state.mapHasRoom(1), false);
      assert.equal(measures(), 2);
      // The position moves to 51: measured at the next check.
      finish(
        ...Array.from({ length: 50 }, (_, offset) => offset).filter((offset) => ![2, 10, 20, 30].includes(offset)),
      );
      assert.equal(state.mapHasRoom(1), false);
      assert.equal(measures(), 3);
    });

    test("at its map's limit with little in flight, the map is measured again once as many finished", () => {
      const state = seeded(0, 64);
      acceptAll(state, Array.from({ length: 1000 }, (_, i) => i));
      const measures = countMeasures(state);
      const finish = (...offsets: number[]) => finishOffsets(state, offsets);
      // 22 done offsets 44 apart, 2 to 926: 45 bytes, the whole map; nothing can start.
      for (let i = 0; i < 22; i++) finish(2 + 44 * i);
      assert.equal(state.mapHasRoom(1), false);
      assert.equal(measures(), 1);
      // 3, then 4, extend the first range (the map stays 45 bytes): as many finished as were in
      // flight at the check (the one about to start), so each check measures, though 16 < 45.
      finish(3);
      assert.equal(state.mapHasRoom(1), false);
      assert.equal(measures(), 2);
      finish(4);
      assert.equal(state.mapHasRoom(1), false);
      assert.equal(measures(), 3);
    });

    /** How many times the map was measured (its done ranges read) since this call. */
    function countMeasures(state: PartitionState): () => number {
      let measures = 0;
      const doneRanges = state.tracker.doneRanges.bind(state.tracker);
      state.tracker.doneRanges = () => {
        measures++;
        return doneRanges();
      };
      return () => measures;
    }

    /** Runs each offset's message once and finishes it. */
    function finishOffsets(state: PartitionState, offsets: readonly number[]): void {
      for (const offset of offsets) {
        const item = state.held(offset)!;
        runOnce(state, item);
        state.finish(item);
      }
    }

    /** 40 offsets fetched at 0..39, the even ones from 2 done: 19 done ranges above position 0. */
    function gappy(doneEvens: number, maxMetadataBytes: number): PartitionState {
      const state = seeded(0, maxMetadataBytes);
      acceptAll(state, Array.from({ length: 40 }, (_, i) => i));
      for (let i = 0; i < doneEvens; i++) state.finish(state.held(2 + 2 * i)!);
      return state;
    }

    test("mapFull is set above 90% of maxMetadataBytes and cleared only below 50%", () => {
      const max = 16; // full above 14.4 characters, clear below 8
      const state = gappy(19, max);
      let commit = state.prepareCommit()!;
      assert.equal(commit.offset.metadata.length, 16);
      assert.equal(state.mapFull, true);
      assert.equal(state.pauseReason, "commitMetadataFull");

      // Position 31, done 32, 34, 36, 38: 8 characters, 50% exactly: still full.
      for (let offset = 0; offset < 30; offset++) if (state.held(offset)) state.finish(state.held(offset)!);
      commit = state.prepareCommit()!;
      assert.deepEqual([commit.position, commit.offset.metadata.length], [31, 8]);
      assert.equal(state.mapFull, true, "hysteresis: between 50% and 90% it stays full");

      for (let offset = 30; offset < 38; offset++) if (state.held(offset)) state.finish(state.held(offset)!);
      commit = state.prepareCommit()!;
      assert.deepEqual([commit.position, commit.offset.metadata], [39, ""]);
      assert.equal(state.mapFull, false);
      assert.equal(state.pauseReason, null);
    });

    test("a map between 50% and 90% does not set mapFull when it was not full", () => {
      const state = gappy(4, 16);
      const commit = state.prepareCommit()!;
      assert.equal(commit.offset.metadata.length, 12);
      assert.equal(state.mapFull, false);
    });

    test("a map cut short by the limit is full even below 90% of it", () => {
      const state = gappy(19, 11);
      const commit = state.prepareCommit()!;
      assert.equal(commit.offset.metadata.length, 8, "8 <= 9.9: full only because it is incomplete");
      assert.equal(state.mapFull, true);
    });
  });

  describe("fetchHoldChanged", () => {
    const limits = (
      maxUncommittedOffsets: number,
      maxBufferedBytes = 1_000_000,
      maxBufferedMessages = 1_000_000,
    ): FetchLimits => ({ maxUncommittedOffsets, maxBufferedBytes, maxBufferedMessages });

    test("window: reports reaching the limit once, and falling below 80% of it once", () => {
      const state = seeded();
      const items = acceptAll(state, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
      assert.equal(state.fetchHoldChanged(limits(10)), undefined, "9 < 10");
      assert.equal(state.fetchHeld, false);
      items.push(...acceptAll(state, [9]));
      assert.equal(state.fetchHoldChanged(limits(10)), true);
      assert.equal(state.fetchHeld, true);
      assert.equal(state.pauseReason, "maxUncommittedOffsets");
      items.push(...acceptAll(state, [10, 11]));
      assert.equal(state.fetchHoldChanged(limits(10)), undefined, "already held");
      for (const item of items.slice(0, 4)) state.finish(item); // window 8 = 80%: not below
      assert.equal(state.tracker.windowSize, 8);
      assert.equal(state.fetchHoldChanged(limits(10)), undefined);
      state.finish(items[4]!);
      assert.equal(state.fetchHoldChanged(limits(10)), false);
      assert.equal(state.fetchHeld, false);
      assert.equal(state.pauseReason, null);
      assert.equal(state.fetchHoldChanged(limits(10)), undefined);
    });

    test("window: buffered messages count, since the tracker counts them as fetched", () => {
      const state = seeded();
      bufferAll(state, [0, 1, 2, 3, 4], "k");
      assert.equal(state.admittedCount, 0);
      assert.equal(state.fetchHoldChanged(limits(5)), true);
      assert.equal(state.pauseReason, "maxUncommittedOffsets");
    });

    test("buffer bytes: reports reaching maxBufferedBytes once, and falling below 80% of it once", () => {
      const state = seeded();
      const bytes = 1 + 2; // key "k", values "v0".."v9"
      const max = limits(1000, 10 * bytes);
      bufferAll(state, [0, 1, 2, 3, 4, 5, 6, 7, 8], "k");
      assert.equal(state.bufferedBytes, 9 * bytes);
      assert.equal(state.fetchHoldChanged(max), undefined, "9 messages' bytes < 10");
      bufferAll(state, [9], "k");
      assert.equal(state.fetchHoldChanged(max), true, "at the limit");
      assert.deepEqual([state.fetchHeld, state.pauseReason], [true, "bufferFull"]);
      assert.equal(state.fetchHoldChanged(max), undefined, "already held");
      // One key: admitting one at a time, each after the previous finished.
      const admitNext = () => {
        const item = state.admit()!;
        state.scheduler.next();
        state.finish(item);
      };
      admitNext();
      admitNext(); // 8 messages' bytes = 80%: not below
      assert.equal(state.bufferedBytes, 8 * bytes);
      assert.equal(state.fetchHoldChanged(max), undefined);
      admitNext();
      assert.equal(state.fetchHoldChanged(max), false);
      assert.deepEqual([state.fetchHeld, state.pauseReason], [false, null]);
      assert.equal(state.fetchHoldChanged(max), undefined);
    });

    test("buffer bytes: keys and values count, nothing else", () => {
      const state = seeded();
      state.accept({ ...message(0, "key"), value: new Uint8Array(997) }, 0, "key", 0);
      state.accept({ ...message(1, null), value: null }, 1, null, 0);
      assert.equal(state.bufferedBytes, 1000, "an empty record costs nothing");
      assert.equal(state.fetchHoldChanged(limits(1000, 1001)), undefined);
      assert.equal(state.fetchHoldChanged(limits(1000, 1000)), true);
    });

    test("buffer messages: reports reaching maxBufferedMessages once, and falling below 80% of it once", () => {
      const state = seeded();
      const max = limits(1000, 1_000_000, 5);
      const items = bufferAll(state, [0, 1, 2, 3], "k");
      assert.equal(state.fetchHoldChanged(max), undefined, "4 < 5");
      items.push(...bufferAll(state, [4], "k"));
      assert.equal(state.fetchHoldChanged(max), true, "5 messages, 15 bytes: the count holds it");
      assert.deepEqual([state.fetchHeld, state.pauseReason], [true, "bufferFull"]);
      assert.equal(state.admit(), items[0]);
      assert.equal(state.fetchHoldChanged(max), undefined, "4 = 80%: not below");
      state.scheduler.next();
      state.finish(items[0]!);
      assert.equal(state.admit(), items[1]);
      assert.equal(state.bufferedCount, 3);
      assert.equal(state.fetchHoldChanged(max), false);
    });

    // A record batch is returned whole, so one response may bring more than the limits: waiting for
    // 80% of them would leave a fraction of a response to cover the next fetch's round trip (the
    // no-op consumer idled a fifth of its time on 1,250-record batches with the 1,000-message limit).
    test("buffer: after a delivery larger than the limits, fetched again once less than it is left", () => {
      const state = seeded();
      const max = limits(1000, 1_000_000, 10);
      const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
      bufferAll(state, range(0, 25));
      state.deliveryEnded();
      assert.equal(state.fetchHoldChanged(max), true, "25 messages, limit 10");
      state.admit();
      assert.equal(state.fetchHoldChanged(max), false, "24 left: less than the 25 delivered, far above 80% of 10");
      bufferAll(state, range(25, 50));
      state.deliveryEnded();
      assert.equal(state.fetchHoldChanged(max), true, "49: the next response came while 24 were left");
      // Small deliveries again: the 80% mark rules once more.
      while (state.bufferedCount > 9) state.admit();
      bufferAll(state, [50, 51]);
      state.deliveryEnded();
      assert.equal(state.bufferedCount, 11);
      assert.equal(state.fetchHoldChanged(max), undefined, "held: 11 is more than the 2 delivered and than 8");
      while (state.bufferedCount > 8) state.admit();
      assert.equal(state.fetchHoldChanged(max), undefined, "8 = 80%: not below");
      state.admit();
      assert.equal(state.fetchHoldChanged(max), false, "7: below 80% of the limit");
    });

    test("buffer: held while either bound is reached, released only once both fell below 80%", () => {
      // Limits: 100 bytes (resume below 80), 10 messages (resume below 8).
      const max = limits(1000, 100, 10);
      const sized = (state: PartitionState, offset: number, size: number) =>
        state.accept({ ...message(offset, null), value: new Uint8Array(size) }, offset, null, 0);

      // The count holds it while the bytes are far below their mark.
      const many = seeded();
      sized(many, 0, 60);
      for (let offset = 1; offset < 10; offset++) sized(many, offset, 4);
      assert.deepEqual([many.bufferedCount, many.bufferedBytes], [10, 96]);
      assert.equal(many.fetchHoldChanged(max), true);
      assert.equal(many.pauseReason, "bufferFull");
      many.admit();
      assert.deepEqual([many.bufferedCount, many.bufferedBytes], [9, 36]);
      assert.equal(many.fetchHoldChanged(max), undefined, "9 messages: the count still holds it");
      many.admit();
      many.admit();
      assert.equal(many.fetchHoldChanged(max), false, "7 messages, 28 bytes");

      // The bytes hold it while the count is far below its mark.
      const large = seeded();
      for (let offset = 0; offset < 3; offset++) sized(large, offset, 40);
      assert.equal(large.fetchHoldChanged(max), true, "120 bytes in 3 messages");
      large.admit();
      assert.equal(large.fetchHoldChanged(max), undefined, "80 bytes = 80%: not below");
      large.admit();
      assert.equal(large.fetchHoldChanged(max), false, "40 bytes");
    });

    test("window and buffer: held while either is full, released once both fell below 80%", () => {
      const state = seeded();
      const keyless = 2; // "v0".."v9", no key
      const keyed = 1 + keyless; // key "k"
      const items = bufferAll(state, [0, 1, 2, 3, 4]);
      assert.equal(state.fetchHoldChanged(limits(5, 5 * keyless)), true, "both reached: one change");
      assert.equal(state.pauseReason, "maxUncommittedOffsets", "the window is named before the buffer");
      admitAll(state);
      assert.equal(state.fetchHoldChanged(limits(5, 5 * keyless)), undefined, "the buffer is empty, the window full");
      assert.equal(state.pauseReason, "maxUncommittedOffsets");
      for (const item of items.slice(0, 2)) state.finish(item);
      assert.equal(state.fetchHoldChanged(limits(5, 5 * keyless)), false);

      // Now the buffer alone: 5..9 of one key, and a window of 8 (2..9).
      bufferAll(state, [5, 6, 7, 8, 9], "k");
      assert.equal(state.tracker.windowSize, 8);
      assert.equal(state.fetchHoldChanged(limits(100, 5 * keyed)), true);
      assert.equal(state.pauseReason, "bufferFull");
      // The window fills too while the buffer holds it: no second change, and its name wins.
      const both = limits(8, 5 * keyed);
      assert.equal(state.fetchHoldChanged(both), undefined);
      assert.equal(state.pauseReason, "maxUncommittedOffsets");
      assert.equal(state.admit(), state.held(5));
      assert.equal(state.admit(), undefined, "one key: only 5 was admissible");
      assert.equal(state.bufferedBytes, 4 * keyed);
      assert.equal(state.fetchHoldChanged(both), undefined, "buffer at 80%: not below; window full");
      state.scheduler.next();
      state.finish(state.held(5)!);
      assert.equal(state.admit(), state.held(6));
      assert.equal(state.bufferedBytes, 3 * keyed);
      assert.equal(state.fetchHoldChanged(both), undefined, "the buffer is below 80%, the window is not");
      assert.equal(state.pauseReason, "maxUncommittedOffsets");
      for (const offset of [2, 3, 4]) state.finish(state.held(offset)!);
      assert.equal(state.tracker.windowSize, 4, "6..9");
      assert.equal(state.fetchHoldChanged(both), false);
      assert.equal(state.pauseReason, null);
    });
  });

  test("pauseReason names the offset map before the window, and the window before the buffer", () => {
    const state = seeded(0, 16);
    acceptAll(state, Array.from({ length: 40 }, (_, i) => i));
    for (let offset = 2; offset < 40; offset += 2) state.finish(state.held(offset)!);
    bufferAll(state, [40, 41], "k"); // 2 * (1 + 3) bytes
    assert.equal(state.pauseReason, null);
    const buffer = { maxUncommittedOffsets: 1000, maxBufferedBytes: 8, maxBufferedMessages: 1000 };
    assert.equal(state.fetchHoldChanged(buffer), true);
    assert.equal(state.pauseReason, "bufferFull");
    assert.equal(state.fetchHoldChanged({ ...buffer, maxUncommittedOffsets: 10 }), undefined);
    assert.equal(state.pauseReason, "maxUncommittedOffsets");
    state.prepareCommit();
    assert.equal(state.pauseReason, "commitMetadataFull");
  });

  test("metrics report the tracker's figures as bigints", () => {
    let time = 1000;
    const state = new PartitionState("t", 2, () => time, 4096);
    state.seed(100, [], 90);
    // Accepted at 1000 (the fetch time starts the blocking duration), finished at 1000 too.
    const [, i101, i102, i103] = acceptAll(state, [100, 101, 102, 103], null, time) as [
      WorkItem,
      WorkItem,
      WorkItem,
      WorkItem,
    ];
    acceptAll(state, [104, 105], "k"); // 104 admitted, 105 waits behind it
    bufferAll(state, [106]); // admissible, not admitted
    runOnce(state, i101);
    state.finish(i101);
    runOnce(state, i102);
    state.hold("retry");
    state.scheduler.nextMatching((item) => item === i103);
    state.startAttempt(i103, time);
    time = 3500;
    assert.deepEqual(state.metrics(), {
      topic: "t",
      partition: 2,
      trueLag: 7,
      gapCount: 1,
      blockingOffset: 100n,
      blockingDurationSec: 2.5,
      queuedCount: 3, // 100 and 104 ready, 102 waiting to retry
      bufferedCount: 2, // 105 behind its key, 106 admissible
      bufferedBytes: (1 + 4) + 4, // key "k" and value "v105"; value "v106"
      inFlight: 1,
      highestContiguousOffset: 99n,
      committedOffset: 90n,
      lastFetchedOffset: 106n,
      commitMetadataBytes: 0,
      uncommittedOffsets: 7,
      pauseReason: null,
    });
  });

  test("property: admitted, buffered and in-flight figures and the commit position match a model", () => {
    type Op =
      | { op: "accept"; lane: string | null; size: number }
      | { op: "admit" | "start" }
      | { op: "finish" | "fail"; pick: number };
    const op = fc.oneof(
      fc.record({ op: fc.constant("accept" as const), lane: fc.constantFrom(null, "a", "b"), size: fc.nat(20) }),
      fc.record({ op: fc.constantFrom("admit" as const, "start" as const) }),
      fc.record({ op: fc.constantFrom("finish" as const, "fail" as const), pick: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array<Op>(op, { maxLength: 80, size: "max" }), (ops) => {
        const state = seeded(10);
        let next = 10;
        let lastAccepted: number | undefined;
        const held = new Map<number, WorkItem>();
        const admitted = new Set<WorkItem>();
        const running: WorkItem[] = [];
        for (const step of ops) {
          if (step.op === "accept") {
            const offset = next;
            next += 1 + (step.size % 3); // holes between offsets are allowed
            assert.equal(
              state.accept({ ...message(offset, step.lane), value: new Uint8Array(step.size) }, offset, step.lane, 0),
              true,
            );
            held.set(offset, state.held(offset)!);
            lastAccepted = offset;
          } else if (step.op === "admit") {
            const item = state.admit();
            // Admissible: the first buffered item of a lane none of whose items is admitted.
            const busyLanes = new Set([...admitted].map((item) => item.lane).filter((lane) => lane !== null));
            const firsts = new Set<string>();
            const admissible = [...held.values()].filter((candidate) => {
              if (admitted.has(candidate)) return false;
              if (candidate.lane === null) return true;
              if (busyLanes.has(candidate.lane) || firsts.has(candidate.lane)) return false;
              firsts.add(candidate.lane);
              return true;
            });
            if (item === undefined) {
              assert.deepEqual(admissible, [], "nothing admitted while something is admissible");
            } else {
              assert.ok(admissible.includes(item), "admitted an item that is not admissible");
              admitted.add(item);
            }
          } else if (step.op === "start") {
            const item = state.scheduler.next();
            if (item) {
              assert.ok(admitted.has(item), "started an item that was not admitted");
              state.startAttempt(item, 0);
              running.push(item);
            }
          } else if ((step.op === "finish" || step.op === "fail") && running.length > 0) {
            const [item] = running.splice(step.pick % running.length, 1) as [WorkItem];
            assert.equal(state.endAttempt(item, item.running!), true);
            if (step.op === "finish") {
              state.finish(item);
              held.delete(item.offset);
              admitted.delete(item);
            } else {
              state.scheduler.retry(item);
            }
          }
          const lanes = [...admitted].map((item) => item.lane).filter((lane) => lane !== null);
          assert.equal(new Set(lanes).size, lanes.length, "two messages of one key admitted at once");
          const buffered = [...held.values()].filter((item) => !admitted.has(item));
          assert.equal(state.admittedCount, admitted.size);
          assert.equal(state.admittedBytes, [...admitted].reduce((sum, item) => sum + item.bytes, 0));
          assert.equal(state.bufferedCount, buffered.length);
          assert.equal(
            state.bufferedBytes,
            buffered.reduce((sum, item) => sum + item.bytes, 0),
          );
          const metrics = state.metrics();
          assert.equal(metrics.inFlight, running.length);
          assert.equal(metrics.queuedCount, admitted.size - running.length);
          assert.deepEqual([metrics.bufferedCount, metrics.bufferedBytes], [state.bufferedCount, state.bufferedBytes]);
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
