import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { InFlightBudget } from "../../../src/core/backpressure.ts";
import { FetchPause } from "../../../src/core/control-plane/fetch-pause.ts";
import { type FetchLimits, PartitionState } from "../../../src/core/control-plane/partition-state.ts";
import { acceptAll, admitAll, bufferAll, FakeAdapter } from "./fakes.ts";

/**
 * Limits: 10 messages, 1000 bytes (low water: 8 messages and 800 bytes); per partition, window
 * limit 5 and buffer limits 1 MB and 1000 messages unless told otherwise.
 */
function setup(limits: Partial<FetchLimits> = {}) {
  const adapter = new FakeAdapter();
  const budget = new InFlightBudget(10, 1000);
  const pause = new FetchPause(adapter, budget, {
    maxUncommittedOffsets: 5,
    maxBufferedBytes: 1_000_000,
    maxBufferedMessages: 1000,
    ...limits,
  });
  return { adapter, budget, pause };
}

/** The payload bytes of `message(offset, "k")` (fakes.ts) for offsets 0..9: key "k", value "v<offset>". */
const KEYED = 3;
/** The same without a key. */
const KEYLESS = 2;

describe("FetchPause", () => {
  test("pauses once at maxInFlight, and resumes only below 80% of it", () => {
    const { adapter, budget, pause } = setup();
    for (let i = 0; i < 9; i++) budget.add(1);
    pause.admitted();
    assert.deepEqual(adapter.calls, []);
    assert.equal(pause.reason, null);
    budget.add(1);
    pause.admitted();
    assert.deepEqual(adapter.calls, ["pause"]);
    assert.equal(pause.reason, "maxInFlight");
    budget.add(1);
    pause.admitted();
    assert.deepEqual(adapter.calls, ["pause"], "paused once");

    budget.remove(2, 2); // 9 held
    pause.released();
    assert.deepEqual(adapter.calls, ["pause"], "9 is above the low water mark");
    budget.remove(1, 1); // 8 held: at the low water mark, which counts as below it
    pause.released();
    assert.deepEqual(adapter.calls, ["pause", "resume"]);
    assert.equal(pause.reason, null);
    pause.released();
    assert.deepEqual(adapter.calls, ["pause", "resume"], "resumed once");
  });

  test("pauses at maxInFlightBytes; resuming needs both figures below their low water marks", () => {
    const { adapter, budget, pause } = setup();
    budget.add(600);
    budget.add(400);
    pause.admitted();
    assert.equal(pause.reason, "maxInFlightBytes");
    budget.remove(1, 150); // 850 bytes > 800
    pause.released();
    assert.equal(pause.reason, "maxInFlightBytes");
    budget.remove(0, 50); // 800 bytes
    pause.released();
    assert.equal(pause.reason, null);
    assert.deepEqual(adapter.calls, ["pause", "resume"]);
  });

  test("a closing or failed pause is never lifted by released()", () => {
    const { adapter, budget, pause } = setup();
    for (let i = 0; i < 10; i++) budget.add(1);
    pause.admitted();
    pause.set("closing");
    assert.equal(pause.reason, "closing");
    assert.deepEqual(adapter.calls, ["pause"], "already paused: the reason changes, the adapter is not called again");
    budget.remove(10, 10);
    pause.released();
    assert.equal(pause.reason, "closing");
    pause.failed();
    assert.equal(pause.reason, "failed");
    pause.released();
    assert.deepEqual(adapter.calls, ["pause"]);
  });

  test("failed() rewrites a set reason only: it never pauses by itself", () => {
    const { adapter, pause } = setup();
    pause.failed();
    assert.equal(pause.reason, null);
    assert.deepEqual(adapter.calls, []);
  });

  test("set(null) resumes only when paused, and set() pauses only when not paused", () => {
    const { adapter, pause } = setup();
    pause.set(null);
    assert.deepEqual(adapter.calls, []);
    pause.set("closing");
    pause.set("failed");
    pause.set(null);
    pause.set(null);
    assert.deepEqual(adapter.calls, ["pause", "resume"]);
  });

  test("check pauses a partition whose window is full and resumes it below 80%", () => {
    const { adapter, pause } = setup();
    const state = new PartitionState("t", 4, () => 0, 4096);
    state.seed(0, [], 0);
    const items = acceptAll(state, [0, 1, 2, 3]);
    pause.check(state);
    assert.deepEqual(adapter.calls, []);
    items.push(...acceptAll(state, [4]));
    pause.check(state);
    pause.check(state);
    assert.deepEqual(adapter.calls, ["pause t[4]"]);
    state.finish(items[0]!); // window 4 = 80%: not below
    pause.check(state);
    assert.deepEqual(adapter.calls, ["pause t[4]"]);
    state.finish(items[1]!);
    pause.check(state);
    assert.deepEqual(adapter.calls, ["pause t[4]", "resume t[4]"]);
    assert.equal(pause.reason, null, "a partition pause is not the global pause");
  });

  test("check does not resume a partition that is no longer active", () => {
    const { adapter, pause } = setup();
    const state = new PartitionState("t", 0, () => 0, 4096);
    state.seed(0, [], 0);
    const items = acceptAll(state, [0, 1, 2, 3, 4]);
    pause.check(state);
    state.phase = "revoking";
    for (const item of items) state.finish(item);
    pause.check(state);
    assert.deepEqual(adapter.calls, ["pause t[0]"]);
    assert.equal(state.fetchHeld, false, "no longer held: it would be fetched again, were it active");
    assert.equal(state.pauseReason, null);
  });

  test("check pauses a partition whose buffer bytes are full and resumes it below 80%, whatever the window", () => {
    // 5 messages of 3 bytes: 15 bytes. The window and message limits are far away.
    const { adapter, pause } = setup({ maxUncommittedOffsets: 1000, maxBufferedBytes: 5 * KEYED });
    const state = new PartitionState("t", 2, () => 0, 4096);
    state.seed(0, [], 0);
    bufferAll(state, [0, 1, 2, 3], "k");
    pause.check(state);
    assert.deepEqual(adapter.calls, [], "4 messages: below the limit");
    bufferAll(state, [4], "k");
    pause.check(state);
    pause.check(state);
    assert.deepEqual(adapter.calls, ["pause t[2]"], "at the limit: paused once");
    assert.equal(state.pauseReason, "bufferFull");
    // Admitting takes messages out of the buffer: 4 left (12 bytes) is 80%, not below it.
    assert.equal(admitAll(state), 1, "one key: only its first message is admissible");
    pause.check(state);
    assert.deepEqual(adapter.calls, ["pause t[2]"]);
    // The key's first message finishes: the next one is admitted, 3 left (9 bytes) < 12.
    state.finish(state.held(0)!);
    assert.equal(admitAll(state), 1);
    pause.check(state);
    assert.deepEqual(adapter.calls, ["pause t[2]", "resume t[2]"]);
    assert.equal(pause.reason, null, "a partition pause is not the global pause");
    assert.equal(state.fetchHeld, false);
  });

  test("check resumes a partition held for its window and its buffer only once both shrank", () => {
    const { adapter, pause } = setup({ maxUncommittedOffsets: 5, maxBufferedBytes: 3 * KEYLESS });
    const state = new PartitionState("t", 1, () => 0, 4096);
    state.seed(0, [], 0);
    const items = bufferAll(state, [0, 1, 2, 3, 4]);
    pause.check(state);
    assert.deepEqual(adapter.calls, ["pause t[1]"], "both limits reached: one pause");
    assert.equal(state.pauseReason, "maxUncommittedOffsets", "the window is named before the buffer");
    // All admitted: the buffer is empty, the window still full.
    assert.equal(admitAll(state), 5);
    pause.check(state);
    assert.deepEqual(adapter.calls, ["pause t[1]"], "the window still holds it");
    assert.equal(state.pauseReason, "maxUncommittedOffsets");
    assert.equal(state.bufferedBytes, 0);
    state.finish(items[0]!);
    state.finish(items[1]!);
    pause.check(state);
    assert.deepEqual(adapter.calls, ["pause t[1]", "resume t[1]"]);
  });

  test("check pauses a partition whose buffer holds maxBufferedMessages messages, however small", () => {
    const { adapter, pause } = setup({ maxUncommittedOffsets: 1000, maxBufferedMessages: 5 });
    const state = new PartitionState("t", 3, () => 0, 4096);
    state.seed(0, [], 0);
    bufferAll(state, [0, 1, 2, 3], "k");
    pause.check(state);
    assert.deepEqual(adapter.calls, []);
    bufferAll(state, [4], "k");
    pause.check(state);
    assert.deepEqual(adapter.calls, ["pause t[3]"]);
    assert.equal(state.pauseReason, "bufferFull");
    // 4 buffered = 80% of 5: not below it.
    admitAll(state);
    pause.check(state);
    assert.deepEqual(adapter.calls, ["pause t[3]"]);
    state.finish(state.held(0)!);
    admitAll(state);
    pause.check(state);
    assert.deepEqual(adapter.calls, ["pause t[3]", "resume t[3]"]);
  });

  test("check pauses a held partition again once its buffer fills up again", () => {
    const { adapter, pause } = setup({ maxUncommittedOffsets: 1000, maxBufferedBytes: 2 * KEYLESS });
    const state = new PartitionState("t", 0, () => 0, 4096);
    state.seed(0, [], 0);
    bufferAll(state, [0, 1]);
    pause.check(state);
    admitAll(state);
    pause.check(state);
    bufferAll(state, [2, 3]);
    pause.check(state);
    assert.deepEqual(adapter.calls, ["pause t[0]", "resume t[0]", "pause t[0]"]);
  });

  test("property: pause and resume alternate, at the limit and below the low water mark only", () => {
    const op = fc.oneof(
      fc.record({ add: fc.integer({ min: 0, max: 300 }) }),
      fc.record({ remove: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 100, size: "max" }), (ops) => {
        const { adapter, budget, pause } = setup();
        const held: number[] = [];
        for (const step of ops) {
          const calls = adapter.calls.length;
          if ("add" in step) {
            held.push(step.add);
            budget.add(step.add);
            pause.admitted();
            if (adapter.calls.length > calls) assert.ok(budget.limitReached !== null, "paused below every limit");
          } else if (held.length > 0) {
            const [bytes] = held.splice(step.remove % held.length, 1) as [number];
            budget.remove(1, bytes);
            pause.released();
            if (adapter.calls.length > calls) {
              assert.equal(budget.belowLowWater, true, "resumed above the low water mark");
            }
          }
          assert.ok(adapter.calls.length - calls <= 1);
          adapter.calls.forEach((call, index) => assert.equal(call, index % 2 === 0 ? "pause" : "resume"));
          assert.equal(pause.reason !== null, adapter.calls.at(-1) === "pause");
          if (pause.reason === null) assert.equal(budget.limitReached, null, "at a limit without pausing");
          else assert.equal(budget.belowLowWater, false, "still paused below the low water mark");
        }
      }),
      { numRuns: 300 },
    );
  });
});
