// Commits around a rebalance, against the real group coordinator.
// Classic protocol (eager):
// - when a rebalance starts, the consumer commits its progress ("a good moment to commit"); that
//   commit should be accepted, not fail and raise an error on every membership change;
// - a revoked partition drains (up to maxRevokeGraceMs). The revoke is only known after the
//   group's join, when the new owner already reads and commits the partition: a late commit must
//   not move the group's committed offset back below the new owner's progress.
// Consumer protocol (KIP-848): the revoke barrier holds the partition while its running work has
// its grace, commits what completed, and only then hands it over; a handler that finishes after
// that commits nothing.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type ConsumerMessage, createParallelConsumer } from "../../mod.ts";
import { doneOffsets } from "../support/offset-map.ts";
import {
  BROKERS,
  committedOffsets,
  committedWithMetadata,
  createTopic,
  endOffsets,
  produce,
  sleep,
  type TestRecord,
  uniqueName,
  waitFor,
  waitForAsync,
} from "../support/kafka.ts";

const PARTITIONS = 2;
const PER_PARTITION = 20;
/** On each partition: a handler that hangs at the old owner, and a message of the same key behind it. */
const HANGING = 5;
const BEHIND = 7;

/**
 * A topic of PARTITIONS partitions of PER_PARTITION records: offsets HANGING and BEHIND of each
 * partition share the key `blocker-<partition>`, every other record has its own key. Its log ends.
 */
async function produceBlockers(topic: string): Promise<bigint[]> {
  await createTopic(topic, PARTITIONS);
  const records: TestRecord[] = [];
  for (let partition = 0; partition < PARTITIONS; partition++) {
    for (let offset = 0; offset < PER_PARTITION; offset++) {
      const key = offset === HANGING || offset === BEHIND ? `blocker-${partition}` : `key-${partition}-${offset}`;
      records.push({ key, value: `${partition}:${offset}`, partition });
    }
  }
  await produce(topic, records);
  return endOffsets(topic, PARTITIONS);
}

test("classic protocol: a revoked partition's late final commit does not move the new owner's committed offset back", async () => {
  const topic = uniqueName("revoke-commit");
  const groupId = uniqueName("group");
  const ends = await produceBlockers(topic);

  const kafka = (name: string) => ({
    bootstrapBrokers: BROKERS,
    groupId,
    topics: [topic],
    clientId: `it-revoke-commit-${name}`,
    groupProtocol: "classic" as const,
    sessionTimeoutMs: 6000,
    heartbeatIntervalMs: 200,
    rebalanceTimeoutMs: 6000,
  });
  // The first owner's handler of HANGING ignores its abort signal until the test releases it.
  const release: (() => void)[] = [];
  const hanging = Array.from(
    { length: PARTITIONS },
    (_, partition) => new Promise<void>((resolve) => (release[partition] = resolve)),
  );
  const ranAtA: string[] = [];
  const a = createParallelConsumer({
    kafka: kafka("A"),
    ordering: "key",
    commitIntervalMs: 100,
    maxRevokeGraceMs: 20_000,
    handler: async (message: ConsumerMessage) => {
      ranAtA.push(`${message.partition}:${message.offset}`);
      if (message.offset === BigInt(HANGING)) await hanging[message.partition];
    },
  });
  const ranAtB: string[] = [];
  const b = createParallelConsumer({
    kafka: kafka("B"),
    ordering: "key",
    commitIntervalMs: 100,
    handler: (message: ConsumerMessage) => {
      ranAtB.push(`${message.partition}:${message.offset}`);
    },
  });
  const log: string[] = [];
  const committedNow = async () =>
    (await committedWithMetadata(groupId, topic, PARTITIONS)).map(({ offset, metadata }) => ({
      offset,
      map: doneOffsets(metadata, Number(offset)),
    }));

  try {
    await a.start();
    // A commits HANGING with the offset map of everything else but BEHIND (queued behind it).
    const aboveA = Array.from({ length: PER_PARTITION - HANGING - 1 }, (_, i) => HANGING + 1 + i).filter((o) =>
      o !== BEHIND
    );
    await waitForAsync("A's commits at the hanging offsets", async () => {
      const committed = await committedNow();
      return committed.every(({ offset, map }) => offset === BigInt(HANGING) && map.length === aboveA.length);
    }, 15_000);

    // B joins: one partition moves to B, which runs only HANGING and BEHIND there and commits the end.
    await b.start();
    await waitFor("B to own a partition", () => b.getMetrics().partitions.length === 1, 15_000);
    const moved = b.getMetrics().partitions[0]!.partition;
    await waitForAsync("B to commit the end of the moved partition", async () => {
      return (await committedNow())[moved]!.offset === BigInt(PER_PARTITION);
    }, 15_000);
    assert.deepEqual(ranAtB.sort(), [`${moved}:${HANGING}`, `${moved}:${BEHIND}`], "B honoured A's offset map");
    log.push(`B owns p${moved} and committed it at ${PER_PARTITION}`);

    // A's old handler on the moved partition finishes now: A ends the revoke drain and commits.
    const commitsBefore = a.getMetrics().commitsTotal;
    release[moved]!();
    await waitFor("A's revoke commit", () => a.getMetrics().commitsTotal > commitsBefore, 5_000).catch(() => {});
    await sleep(300);
    const afterRevoke = (await committedNow())[moved]!;
    log.push(`after A's revoke drain: p${moved} committed at ${afterRevoke.offset} with map [${afterRevoke.map}]`);

    // Everyone closes cleanly: the group's committed offsets should be the end offsets.
    for (const resolve of release) resolve();
    await b.close();
    await a.close();
    const final = await committedOffsets(groupId, topic, PARTITIONS);
    log.push(`after both closed: committed ${final.join(", ")} (end offsets ${ends.join(", ")})`);
    console.log(`  ${log.join("\n  ")}`);

    assert.equal(afterRevoke.offset, BigInt(PER_PARTITION), `A's late revoke commit moved p${moved} back`);
    assert.deepEqual(final, ends);
  } finally {
    for (const resolve of release) resolve?.();
    await Promise.allSettled([a.close(), b.close()]);
  }
});

test("classic protocol: the commit made when a rebalance starts is accepted: no commit failure or error event on a member joining", async () => {
  const topic = uniqueName("rebalance-commit");
  const groupId = uniqueName("group");
  await createTopic(topic, PARTITIONS);
  const half = PER_PARTITION / 2;
  const quarter = half / 2;
  const records = (from: number, count: number): TestRecord[] =>
    Array.from(
      { length: PARTITIONS },
      (_, partition) => Array.from({ length: count }, (_, i) => ({ key: `key-${from + i}`, value: "x", partition })),
    ).flat();
  const kafka = (name: string) => ({
    bootstrapBrokers: BROKERS,
    groupId,
    topics: [topic],
    clientId: `it-rebalance-commit-${name}`,
    groupProtocol: "classic" as const,
    sessionTimeoutMs: 6000,
    heartbeatIntervalMs: 200,
    rebalanceTimeoutMs: 6000,
  });
  // A commits on its interval never during the test, and early (caught up) at least twice, which
  // spends its early commits (two in a row, then one per quarter interval, 15 s): so only the
  // rebalance can commit its second half. (A third catch-up, each partition's data coming in a
  // response of its own, delays the second quarter's commit by up to 15 s: hence the 20 s waits.)
  const a = createParallelConsumer({ kafka: kafka("A"), commitIntervalMs: 60_000, handler: () => {} });
  const ranAtB: string[] = [];
  const b = createParallelConsumer({
    kafka: kafka("B"),
    commitIntervalMs: 100,
    handler: (message: ConsumerMessage) => {
      ranAtB.push(`${message.partition}:${message.offset}`);
    },
  });
  const errorsA: Error[] = [];
  a.on("error", (error) => errorsA.push(error));
  try {
    await a.start();
    const committed = () => committedOffsets(groupId, topic, PARTITIONS);
    for (const upTo of [quarter, half]) {
      await produce(topic, records(upTo - quarter, quarter));
      await waitForAsync(
        `A to complete the first ${upTo} of each partition and commit them once caught up`,
        async () => (await committed()).every((offset) => offset === BigInt(upTo)),
        20_000,
      );
    }
    await produce(topic, records(half, half));
    await waitFor(
      "A to complete everything",
      () => a.getMetrics().processedTotal === PARTITIONS * PER_PARTITION,
      15_000,
    );
    await sleep(300);
    assert.deepEqual(
      await committed(),
      [BigInt(half), BigInt(half)],
      "the second half is not committed before the rebalance",
    );

    await b.start();
    await waitFor(
      "the partitions to be shared",
      () => a.getMetrics().partitions.length === 1 && b.getMetrics().partitions.length === 1,
      15_000,
    );
    await sleep(500);
    const metricsA = a.getMetrics();
    const errors = errorsA.map((error) => `${error.message}: ${String(error.cause)}`);
    console.log(
      `  A: commits ${metricsA.commitsTotal}, commit failures ${metricsA.commitFailuresTotal}, errors ${
        JSON.stringify(errors)
      }; ` +
        `B ran again ${ranAtB.length} of the ${PER_PARTITION} messages A had completed on the moved partition`,
    );
    assert.deepEqual(errors, [], "error events on a normal rebalance");
    assert.equal(metricsA.commitFailuresTotal, 0);
    // The second half reached the group only through A's commit at the rebalance: B runs none of it.
    assert.deepEqual(ranAtB, []);
  } finally {
    await Promise.allSettled([a.close(), b.close()]);
  }
});

test("consumer protocol: a hanging handler holds the hand-over for maxRevokeGraceMs; then what completed is committed, and its late end commits nothing", async () => {
  const topic = uniqueName("barrier-grace");
  const groupId = uniqueName("group");
  const GRACE_MS = 3000;
  const ends = await produceBlockers(topic);
  const kafka = (name: string) => ({
    bootstrapBrokers: BROKERS,
    groupId,
    topics: [topic],
    clientId: `it-barrier-grace-${name}`,
    groupProtocol: "consumer" as const,
  });
  // A's handler of HANGING ignores its abort signal until the test releases it.
  const release: (() => void)[] = [];
  const hanging = Array.from(
    { length: PARTITIONS },
    (_, partition) => new Promise<void>((resolve) => (release[partition] = resolve)),
  );
  const a = createParallelConsumer({
    kafka: kafka("A"),
    ordering: "key",
    commitIntervalMs: 100,
    maxRevokeGraceMs: GRACE_MS,
    handler: async (message: ConsumerMessage) => {
      if (message.offset === BigInt(HANGING)) await hanging[message.partition];
    },
  });
  const ranAtB: string[] = [];
  const b = createParallelConsumer({
    kafka: kafka("B"),
    ordering: "key",
    commitIntervalMs: 100,
    handler: (message: ConsumerMessage) => {
      ranAtB.push(`${message.partition}:${message.offset}`);
    },
  });
  const errorsA: Error[] = [];
  a.on("error", (error) => errorsA.push(error));
  const committedNow = async () =>
    (await committedWithMetadata(groupId, topic, PARTITIONS)).map(({ offset, metadata }) => ({
      offset,
      map: doneOffsets(metadata, Number(offset)),
    }));
  const log: string[] = [];
  try {
    await a.start();
    const aboveA = Array.from({ length: PER_PARTITION - HANGING - 1 }, (_, i) => HANGING + 1 + i).filter((o) =>
      o !== BEHIND
    );
    await waitForAsync("A's commits at the hanging offsets", async () => {
      const committed = await committedNow();
      return committed.every(({ offset, map }) => offset === BigInt(HANGING) && map.length === aboveA.length);
    }, 15_000);

    // B joins: one partition is revoked from A, whose HANGING handler holds it for the grace.
    const joined = performance.now();
    await b.start();
    await waitFor("B to own a partition", () => b.getMetrics().partitions.length === 1, 30_000);
    const waited = performance.now() - joined;
    const moved = b.getMetrics().partitions[0]!.partition;
    log.push(`B got p${moved} ${(waited / 1000).toFixed(1)} s after it joined (grace ${GRACE_MS / 1000} s)`);
    await waitForAsync("B to commit the end of the moved partition", async () => {
      return (await committedNow())[moved]!.offset === BigInt(PER_PARTITION);
    }, 15_000);
    assert.ok(waited >= GRACE_MS - 100, `B got the partition before A's grace ended (${waited.toFixed(0)} ms)`);
    // A's commit at the release marked everything but HANGING and BEHIND done: B ran only those.
    assert.deepEqual(ranAtB.sort(), [`${moved}:${HANGING}`, `${moved}:${BEHIND}`], "B honoured A's offset map");

    // A's hanging handler ends now: A no longer holds the partition and commits nothing for it.
    release[moved]!();
    await sleep(1000);
    const after = (await committedNow())[moved]!;
    log.push(`after A's handler ended: p${moved} committed at ${after.offset}`);
    assert.equal(after.offset, BigInt(PER_PARTITION), "A's late completion moved the committed offset");

    for (const resolve of release) resolve();
    await b.close();
    await a.close();
    const final = await committedOffsets(groupId, topic, PARTITIONS);
    log.push(`after both closed: committed ${final.join(", ")} (end offsets ${ends.join(", ")})`);
    console.log(`  ${log.join("\n  ")}`);
    assert.deepEqual(final, ends);
    assert.deepEqual(errorsA.map((error) => error.message), [], "error events at A");
  } finally {
    for (const resolve of release) resolve?.();
    await Promise.allSettled([a.close(), b.close()]);
  }
});
