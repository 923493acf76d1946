import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { InFlightBudget } from "../../../src/core/backpressure.ts";
import { Admission } from "../../../src/core/control-plane/admission.ts";
import type { Phase } from "../../../src/core/control-plane/lifecycle.ts";
import { PartitionState } from "../../../src/core/control-plane/partition-state.ts";
import { bufferAll } from "./fakes.ts";

/**
 * An admission over a budget of `maxMessages` (and `maxBytes`); each admitted message's partition
 * is logged, in order, as its number.
 */
function setup(maxMessages: number, maxBytes = 1_000_000) {
  const budget = new InFlightBudget(maxMessages, maxBytes);
  const lifecycle: { phase: Phase } = { phase: "running" };
  const admitted: number[] = [];
  const admission = new Admission(budget, lifecycle, (state) => void admitted.push(state.partition));
  return { budget, lifecycle, admitted, admission };
}

/** A seeded state of t[partition] with `offsets` buffered (lane = key), nothing admitted. */
function buffered(partition: number, offsets: readonly number[], key: string | null = null): PartitionState {
  const state = new PartitionState("t", partition, () => 0, 4096);
  state.seed(0, [], 0);
  bufferAll(state, offsets, key);
  return state;
}

const range = (length: number) => Array.from({ length }, (_, i) => i);

describe("Admission", () => {
  test("admits only while the budget has room, and again once it has room again", () => {
    const { budget, admitted, admission } = setup(3);
    const state = buffered(0, range(5));
    admission.join(state);
    admission.admit();
    assert.deepEqual(admitted, [0, 0, 0]);
    assert.deepEqual([budget.messages, budget.bytes], [3, 6], "each message counted with its payload bytes");
    assert.deepEqual([state.admittedCount, state.bufferedCount], [3, 2]);
    assert.equal(state.scheduler.readyCount, 3, "admitted messages are ready to start");
    admission.admit();
    assert.equal(admitted.length, 3, "no room: nothing more");
    budget.remove(1, 2);
    admission.admit();
    assert.deepEqual([state.admittedCount, state.bufferedCount, budget.messages], [4, 1, 3]);
    budget.remove(3, 6);
    admission.admit();
    assert.deepEqual([state.admittedCount, state.bufferedCount, budget.messages], [5, 0, 1]);
  });

  test("the byte limit stops admission too: a message is admitted while the bytes are below it", () => {
    const { budget, admission } = setup(100, 5);
    const state = buffered(0, range(5)); // "v0".."v4": 2 bytes each
    admission.join(state);
    admission.admit();
    assert.deepEqual([budget.messages, budget.bytes, state.admittedCount], [3, 6, 3]);
  });

  test("partitions take turns, one message each per turn", () => {
    const { admitted, admission } = setup(7);
    const states = [buffered(0, range(3)), buffered(1, range(3)), buffered(2, range(3))];
    for (const state of states) admission.join(state);
    admission.admit();
    assert.deepEqual(admitted, [0, 1, 2, 0, 1, 2, 0]);
    assert.deepEqual(states.map((state) => state.admittedCount), [3, 2, 2]);
  });

  test("a partition with a long buffer does not starve one that joins after it", () => {
    const { admitted, admission } = setup(4);
    const busy = buffered(0, range(100));
    admission.join(busy);
    const small = buffered(1, [0]);
    admission.join(small);
    admission.admit();
    assert.deepEqual(admitted, [0, 1, 0, 0]);
    assert.equal(small.bufferedCount, 0);
  });

  test("joining twice gives a partition one turn per round", () => {
    const { admitted, admission } = setup(3);
    const a = buffered(0, range(3));
    const b = buffered(1, range(3));
    admission.join(a);
    admission.join(a);
    admission.join(b);
    admission.admit();
    assert.deepEqual(admitted, [0, 1, 0]);
  });

  test("only the first message of each key is admitted; the next once the key's message finished", () => {
    const { admitted, admission } = setup(100);
    const state = buffered(0, [0, 1, 2], "a");
    bufferAll(state, [3], "b");
    admission.join(state);
    admission.admit();
    assert.deepEqual(admitted, [0, 0]);
    assert.deepEqual([state.admittedCount, state.bufferedCount], [2, 2]);
    state.scheduler.next();
    state.finish(state.held(0)!);
    admission.admit();
    assert.equal(admitted.length, 2, "the partition left the rotation: it must join again");
    admission.join(state);
    admission.admit();
    assert.deepEqual([state.admittedCount, state.bufferedCount], [2, 1], "1 admitted; 2 waits behind it");
    assert.equal(state.held(1)!.partition, state);
    assert.equal(state.scheduler.next(), state.held(3), "3 was admitted first");
    assert.equal(state.scheduler.next(), state.held(1));
  });

  test("join adds only a partition with admissible messages", () => {
    const { admitted, admission } = setup(10);
    const empty = buffered(0, []);
    admission.join(empty);
    bufferAll(empty, [0]); // arrives after the join
    const behindKey = buffered(1, [0, 1], "k");
    behindKey.admit(); // admitted elsewhere: 1 waits behind it, nothing admissible
    admission.join(behindKey);
    admission.admit();
    assert.deepEqual(admitted, []);
    admission.join(empty);
    admission.admit();
    assert.deepEqual(admitted, [0]);
  });

  test("skips a partition that is not active, and drops it from the rotation", () => {
    const { budget, admitted, admission } = setup(10);
    const revoking = buffered(0, range(2));
    const active = buffered(1, range(2));
    admission.join(revoking);
    admission.join(active);
    revoking.phase = "revoking";
    admission.admit();
    assert.deepEqual(admitted, [1, 1]);
    assert.deepEqual([revoking.admittedCount, revoking.bufferedCount, budget.messages], [0, 2, 2]);
    revoking.phase = "active";
    admission.admit();
    assert.deepEqual(admitted, [1, 1], "it left the rotation");
    admission.join(revoking);
    admission.admit();
    assert.deepEqual(admitted, [1, 1, 0, 0]);
  });

  test("admits nothing unless the lifecycle phase is running; the rotation is kept meanwhile", () => {
    const { admitted, lifecycle, admission } = setup(10);
    const state = buffered(0, range(2));
    admission.join(state);
    for (const phase of ["idle", "starting", "closing", "closed"] as const) {
      lifecycle.phase = phase;
      admission.admit();
      assert.deepEqual(admitted, [], phase);
    }
    assert.equal(state.admittedCount, 0);
    lifecycle.phase = "running";
    admission.admit();
    assert.deepEqual(admitted, [0, 0]);
  });

  test("property: admits exactly while there is room and something admissible, taking partitions in turn", () => {
    const scenario = fc.record({
      maxMessages: fc.integer({ min: 1, max: 30 }),
      partitions: fc.array(fc.array(fc.constantFrom("a", "b", null), { maxLength: 12 }), {
        minLength: 1,
        maxLength: 5,
      }),
    });
    fc.assert(
      fc.property(scenario, ({ maxMessages, partitions }) => {
        const { budget, admitted, admission } = setup(maxMessages);
        const states = partitions.map((keys, partition) => {
          const state = new PartitionState("t", partition, () => 0, 4096);
          state.seed(0, [], 0);
          keys.forEach((key, offset) => bufferAll(state, [offset], key));
          admission.join(state);
          return state;
        });
        admission.admit();
        const admissible = states.map((state) => state.scheduler.admissibleCount);
        const total = states.reduce((sum, state) => sum + state.admittedCount, 0);
        assert.equal(total, admitted.length);
        assert.equal(budget.messages, total);
        assert.ok(total <= maxMessages, "over the budget");
        assert.ok(total === maxMessages || admissible.every((count) => count === 0), "stopped with room left");
        // Turns: no partition admits a second message in a round before every partition that
        // still had admissible messages took its turn, so per-partition counts differ by at most
        // one among partitions that still have admissible messages.
        const counts = states.map((state) => state.admittedCount);
        const open = counts.filter((_, index) => admissible[index]! > 0);
        if (open.length > 0) assert.ok(Math.max(...counts) - Math.min(...open) <= 1, `unfair: ${counts}`);
      }),
      { numRuns: 300 },
    );
  });
});
