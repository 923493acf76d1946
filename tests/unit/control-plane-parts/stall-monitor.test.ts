import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { StallEvent } from "../../../src/core/consumer-events.ts";
import { PartitionState, type WorkItem } from "../../../src/core/control-plane/partition-state.ts";
import { StallMonitor, type StallSettings } from "../../../src/core/control-plane/stall-monitor.ts";
import { BlockedTooLongError } from "../../../src/core/errors.ts";
import { acceptAll } from "./fakes.ts";

function setup(settings: Partial<Omit<StallSettings, "logger">> = {}) {
  let time = 0;
  const clock = {
    now: () => time,
    set: (ms: number) => void (time = ms),
  };
  const warnings: string[] = [];
  const stalls: StallEvent[] = [];
  const monitor = new StallMonitor(
    { stallThresholdMs: 1000, ...settings, logger: { warn: (line) => warnings.push(line) } },
    clock.now,
    (event) => stalls.push(event),
  );
  const state = new PartitionState("t", 3, clock.now, 4096);
  state.seed(5, [], 5);
  return { clock, warnings, stalls, monitor, state };
}

function start(state: PartitionState, item: WorkItem, now: number) {
  state.scheduler.nextMatching((ready) => ready === item);
  return state.startAttempt(item, now);
}

describe("StallMonitor", () => {
  test("reports a blocking offset once, after the threshold, with a log line", () => {
    const { clock, warnings, stalls, monitor, state } = setup();
    monitor.check([state]);
    assert.deepEqual(stalls, [], "nothing fetched: nothing blocks");
    acceptAll(state, [5, 6], "poison");
    clock.set(999);
    monitor.check([state]);
    assert.deepEqual(stalls, []);
    clock.set(1000);
    monitor.check([state]);
    assert.deepEqual(stalls, [{
      topic: "t",
      partition: 3,
      offset: 5n,
      key: new TextEncoder().encode("poison"),
      blockingDurationSec: 1,
    }]);
    assert.deepEqual(warnings, [
      'pyrallel: t[3] commit blocked at offset 5 (key "poison") for 1.0 s: its handler may be stuck (a poison pill?)',
    ]);
    clock.set(60_000);
    monitor.check([state]);
    assert.equal(stalls.length, 1, "one report per blocking offset");
    assert.equal(warnings.length, 1);
  });

  test("the next blocking offset is reported on its own, timed from when it started blocking", () => {
    const { clock, stalls, monitor, state } = setup();
    const [first] = acceptAll(state, [5, 6]) as [WorkItem, WorkItem];
    clock.set(1500);
    monitor.check([state]);
    state.finish(first); // 6 blocks from 1500
    clock.set(2400);
    monitor.check([state]);
    assert.deepEqual(stalls.map((event) => event.offset), [5n]);
    clock.set(2500);
    monitor.check([state]);
    assert.deepEqual(stalls.map((event) => [event.offset, event.blockingDurationSec]), [[5n, 1.5], [6n, 1]]);
  });

  test("a new epoch of the partition is reported again for the same offset", () => {
    const { clock, stalls, monitor, state } = setup();
    acceptAll(state, [5]);
    clock.set(1000);
    monitor.check([state]);
    const returned = new PartitionState("t", 3, clock.now, 4096);
    returned.seed(5, [], 5);
    acceptAll(returned, [5]);
    clock.set(2000);
    monitor.check([state, returned]);
    assert.deepEqual(stalls.map((event) => event.offset), [5n, 5n]);
  });

  test("maxBlockingMs aborts the blocker's running attempt with BlockedTooLongError, timed from its start", () => {
    const { clock, monitor, state } = setup({ maxBlockingMs: 500, stallThresholdMs: 1_000_000 });
    const [blocker, other] = acceptAll(state, [5, 6]) as [WorkItem, WorkItem];
    clock.set(100);
    const attempt = start(state, blocker, 100);
    const otherAttempt = start(state, other, 0);
    clock.set(599);
    monitor.check([state]);
    assert.equal(attempt.aborted, false);
    clock.set(600);
    monitor.check([state]);
    assert.equal(attempt.aborted, true);
    assert.ok(attempt.reason instanceof BlockedTooLongError);
    assert.equal(attempt.reason.code, "PYRALLEL_BLOCKED_TOO_LONG");
    assert.equal(attempt.reason.maxBlockingMs, 500);
    assert.equal(otherAttempt.aborted, false, "only the blocking offset is given up on");
    const reason = attempt.reason;
    clock.set(5000);
    monitor.check([state]);
    assert.equal(attempt.reason, reason, "aborted once");
  });

  test("an attempt that ran long before it became the blocker is aborted at the first check after", () => {
    // maxBlockingMs counts the attempt's run time (docs/errors-and-failures.md), not how long it has blocked.
    const { clock, monitor, state } = setup({ maxBlockingMs: 500, stallThresholdMs: 1_000_000 });
    const [blocker, next] = acceptAll(state, [5, 6]) as [WorkItem, WorkItem];
    start(state, blocker, 0);
    const attempt = start(state, next, 0);
    clock.set(2000);
    monitor.check([state]);
    assert.equal(attempt.aborted, false, "6 does not block yet");
    state.endAttempt(blocker, blocker.running!);
    state.finish(blocker);
    clock.set(2001);
    monitor.check([state]);
    assert.equal(state.tracker.blockingDurationMs(), 1);
    assert.equal(attempt.aborted, true);
  });

  test("without maxBlockingMs, or with the blocker not running, nothing is aborted", () => {
    const off = setup();
    const [item] = acceptAll(off.state, [5]) as [WorkItem];
    const attempt = start(off.state, item, 0);
    off.clock.set(10_000_000);
    off.monitor.check([off.state]);
    assert.equal(attempt.aborted, false);
    assert.equal(off.stalls.length, 1, "still reported as a stall");

    const queued = setup({ maxBlockingMs: 10 });
    const [waiting] = acceptAll(queued.state, [5]) as [WorkItem];
    queued.clock.set(1000);
    queued.monitor.check([queued.state]);
    assert.equal(waiting.running, undefined);
    assert.equal(queued.stalls.length, 1);
  });
});
