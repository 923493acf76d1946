// Revocations.release when the commit it was given fails. Kept in a file of its own: while
// release does not contain that failure, it also escapes as an unhandled rejection, which some
// runtimes blame on whatever test runs next.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { PartitionState } from "../../../src/core/control-plane/partition-state.ts";
import { Revocations } from "../../../src/core/control-plane/revocations.ts";
import { Waiters } from "../../../src/core/waiters.ts";
import { VirtualClock } from "../../simulation/virtual-clock.ts";
import { flushMicrotasks } from "./fakes.ts";

function seeded(partition: number): PartitionState {
  const state = new PartitionState("t", partition, () => 0, 4096);
  state.seed(0, [], 0);
  return state;
}

describe("Revocations.release with a failing commit", () => {
  test("resolves all the same: the states are released, a returning partition resumes, all() resolves", async () => {
    const virtual = new VirtualClock();
    const drained: number[] = [];
    const revocations = new Revocations(new Waiters(virtual.clock("revocations")), 1000, (states) => {
      for (const state of states) drained.push(state.partition);
    });
    const outcome = revocations.release([seeded(0)], () => Promise.reject(new Error("coordinator gone"))).then(
      () => "resolved",
      (error: Error) => `rejected: ${error.message}`,
    );
    const returning = seeded(0);
    let resumed = false;
    revocations.afterDrainOf(returning, () => (resumed = true));
    assert.equal(await outcome, "resolved", "the revoke barrier resolves, never rejects");
    assert.deepEqual(drained, [0], "the held messages are released");
    await flushMicrotasks();
    assert.equal(resumed, true, "the partition assigned back meanwhile starts its work");
    assert.equal(returning.waitingForDrain, false);
    const all = await revocations.all().then(() => "resolved", () => "rejected");
    assert.equal(all, "resolved", "close() waits for every drain without failing");
  });
});
