import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CommitTicker } from "../../../src/core/control-plane/commit-ticker.ts";
import { VirtualClock } from "../../simulation/virtual-clock.ts";

/** A ticker of a 1000 ms interval on a virtual clock, logging tick times; `ticks` of them run. */
function setup(ticks = Infinity) {
  const virtual = new VirtualClock();
  const at: number[] = [];
  const ticker = new CommitTicker(virtual.clock("ticker"), 1000, () => {
    at.push(virtual.now);
    return at.length < ticks;
  });
  return { virtual, at, ticker };
}

describe("CommitTicker", () => {
  test("ticks every interval from start(); a tick answering false ends the ticking", async () => {
    const { virtual, at, ticker } = setup(3);
    ticker.start();
    await virtual.runUntil(() => false, 10_000);
    assert.deepEqual(at, [1000, 2000, 3000]);
    assert.equal(virtual.pending(), 0);
  });

  test("soon() brings the next tick forward, a quarter interval after the previous at the earliest", async () => {
    const { virtual, at, ticker } = setup();
    ticker.start();
    await virtual.runUntil(() => false, 1100);
    ticker.soon(); // 100 ms after the tick at 1000: waits for 1250
    await virtual.runUntil(() => false, 1249);
    assert.deepEqual(at, [1000]);
    await virtual.runUntil(() => false, 1250);
    assert.deepEqual(at, [1000, 1250]);
    await virtual.runUntil(() => false, 1900);
    ticker.soon(); // long enough after 1250: now
    await virtual.runUntil(() => false, 1900);
    assert.deepEqual(at, [1000, 1250, 1900]);
    await virtual.runUntil(() => false, 2900);
    assert.deepEqual(at, [1000, 1250, 1900, 2900], "then the interval again");
  });

  test("soon() never delays a tick, and does nothing before start() or after stop()", async () => {
    const { virtual, at, ticker } = setup();
    ticker.soon();
    assert.equal(virtual.pending(), 0);
    ticker.start();
    await virtual.runUntil(() => false, 900);
    ticker.soon(); // 900 ms after start(), more than a quarter interval: at once
    await virtual.runUntil(() => false, 900);
    assert.deepEqual(at, [900]);
    ticker.stop();
    ticker.soon();
    await virtual.runUntil(() => false, 10_000);
    assert.deepEqual(at, [900]);
    assert.equal(virtual.pending(), 0);
  });
});
