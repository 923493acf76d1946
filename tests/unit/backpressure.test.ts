import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { InFlightBudget } from "../../src/core/backpressure.ts";

/** A budget filled with `messages` messages of `bytesEach` bytes. */
function filled(maxMessages: number, maxBytes: number, messages: number, bytesEach = 0): InFlightBudget {
  const budget = new InFlightBudget(maxMessages, maxBytes);
  for (let i = 0; i < messages; i++) budget.add(bytesEach);
  return budget;
}

/** A count for a limit: anywhere up to 1.5 times it, or within 2 of the limit or of its 80% mark. */
const near: fc.Arbitrary<(limit: number) => number> = fc.oneof(
  fc.double({ min: 0, max: 1.5, noNaN: true }).map((share) => (limit: number) => Math.floor(limit * share)),
  fc.record({ share: fc.constantFrom(0.8, 1), delta: fc.integer({ min: -2, max: 2 }) })
    .map(({ share, delta }) => (limit: number) => Math.max(0, Math.floor(limit * share) + delta)),
);

describe("InFlightBudget", () => {
  test("counts messages and bytes; remove takes several at once", () => {
    const budget = new InFlightBudget(100, 10_000);
    assert.deepEqual([budget.messages, budget.bytes, budget.limitReached, budget.belowLowWater], [0, 0, null, true]);
    budget.add(10);
    budget.add(0);
    budget.add(32);
    assert.deepEqual([budget.messages, budget.bytes], [3, 42]);
    budget.remove(2, 42); // a revoked partition's held messages go at once
    assert.deepEqual([budget.messages, budget.bytes], [1, 0]);
  });

  test("the message limit is reached at maxInFlight, not before", () => {
    const budget = filled(10, 1_000_000, 9);
    assert.equal(budget.limitReached, null);
    budget.add(0);
    assert.equal(budget.limitReached, "maxInFlight");
    budget.add(0);
    assert.equal(budget.limitReached, "maxInFlight", "still reached above the limit");
  });

  test("the byte limit is reached at maxInFlightBytes; one message larger than the limit reaches it alone", () => {
    const budget = new InFlightBudget(1000, 1000);
    budget.add(600);
    assert.equal(budget.limitReached, null);
    budget.add(399);
    assert.equal(budget.limitReached, null);
    budget.add(1);
    assert.equal(budget.limitReached, "maxInFlightBytes");
    const huge = new InFlightBudget(1000, 1000);
    huge.add(5000);
    assert.equal(huge.limitReached, "maxInFlightBytes");
  });

  test("both limits reached: the message limit is the one reported", () => {
    assert.equal(filled(2, 100, 2, 50).limitReached, "maxInFlight");
  });

  test("low water: fetching may resume at or below 80% of the message limit", () => {
    const budget = filled(10, 1_000_000, 10);
    budget.remove(1, 0);
    assert.equal(budget.belowLowWater, false, "9 of 10 is above the low-water mark of 8");
    assert.equal(budget.limitReached, null, "and below the limit: neither pause nor resume");
    budget.remove(1, 0);
    assert.equal(budget.belowLowWater, true);
    // 80% of 7 is 5.6: the mark rounds down, to a whole message.
    const seven = filled(7, 1_000_000, 6);
    assert.equal(seven.belowLowWater, false, "6 is above 5");
    seven.remove(1, 0);
    assert.equal(seven.belowLowWater, true);
    // A limit of one message resumes only once nothing is held.
    assert.equal(filled(1, 1_000_000, 1).belowLowWater, false);
    assert.equal(filled(1, 1_000_000, 0).belowLowWater, true);
  });

  test("low water: both counts must be at or below 80% of their limits", () => {
    const budget = new InFlightBudget(10, 1000);
    budget.add(801);
    assert.equal(budget.belowLowWater, false, "1 message, but 801 bytes of 1000");
    budget.remove(0, 1);
    assert.equal(budget.belowLowWater, true, "800 bytes is 80%");
    const many = filled(10, 1000, 9, 1);
    assert.equal(many.belowLowWater, false, "9 bytes, but 9 messages of 10");
  });

  // Hysteresis: a budget that has reached a limit is never below low water, so pause and resume cannot flap.
  test("property: limitReached and belowLowWater are never both true, and match their definitions", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 1, max: 2 ** 40 }),
        near,
        near,
        (maxMessages, maxBytes, pickMessages, pickBytes) => {
          const messages = pickMessages(maxMessages);
          const bytes = pickBytes(maxBytes);
          const budget = new InFlightBudget(maxMessages, maxBytes);
          budget.messages = messages;
          budget.bytes = bytes;
          const expectedLimit = messages >= maxMessages ? "maxInFlight" : bytes >= maxBytes ? "maxInFlightBytes" : null;
          assert.equal(budget.limitReached, expectedLimit);
          // Integer arithmetic: m <= 0.8 * max  <=>  5m <= 4 max.
          assert.equal(budget.belowLowWater, 5 * messages <= 4 * maxMessages && 5 * bytes <= 4 * maxBytes);
          assert.ok(!(budget.limitReached !== null && budget.belowLowWater));
        },
      ),
      { numRuns: 1000 },
    );
  });

  test("a consumer oscillating at the limit pauses once and resumes once it drained to the low-water mark", () => {
    const budget = new InFlightBudget(10, 1_000_000);
    let paused = false;
    const transitions: string[] = [];
    // The control plane's rule: pause when a limit is reached, resume below low water.
    const step = (change: 1 | -1): void => {
      if (change === 1) budget.add(100);
      else budget.remove(1, 100);
      if (!paused && budget.limitReached) transitions.push(`pause at ${budget.messages}`);
      else if (paused && budget.belowLowWater) transitions.push(`resume at ${budget.messages}`);
      else return;
      paused = !paused;
    };
    for (let i = 0; i < 10; i++) step(1);
    for (let i = 0; i < 5; i++) {
      step(-1);
      step(1);
    }
    for (let i = 0; i < 3; i++) step(-1);
    assert.deepEqual(transitions, ["pause at 10", "resume at 8"]);
  });
});
