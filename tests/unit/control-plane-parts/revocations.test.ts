import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Attempt } from "../../../src/core/attempt.ts";
import { PartitionState, type WorkItem } from "../../../src/core/control-plane/partition-state.ts";
import { Revocations } from "../../../src/core/control-plane/revocations.ts";
import { PartitionRevokedError } from "../../../src/core/errors.ts";
import { Waiters } from "../../../src/core/waiters.ts";
import { VirtualClock } from "../../simulation/virtual-clock.ts";
import { acceptAll, flushMicrotasks } from "./fakes.ts";

/** Revocations with a 1000 ms grace; drained states are logged as "time t[p]". */
function setup() {
  const virtual = new VirtualClock();
  const clock = virtual.clock("revocations");
  const waiters = new Waiters(clock);
  const drained: string[] = [];
  const revocations = new Revocations(waiters, 1000, (states) => {
    drained.push(`${virtual.now} ${states.map((state) => `t[${state.partition}]`).join(",")}`);
  });
  return { virtual, waiters, drained, revocations };
}

/** A state of t[partition] with `running` attempts running. */
function owned(partition: number, running = 0): { state: PartitionState; items: WorkItem[]; attempts: Attempt[] } {
  const state = new PartitionState("t", partition, () => 0);
  state.seed(0, [], 0);
  const items = acceptAll(state, Array.from({ length: running }, (_, i) => i));
  const attempts = items.map((item) => {
    state.scheduler.next();
    return state.startAttempt(item, 0);
  });
  return { state, items, attempts };
}

describe("Revocations", () => {
  test("a partition with nothing running drains at once, without aborting anything", async () => {
    const { drained, revocations } = setup();
    const { state } = owned(0);
    revocations.revoke([state]);
    assert.equal(state.phase, "revoking");
    await revocations.all();
    assert.equal(state.phase, "revoked");
    assert.deepEqual(drained, ["0 t[0]"]);
  });

  test("running work may finish within the grace: the drain ends when the last attempt ends", async () => {
    const { virtual, waiters, drained, revocations } = setup();
    const { state, items, attempts } = owned(0, 2);
    revocations.revoke([state]);
    await virtual.runUntil(() => false, 300);
    state.endAttempt(items[0]!, attempts[0]!);
    waiters.check();
    await flushMicrotasks();
    assert.deepEqual(drained, [], "one attempt still runs");
    await virtual.runUntil(() => false, 700);
    state.endAttempt(items[1]!, attempts[1]!);
    waiters.check();
    await revocations.all();
    assert.deepEqual(drained, ["700 t[0]"]);
    assert.deepEqual(attempts.map((attempt) => attempt.aborted), [false, false]);
    assert.equal(virtual.pending(), 0, "the grace timer was cleared");
  });

  test("after the grace, running attempts are aborted with PartitionRevokedError", async () => {
    const { virtual, drained, revocations } = setup();
    const { state, attempts } = owned(4, 2);
    revocations.revoke([state]);
    await virtual.runUntil(() => drained.length > 0, 999);
    assert.deepEqual(drained, []);
    assert.equal(attempts[0]!.aborted, false);
    assert.ok(await virtual.runUntil(() => drained.length > 0, 1000));
    assert.deepEqual(drained, ["1000 t[4]"]);
    assert.equal(state.phase, "revoked");
    for (const attempt of attempts) {
      assert.ok(attempt.reason instanceof PartitionRevokedError);
      assert.deepEqual(
        [attempt.reason.code, attempt.reason.topic, attempt.reason.partition],
        ["PYRALLEL_PARTITION_REVOKED", "t", 4],
      );
    }
  });

  test("states revoked together drain together; an empty revoke does nothing", async () => {
    const { virtual, drained, revocations } = setup();
    revocations.revoke([]);
    const a = owned(0);
    const b = owned(1, 1);
    revocations.revoke([a.state, b.state]);
    await virtual.runUntil(() => drained.length > 0, 10_000);
    assert.deepEqual(drained, ["1000 t[0],t[1]"]);
    assert.equal(a.state.phase, "revoked");
  });

  test("a returning partition waits for its old drain; other partitions do not", async () => {
    const { virtual, revocations } = setup();
    const old = owned(0, 1);
    revocations.revoke([old.state]);
    const resumed: string[] = [];
    const returning = owned(0).state;
    revocations.afterDrainOf(returning, () => resumed.push(`${virtual.now} t[0]`));
    const other = owned(1).state;
    revocations.afterDrainOf(other, () => resumed.push(`${virtual.now} t[1]`));
    assert.equal(returning.waitingForDrain, true);
    assert.equal(other.waitingForDrain, false, "t[1] never drained");
    await virtual.runUntil(() => resumed.length > 0, 10_000);
    await flushMicrotasks();
    assert.deepEqual(resumed, ["1000 t[0]"]);
    assert.equal(returning.waitingForDrain, false);
    assert.equal(old.attempts[0]!.aborted, true, "the old epoch's attempt was given up on first");

    const later = owned(0).state;
    revocations.afterDrainOf(later, () => resumed.push("again"));
    await flushMicrotasks();
    assert.equal(later.waitingForDrain, false, "the drain is over: nothing to wait for");
    assert.deepEqual(resumed, ["1000 t[0]"]);
  });

  test("revoked again before the earlier drain ended: a returning partition waits for both", async () => {
    const { virtual, waiters, drained, revocations } = setup();
    const first = owned(0, 1); // never ends: drains at its grace, 1000
    revocations.revoke([first.state]);
    await virtual.runUntil(() => false, 500);
    const second = owned(0, 1); // ends at 600
    revocations.revoke([second.state]);
    const resumed: number[] = [];
    const third = owned(0).state;
    revocations.afterDrainOf(third, () => resumed.push(virtual.now));
    await virtual.runUntil(() => false, 600);
    second.state.endAttempt(second.items[0]!, second.attempts[0]!);
    waiters.check();
    await flushMicrotasks();
    assert.deepEqual(drained, ["600 t[0]"]);
    assert.deepEqual(resumed, [], "the first epoch still drains");
    assert.equal(third.waitingForDrain, true);
    await virtual.runUntil(() => resumed.length > 0, 10_000);
    assert.deepEqual(drained, ["600 t[0]", "1000 t[0]"]);
    assert.deepEqual(resumed, [1000]);
    assert.equal(third.waitingForDrain, false);
  });

  test("all() resolves once every revoked partition has drained", async () => {
    const { virtual, revocations } = setup();
    const a = owned(0, 1);
    revocations.revoke([a.state]);
    let done = false;
    void revocations.all().then(() => (done = true));
    await virtual.runUntil(() => done, 999);
    assert.equal(done, false);
    await virtual.runUntil(() => done, 1000);
    assert.equal(done, true);
  });
});
