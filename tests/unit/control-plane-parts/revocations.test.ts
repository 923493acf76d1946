import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Attempt } from "../../../src/core/attempt.ts";
import { PartitionState, type WorkItem } from "../../../src/core/control-plane/partition-state.ts";
import { Revocations } from "../../../src/core/control-plane/revocations.ts";
import { PartitionRevokedError } from "../../../src/core/errors.ts";
import { Waiters } from "../../../src/core/waiters.ts";
import { VirtualClock } from "../../simulation/virtual-clock.ts";
import { acceptAll, deferred, flushMicrotasks } from "./fakes.ts";

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

/**
 * A commit for `release` that logs "time commit" into `log` (with the states' phases and whether
 * their attempts were aborted, as seen when it starts) and waits for the test.
 */
function pendingCommit(virtual: VirtualClock, log: string[], states: readonly PartitionState[] = []) {
  const reply = deferred<void>();
  let calls = 0;
  const commit = () => {
    calls++;
    const phases = states.map((state) => state.phase).join(",");
    log.push(`${virtual.now} commit${phases ? ` ${phases}` : ""}`);
    return reply.promise;
  };
  return { commit, reply, calls: () => calls };
}

/** A state of t[partition] with `running` attempts running. */
function owned(partition: number, running = 0): { state: PartitionState; items: WorkItem[]; attempts: Attempt[] } {
  const state = new PartitionState("t", partition, () => 0, 4096);
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

  test("attempts whose handler has not started are withdrawn at once; running ones keep their grace", async () => {
    const { virtual, waiters, drained, revocations } = setup();
    const { state, items, attempts } = owned(2, 2);
    // The second waits in an engine's queue: it can be taken back.
    attempts[1]!.onWithdraw = () => true;
    revocations.revoke([state]);
    assert.equal(attempts[1]!.aborted, true, "withdrawn in the revoke's tick");
    assert.ok(attempts[1]!.reason instanceof PartitionRevokedError);
    assert.equal(items[1]!.running, undefined, "its attempt is over");
    assert.equal(items[1]!.attempt, 0, "and does not count as one");
    assert.equal(state.running, 1);
    assert.equal(attempts[0]!.aborted, false, "the running one has its grace");
    await virtual.runUntil(() => false, 200);
    state.endAttempt(items[0]!, attempts[0]!);
    waiters.check();
    await revocations.all();
    assert.deepEqual(drained, ["200 t[2]"]);
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

  describe("release (the revoke barrier)", () => {
    test("waits for running attempts within the grace, then commits, then resolves; nothing is aborted", async () => {
      const { virtual, waiters, drained, revocations } = setup();
      const { state, items, attempts } = owned(0, 2);
      const log: string[] = [];
      const commit = pendingCommit(virtual, log, [state]);
      let released = false;
      void revocations.release([state], commit.commit).then(() => {
        released = true;
        log.push(`${virtual.now} released`);
      });
      assert.equal(state.phase, "revoking", "no new work starts from now on");
      await virtual.runUntil(() => false, 300);
      state.endAttempt(items[0]!, attempts[0]!);
      waiters.check();
      await flushMicrotasks();
      assert.equal(commit.calls(), 0, "one attempt still runs: no commit yet");
      await virtual.runUntil(() => false, 400);
      state.endAttempt(items[1]!, attempts[1]!);
      waiters.check();
      await flushMicrotasks();
      assert.deepEqual(log, ["400 commit revoked"], "committed once drained, completions ignored from then on");
      assert.deepEqual(drained, [], "the held messages stay counted until the commit ended");
      assert.equal(released, false, "not released before the commit ended");
      await virtual.runUntil(() => false, 550); // virtual time 550
      assert.equal(released, false);
      commit.reply.resolve();
      await flushMicrotasks();
      assert.deepEqual(log, ["400 commit revoked", "550 released"]);
      assert.deepEqual(drained, ["550 t[0]"]);
      assert.deepEqual(attempts.map((attempt) => attempt.aborted), [false, false]);
      assert.equal(commit.calls(), 1);
      assert.equal(virtual.pending(), 0, "the grace timer was cleared");
    });

    test("after the grace, running attempts are aborted before the commit starts", async () => {
      const { virtual, drained, revocations } = setup();
      const { state, attempts } = owned(2, 2);
      const log: string[] = [];
      let abortedAtCommit: boolean[] = [];
      const reply = deferred<void>();
      const released = revocations.release([state], () => {
        abortedAtCommit = attempts.map((attempt) => attempt.aborted);
        log.push(`${virtual.now} commit`);
        return reply.promise;
      });
      await virtual.runUntil(() => log.length > 0, 999);
      assert.deepEqual(log, []);
      assert.ok(await virtual.runUntil(() => log.length > 0, 1000));
      assert.deepEqual(log, ["1000 commit"]);
      assert.deepEqual(abortedAtCommit, [true, true]);
      for (const attempt of attempts) assert.ok(attempt.reason instanceof PartitionRevokedError);
      assert.equal(state.phase, "revoked");
      assert.deepEqual(drained, []);
      reply.resolve();
      await released;
      assert.deepEqual(drained, ["1000 t[2]"]);
    });

    test("a dead letter being published holds the release like a running attempt", async () => {
      const { virtual, waiters, revocations } = setup();
      const { state } = owned(0);
      const endPublish = state.hold("deadLetter");
      const log: string[] = [];
      const commit = pendingCommit(virtual, log);
      void revocations.release([state], commit.commit);
      await virtual.runUntil(() => false, 600);
      assert.deepEqual(log, []);
      endPublish();
      waiters.check();
      await flushMicrotasks();
      assert.deepEqual(log, ["600 commit"]);
      commit.reply.resolve();
    });

    test("messages ready or waiting for a retry do not hold it: they must not start any more", async () => {
      const { virtual, revocations } = setup();
      const state = new PartitionState("t", 0, () => 0, 4096);
      state.seed(0, [], 0);
      acceptAll(state, [0, 1, 2]);
      state.hold("retry");
      const log: string[] = [];
      const commit = pendingCommit(virtual, log);
      void revocations.release([state], commit.commit);
      await flushMicrotasks();
      assert.deepEqual(log, ["0 commit"]);
      commit.reply.resolve();
    });

    test("released partitions are tracked like revoked ones: a returning partition and all() wait for the commit", async () => {
      const { virtual, revocations } = setup();
      const { state } = owned(0);
      const log: string[] = [];
      const commit = pendingCommit(virtual, log);
      void revocations.release([state], commit.commit);
      const returning = owned(0).state;
      const resumed: string[] = [];
      revocations.afterDrainOf(returning, () => resumed.push("resumed"));
      let all = false;
      void revocations.all().then(() => (all = true));
      await virtual.runUntil(() => false, 200);
      assert.deepEqual(log, ["0 commit"]);
      assert.deepEqual([resumed, all, returning.waitingForDrain], [[], false, true]);
      commit.reply.resolve();
      await flushMicrotasks();
      assert.deepEqual([resumed, all, returning.waitingForDrain], [["resumed"], true, false]);
    });

    test("an empty release resolves at once without committing", async () => {
      const { revocations } = setup();
      let calls = 0;
      await revocations.release([], () => {
        calls++;
        return Promise.resolve();
      });
      assert.equal(calls, 0);
    });

    test("revoke (lost partitions) never commits", async () => {
      const { virtual, waiters, drained, revocations } = setup();
      // revoke takes no commit at all: nothing to call. The drain still waits for running work.
      const { state, items, attempts } = owned(0, 1);
      revocations.revoke([state]);
      await virtual.runUntil(() => false, 100);
      state.endAttempt(items[0]!, attempts[0]!);
      waiters.check();
      await revocations.all();
      assert.deepEqual(drained, ["100 t[0]"]);
    });
  });

  describe("lose (the member was fenced while giving partitions back)", () => {
    test("a release's partitions lost during its drain are not committed; the others are, and the drain still ends", async () => {
      const { virtual, waiters, drained, revocations } = setup();
      const kept = owned(0, 1);
      const lost = owned(1, 1);
      const committed: number[][] = [];
      const released = revocations.release([kept.state, lost.state], async (states) => {
        committed.push(states().map((state) => state.partition));
        await Promise.resolve();
        committed.push(states().map((state) => state.partition));
      });
      await virtual.runUntil(() => false, 100);
      revocations.lose([{ topic: "t", partition: 1 }, { topic: "other", partition: 0 }]);
      for (const { state, items, attempts } of [kept, lost]) state.endAttempt(items[0]!, attempts[0]!);
      waiters.check();
      await released;
      assert.deepEqual(committed, [[0], [0]]);
      assert.deepEqual(drained, ["100 t[0],t[1]"]);
    });

    test("lost while the commit retries: the next try leaves it out; all lost: no commit at all", async () => {
      const { waiters, revocations } = setup();
      const { state } = owned(0);
      const tries: number[][] = [];
      await revocations.release([state], async (states) => {
        tries.push(states().map((s) => s.partition));
        revocations.lose([{ topic: "t", partition: 0 }]);
        await Promise.resolve();
        tries.push(states().map((s) => s.partition));
      });
      assert.deepEqual(tries, [[0], []]);
      const again = owned(0);
      revocations.lose([{ topic: "t", partition: 0 }]); // before its release: nothing to mark
      let calls = 0;
      const other = owned(1, 1);
      const release = revocations.release([again.state, other.state], () => {
        calls++;
        return Promise.resolve();
      });
      revocations.lose([{ topic: "t", partition: 0 }, { topic: "t", partition: 1 }]);
      other.state.endAttempt(other.items[0]!, other.attempts[0]!);
      waiters.check();
      await release;
      assert.equal(calls, 0, "every partition of the release was lost");
    });
  });
});
