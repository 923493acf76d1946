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

  test("soon() brings the next tick forward: two at once, then as the budget of four per interval refills", async () => {
    const { virtual, at, ticker } = setup();
    ticker.start();
    await virtual.runUntil(() => false, 1100);
    ticker.soon(); // 100 ms after the regular tick at 1000: at once (a burst just ended)
    await virtual.runUntil(() => false, 1100);
    assert.deepEqual(at, [1000, 1100]);
    await virtual.runUntil(() => false, 1110);
    ticker.soon(); // caught up again a moment later (the end of the last partition): at once too
    await virtual.runUntil(() => false, 1110);
    assert.deepEqual(at, [1000, 1100, 1110]);
    await virtual.runUntil(() => false, 1200);
    ticker.soon(); // the budget is spent (a token per 250 ms): 0.4 of one at 1200, the next at 1350
    await virtual.runUntil(() => false, 1349);
    assert.deepEqual(at, [1000, 1100, 1110]);
    await virtual.runUntil(() => false, 1350);
    assert.deepEqual(at, [1000, 1100, 1110, 1350]);
    await virtual.runUntil(() => false, 1900);
    ticker.soon(); // 550 ms later: refilled, now
    await virtual.runUntil(() => false, 1900);
    assert.deepEqual(at, [1000, 1100, 1110, 1350, 1900]);
    await virtual.runUntil(() => false, 2900);
    assert.deepEqual(at, [1000, 1100, 1110, 1350, 1900, 2900], "then the interval again");
  });

  test("a trickle of catch-ups commits at most four times per interval (two more at first)", async () => {
    const { virtual, at, ticker } = setup();
    ticker.start();
    // Caught up every 10 ms, for 10 intervals.
    for (let t = 10; t <= 10_000; t += 10) {
      await virtual.runUntil(() => false, t);
      ticker.soon();
    }
    await virtual.runUntil(() => false, 10_000);
    for (let start = 0; start < 10_000; start += 1000) {
      const ticks = at.filter((time) => time >= start && time < start + 1000).length;
      assert.ok(ticks <= (start === 0 ? 6 : 5), `${ticks} ticks in [${start}, ${start + 1000})`);
    }
    const late = at.filter((time) => time >= 2000).length;
    assert.ok(late <= 4 * 8 + 1, `${late} ticks in the last 8 intervals`);
    assert.ok(at.length >= 40, `${at.length} ticks`);
  });

  test("soon() never delays a tick, and does nothing before start() or after stop()", async () => {
    const { virtual, at, ticker } = setup();
    ticker.soon();
    assert.equal(virtual.pending(), 0);
    ticker.start();
    await virtual.runUntil(() => false, 900);
    ticker.soon(); // none brought forward before: at once
    await virtual.runUntil(() => false, 900);
    assert.deepEqual(at, [900]);
    ticker.stop();
    ticker.soon();
    await virtual.runUntil(() => false, 10_000);
    assert.deepEqual(at, [900]);
    assert.equal(virtual.pending(), 0);
  });
});
