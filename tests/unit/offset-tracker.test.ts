import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { OffsetTracker } from "../../src/core/offset-tracker.ts";

describe("OffsetTracker", () => {
  test("commit position stops at the lowest incomplete offset", () => {
    const tracker = new OffsetTracker(() => 0);
    for (const offset of [10, 11, 12, 13]) tracker.track(offset);
    assert.equal(tracker.commitPosition, 10);
    tracker.complete(12);
    assert.equal(tracker.commitPosition, 10);
    assert.equal(tracker.blockingOffset, 10);
    assert.equal(tracker.gapCount, 1);
    tracker.complete(10);
    assert.equal(tracker.commitPosition, 11);
    tracker.complete(11);
    assert.equal(tracker.commitPosition, 13);
    assert.equal(tracker.gapCount, 0);
    tracker.complete(13);
    assert.equal(tracker.commitPosition, 14);
    assert.equal(tracker.blockingOffset, null);
    assert.equal(tracker.trueLag, 0);
  });

  test("holes in the offsets (transaction markers, compaction) never block the commit", () => {
    const tracker = new OffsetTracker(() => 0);
    for (const offset of [5, 9, 10, 20]) tracker.track(offset);
    tracker.complete(9);
    tracker.complete(10);
    assert.equal(tracker.gapCount, 1, "9 and 10 are adjacent in fetch order: one range");
    tracker.complete(5);
    assert.equal(tracker.commitPosition, 20);
    assert.equal(tracker.blockingOffset, 20);
    tracker.complete(20);
    assert.equal(tracker.commitPosition, 21);
  });

  test("redeliveries below the fetch position are refused", () => {
    const tracker = new OffsetTracker(() => 0);
    tracker.seed(100);
    assert.equal(tracker.track(99), "redelivery");
    assert.equal(tracker.track(100), "new");
    assert.equal(tracker.track(100), "redelivery");
    assert.equal(tracker.commitPosition, 100);
  });

  test("offsets the offset map marks done are tracked as done without running; holes in the map are skipped", () => {
    const tracker = new OffsetTracker(() => 0);
    tracker.seed(10, [12, 13, 15]);
    assert.deepEqual(tracker.doneAboveCommit(), [12, 13, 15]);
    assert.equal(tracker.track(10), "new");
    assert.equal(tracker.track(12), "done", "11 was compacted away");
    assert.equal(tracker.track(14), "new", "13 is gone from the log: skipped");
    assert.equal(tracker.track(15), "done");
    assert.deepEqual(tracker.doneAboveCommit(), [12, 15]);
    assert.equal(tracker.gapCount, 2);
    tracker.complete(10);
    assert.equal(tracker.commitPosition, 14);
    tracker.complete(14);
    assert.equal(tracker.commitPosition, 16);
    assert.deepEqual(tracker.doneAboveCommit(), []);
  });

  test("seeding sets the position before anything is fetched", () => {
    const tracker = new OffsetTracker(() => 0);
    assert.equal(tracker.commitPosition, undefined);
    tracker.seed(42);
    assert.equal(tracker.commitPosition, 42);
    assert.equal(tracker.lastFetchedOffset, 41);
    assert.equal(tracker.trueLag, 0);
  });

  test("blocking duration counts from when the offset became the blocker", () => {
    let now = 1_000;
    const tracker = new OffsetTracker(() => now);
    tracker.track(0);
    tracker.track(1);
    now = 3_000;
    assert.equal(tracker.blockingDurationMs(), 2_000);
    tracker.complete(0);
    assert.equal(tracker.blockingOffset, 1);
    assert.equal(tracker.blockingDurationMs(), 0);
    now = 3_500;
    assert.equal(tracker.blockingDurationMs(), 500);
    tracker.complete(1);
    assert.equal(tracker.blockingDurationMs(), 0);
  });

  test("completing unknown or finished offsets changes nothing", () => {
    const tracker = new OffsetTracker(() => 0);
    tracker.track(1);
    tracker.track(2);
    assert.equal(tracker.complete(7), false);
    tracker.complete(2);
    assert.equal(tracker.complete(2), false);
    assert.equal(tracker.gapCount, 1);
    assert.equal(tracker.pendingCount, 1);
  });

  test("property: random completion orders match a naive model and never pass an incomplete offset", () => {
    const scenario = fc
      .record({
        start: fc.nat({ max: 1_000_000 }),
        steps: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 300 }),
        seed: fc.integer(),
      })
      .chain(({ start, steps, seed }) => {
        // Offsets with random holes, like a log with transaction markers or compaction.
        const offsets: number[] = [];
        let offset = start;
        for (const step of steps) offsets.push((offset += step));
        return fc.record({
          offsets: fc.constant(offsets),
          seed: fc.constant(seed),
          order: fc.shuffledSubarray(offsets, { minLength: 0, maxLength: offsets.length }),
          trackedBeforeEach: fc.array(fc.nat({ max: offsets.length }), {
            minLength: offsets.length,
            maxLength: offsets.length,
          }),
        });
      });

    fc.assert(
      fc.property(scenario, ({ offsets, order, trackedBeforeEach }) => {
        const tracker = new OffsetTracker(() => 0);
        const done = new Set<number>();
        let tracked = 0;
        const trackUpTo = (count: number): void => {
          while (tracked < Math.min(count, offsets.length)) tracker.track(offsets[tracked++]!);
        };
        order.forEach((offset, step) => {
          // Fetching interleaves with completions; an offset completes only after it was fetched.
          trackUpTo(Math.max(trackedBeforeEach[step]!, offsets.indexOf(offset) + 1));
          tracker.complete(offset);
          done.add(offset);
          checkAgainstModel(tracker, offsets.slice(0, tracked), done);
        });
        trackUpTo(offsets.length);
        checkAgainstModel(tracker, offsets, done);
      }),
      { numRuns: 300 },
    );
  });
});

/** The naive model: scan everything. */
function checkAgainstModel(tracker: OffsetTracker, fetched: readonly number[], done: ReadonlySet<number>): void {
  const firstIncomplete = fetched.findIndex((offset) => !done.has(offset));
  const expectedPosition = firstIncomplete === -1 ? fetched[fetched.length - 1]! + 1 : fetched[firstIncomplete]!;
  assert.equal(tracker.commitPosition, expectedPosition);
  // Safety: nothing below the commit position is incomplete.
  for (const offset of fetched) if (offset < tracker.commitPosition!) assert.ok(done.has(offset));
  assert.equal(tracker.blockingOffset, firstIncomplete === -1 ? null : fetched[firstIncomplete]);
  let gaps = 0;
  for (let i = Math.max(firstIncomplete, 0); i < fetched.length && firstIncomplete !== -1; i++) {
    if (done.has(fetched[i]!) && !done.has(fetched[i - 1]!)) gaps++;
  }
  assert.equal(tracker.gapCount, gaps);
  assert.equal(tracker.pendingCount, fetched.filter((offset) => !done.has(offset)).length);
  assert.equal(tracker.trueLag, fetched[fetched.length - 1]! + 1 - expectedPosition);
}
