import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { PoisonKeys } from "../../src/core/poison-keys.ts";

/** PoisonKeys on a fake clock: set `clock.now` to move time. */
function setup(maxFailures: number, cooldownMs: number) {
  const clock = { now: 0 };
  const keys = new PoisonKeys({ maxFailures, cooldownMs }, () => clock.now);
  return { clock, keys };
}

// The forgetting of stale keys (prune and size over many keys) is also covered in failures.test.ts.
describe("PoisonKeys", () => {
  test("the maxFailures-th final failure cools the key for exactly cooldownMs", () => {
    const { clock, keys } = setup(3, 100);
    assert.equal(keys.isCooling("a"), false);
    keys.recordFailure("a");
    clock.now = 10;
    keys.recordFailure("a");
    assert.equal(keys.isCooling("a"), false, "2 of 3 failures");
    clock.now = 20;
    keys.recordFailure("a");
    assert.equal(keys.isCooling("a"), true);
    clock.now = 119;
    assert.equal(keys.isCooling("a"), true, "cooling from the third failure (t=20), not the first");
    clock.now = 120;
    assert.equal(keys.isCooling("a"), false, "cooling ends at failure + cooldownMs");
  });

  test("keys count separately", () => {
    const { keys } = setup(2, 100);
    keys.recordFailure("a");
    keys.recordFailure("b");
    keys.recordFailure("");
    assert.deepEqual([keys.isCooling("a"), keys.isCooling("b"), keys.isCooling("")], [false, false, false]);
    keys.recordFailure("b");
    assert.deepEqual([keys.isCooling("a"), keys.isCooling("b"), keys.isCooling("")], [false, true, false]);
    assert.equal(keys.isCooling("never failed"), false);
    assert.equal(keys.size, 3);
  });

  test("maxFailures 1: the first final failure cools the key", () => {
    const { clock, keys } = setup(1, 50);
    clock.now = 1000;
    keys.recordFailure("a");
    assert.equal(keys.isCooling("a"), true);
    clock.now = 1050;
    assert.equal(keys.isCooling("a"), false);
  });

  test("a cooldown starts the count afresh: after it, one failure does not cool the key again", () => {
    const { clock, keys } = setup(2, 100);
    keys.recordFailure("a");
    keys.recordFailure("a");
    assert.equal(keys.isCooling("a"), true);
    clock.now = 100;
    assert.equal(keys.isCooling("a"), false);
    keys.recordFailure("a");
    assert.equal(keys.isCooling("a"), false, "1 failure since the cooldown");
    clock.now = 150;
    keys.recordFailure("a");
    assert.equal(keys.isCooling("a"), true, "the second one cools it again");
    clock.now = 249;
    assert.equal(keys.isCooling("a"), true);
    clock.now = 250;
    assert.equal(keys.isCooling("a"), false);
  });

  test("prune keeps cooling keys and keys that failed within cooldownMs; their failures still count", () => {
    const { clock, keys } = setup(3, 100);
    keys.recordFailure("cooling");
    keys.recordFailure("cooling");
    keys.recordFailure("cooling");
    clock.now = 50;
    keys.recordFailure("recent");
    keys.recordFailure("recent");
    clock.now = 99;
    keys.prune();
    assert.equal(keys.size, 2);
    assert.equal(keys.isCooling("cooling"), true);
    clock.now = 149;
    keys.prune();
    assert.equal(keys.size, 1, "cooldown over (at 100), last failure 149 ms ago");
    assert.equal(keys.isCooling("cooling"), false);
    keys.recordFailure("recent");
    assert.equal(keys.isCooling("recent"), true, "its two failures 99 ms ago were kept and count");
  });

  test("prune forgets failures older than cooldownMs: they no longer count towards a cooldown", () => {
    const { clock, keys } = setup(3, 100);
    keys.recordFailure("a");
    keys.recordFailure("a");
    clock.now = 100;
    keys.prune();
    assert.equal(keys.size, 0);
    keys.recordFailure("a");
    assert.equal(keys.isCooling("a"), false, "1 recent failure, the 2 old ones were forgotten");
  });

  test("the recency window runs from a key's last failure, not its first", () => {
    const { clock, keys } = setup(3, 100);
    keys.recordFailure("a");
    clock.now = 60;
    keys.recordFailure("a");
    clock.now = 150; // 150 ms after the first failure, 90 ms after the last
    keys.prune();
    assert.equal(keys.size, 1);
    keys.recordFailure("a");
    assert.equal(keys.isCooling("a"), true);
  });
});
