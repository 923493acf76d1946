// The offset map against the real broker: with a few offsets that never finish, the commit stays
// at the first of them and carries (in its metadata) the offsets completed above it. A member that
// takes over, after a clean close() or after the previous process was killed, runs only what the
// last commit does not cover.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type ConsumerMessage, createParallelConsumer, type HandlerContext, type Ordering } from "../../mod.ts";
import { doneOffsets } from "../support/offset-map.ts";
import {
  BROKERS,
  committedOffsets,
  type CommittedPartition,
  committedWithMetadata,
  createTopic,
  produce,
  sleep,
  type TestRecord,
  uniqueName,
  waitFor,
  waitForAsync,
} from "../support/kafka.ts";
import { ChildScript, processScript } from "../support/processes/spawn.ts";

const MESSAGES = 300;
/** Offsets whose handler never finishes (until aborted). */
const SLOW = [40, 150, 260];
/** Keys of the slow offsets; in "key" order, 45 and 155 (same keys as 40 and 150) wait behind them. */
const SLOW_KEYS = new Map<number, string>([[40, "slow-a"], [45, "slow-a"], [150, "slow-b"], [155, "slow-b"], [
  260,
  "slow-c",
]]);
const FIRST_SLOW = SLOW[0]!;

const records = (): TestRecord[] =>
  Array.from({ length: MESSAGES }, (_, seq) => ({
    key: SLOW_KEYS.get(seq) ?? `key-${seq % 20}`,
    value: JSON.stringify({ seq }),
    partition: 0,
  }));

/** Offsets that never complete: the slow ones, and in "key" order those queued behind them. */
const unfinishedOf = (ordering: Ordering): number[] =>
  ordering === "key" ? [...SLOW_KEYS.keys()].sort((a, b) => a - b) : SLOW;

/** Completed ranges above the first slow offset, separated by unfinished offsets. */
const gapsOf = (ordering: Ordering): number => unfinishedOf(ordering).length;

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

/** A handler that never finishes: it fails, like an aborted fetch(), once the consumer aborts it. */
async function untilAborted(signal: AbortSignal): Promise<never> {
  await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
  throw signal.reason;
}

async function setUp(): Promise<{ topic: string; groupId: string }> {
  const topic = uniqueName("offset-map");
  const groupId = uniqueName("group");
  await createTopic(topic, 1);
  await produce(topic, records());
  return { topic, groupId };
}

/** Starts a member that processes everything, runs until it committed the end, and returns what it ran. */
async function drainWithNewMember(topic: string, groupId: string, ordering: Ordering): Promise<number[]> {
  const processed: number[] = [];
  const errors: Error[] = [];
  const consumer = createParallelConsumer({
    kafka: { bootstrapBrokers: BROKERS, groupId, topics: [topic], clientId: "it-offset-map-next" },
    ordering,
    commitIntervalMs: 100,
    handler: (message: ConsumerMessage) => {
      processed.push(Number(message.offset));
    },
  });
  consumer.on("error", (error) => errors.push(error));
  await consumer.start();
  try {
    await waitFor(
      "the next member to commit the end of the partition",
      () => consumer.getMetrics().partitions[0]?.committedOffset === BigInt(MESSAGES),
      20_000,
    );
  } finally {
    await consumer.close();
  }
  assert.deepEqual(errors.map((error) => error.message), []);
  return processed.sort((a, b) => a - b);
}

for (const ordering of ["key", "unordered"] as const) {
  test(`offset map (${ordering}): blocked offsets are committed as position + map; after close() the next member runs only the unfinished ones`, async () => {
    const { topic, groupId } = await setUp();
    const unfinished = unfinishedOf(ordering);
    const completed = new Set<number>();
    const duplicates: number[] = [];
    const errors: Error[] = [];
    const first = createParallelConsumer({
      kafka: { bootstrapBrokers: BROKERS, groupId, topics: [topic], clientId: "it-offset-map-first" },
      ordering,
      maxInFlight: 1000,
      engine: { kind: "async", concurrency: 50 },
      commitIntervalMs: 100,
      drainTimeoutMs: 300,
      handler: async (message: ConsumerMessage, { signal }: HandlerContext) => {
        const offset = Number(message.offset);
        if (SLOW.includes(offset)) return await untilAborted(signal);
        await sleep(Math.random() * 2);
        if (completed.has(offset)) duplicates.push(offset);
        completed.add(offset);
      },
    });
    first.on("error", (error) => errors.push(error));
    await first.start();

    await waitFor("every other offset to complete", () => completed.size === MESSAGES - unfinished.length, 20_000);
    const expectedMap = range(FIRST_SLOW + 1, MESSAGES).filter((offset) => !unfinished.includes(offset));
    assert.deepEqual([...completed].sort((a, b) => a - b), [...range(0, FIRST_SLOW), ...expectedMap]);

    // The broker gets the blocking offset as the position and everything done above it as the map.
    let committed: CommittedPartition = { partition: 0, offset: -1n, metadata: null };
    await waitForAsync("the offset map of every completion to be committed", async () => {
      committed = (await committedWithMetadata(groupId, topic, 1))[0]!;
      return committed.offset === BigInt(FIRST_SLOW) &&
        doneOffsets(committed.metadata, FIRST_SLOW).length === expectedMap.length;
    }, 10_000);
    assert.ok(committed.metadata?.startsWith("pc1"), `metadata ${committed.metadata} is an offset map`);
    assert.deepEqual(doneOffsets(committed.metadata, FIRST_SLOW), expectedMap);

    const metrics = first.getMetrics();
    const partition = metrics.partitions[0]!;
    assert.equal(metrics.partitions.length, 1);
    assert.equal(partition.blockingOffset, BigInt(FIRST_SLOW));
    assert.equal(partition.committedOffset, BigInt(FIRST_SLOW));
    assert.equal(partition.highestContiguousOffset, BigInt(FIRST_SLOW - 1));
    assert.equal(partition.lastFetchedOffset, BigInt(MESSAGES - 1));
    assert.equal(partition.trueLag, MESSAGES - FIRST_SLOW);
    assert.equal(partition.gapCount, gapsOf(ordering));
    assert.ok(partition.gapCount > 0);
    assert.equal(partition.inFlight, SLOW.length, "the slow handlers are running");
    assert.equal(partition.queuedCount, 0);
    assert.equal(partition.bufferedCount, unfinished.length - SLOW.length, "messages buffered behind the slow keys");
    assert.ok(partition.commitMetadataBytes > 0);
    assert.equal(metrics.processedTotal, completed.size);
    assert.equal(metrics.totalInFlight, SLOW.length, "only the running first message of each slow key is in flight");

    // close(): the slow handlers are aborted after drainTimeoutMs and stay unfinished.
    const closeStarted = performance.now();
    await first.close();
    const closeMs = performance.now() - closeStarted;
    assert.ok(closeMs >= 250 && closeMs < 5000, `close() took ${closeMs.toFixed(0)} ms (drainTimeoutMs 300)`);
    const [afterClose] = await committedWithMetadata(groupId, topic, 1);
    assert.equal(afterClose!.offset, BigInt(FIRST_SLOW));
    assert.deepEqual(doneOffsets(afterClose!.metadata, FIRST_SLOW), expectedMap);

    // The next member of the group runs exactly the unfinished offsets, each once.
    const again = await drainWithNewMember(topic, groupId, ordering);
    console.log(
      `  ${ordering}: first member completed ${completed.size}, committed ${committed.offset} + map of ` +
        `${expectedMap.length} (${committed.metadata!.length} bytes); next member ran ${JSON.stringify(again)}`,
    );
    assert.deepEqual(again, unfinished);
    assert.deepEqual(duplicates, []);
    assert.deepEqual(errors.map((error) => error.message), []);
    assert.deepEqual(await committedOffsets(groupId, topic, 1), [BigInt(MESSAGES)]);
  });
}

test("offset map: a consumer process killed with SIGKILL; the next member runs only what its last commit does not cover", async () => {
  const { topic, groupId } = await setUp();
  const ordering: Ordering = "key";
  const unfinished = unfinishedOf(ordering);
  const child = new ChildScript(processScript("offset-map-consumer.ts"), [], {
    PC_TOPIC: topic,
    PC_GROUP: groupId,
    PC_SLOW: SLOW.join(","),
    PC_ORDERING: ordering,
    PC_DELAY_MS: "20",
    PC_CONCURRENCY: "8",
  });
  const completedByChild = () => new Set(child.named("completed").map((event) => event.offset as number));
  let killedAt: { completed: number; commits: number; lastCommit: unknown } | undefined;
  try {
    await child.waitFor("start", (event) => event.event === "started", 30_000);
    // Kill it while it works: after a commit at the first slow offset with a non-empty map, and
    // with about half of the messages completed.
    await child.waitFor(
      "a commit with an offset map",
      (event) =>
        event.event === "commit" && event.committedOffset === String(FIRST_SLOW) && (event.metadataBytes as number) > 0,
      20_000,
    );
    await child.waitUntil(
      "half of the messages completed",
      () => child.named("completed").length >= MESSAGES / 2,
      20_000,
    );
    const exit = await child.kill("SIGKILL");
    assert.equal(exit.signal, "SIGKILL");
    const commits = child.named("commit");
    killedAt = { completed: child.named("completed").length, commits: commits.length, lastCommit: commits.at(-1) };
  } finally {
    await child.kill("SIGKILL");
  }
  assert.ok(killedAt);
  assert.deepEqual(child.named("error"), []);
  const completed = completedByChild();
  assert.equal(completed.size, killedAt.completed, "each offset completed once in the child");

  // What the broker holds: the last commit of the killed process. A commit the process sent just
  // before it died can still land after its exit: read until two reads a second apart agree.
  let [committed] = await committedWithMetadata(groupId, topic, 1);
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const [again] = await committedWithMetadata(groupId, topic, 1);
    if (again?.offset === committed?.offset && again?.metadata === committed?.metadata) break;
    committed = again;
  }
  assert.equal(committed!.offset, BigInt(FIRST_SLOW));
  assert.ok(committed!.metadata?.startsWith("pc1"), `metadata ${committed!.metadata} is an offset map`);
  const map = doneOffsets(committed!.metadata, FIRST_SLOW);
  assert.ok(map.length > 0, "the last commit carries an offset map");
  // A commit never covers work that did not complete.
  const covered = [...range(0, FIRST_SLOW), ...map];
  assert.deepEqual(covered.filter((offset) => !completed.has(offset)), [], "covered offsets the child never completed");
  assert.deepEqual(map.filter((offset) => unfinished.includes(offset)), []);

  const again = await drainWithNewMember(topic, groupId, ordering);
  const coveredSet = new Set(covered);
  const expected = range(0, MESSAGES).filter((offset) => !coveredSet.has(offset));
  const rerun = again.filter((offset) => completed.has(offset));
  console.log(
    `  killed after ${killedAt.completed} completions and ${killedAt.commits} commits; the last commit covered ` +
      `${covered.length} (position ${FIRST_SLOW} + map of ${map.length}); the next member ran ${again.length}: ` +
      `${unfinished.length} never finished, ${rerun.length} completed after the last commit`,
  );
  // Exactly what the last commit does not cover runs again: nothing covered, everything else.
  assert.deepEqual(again.filter((offset) => coveredSet.has(offset)), [], "covered offsets ran again");
  assert.deepEqual(again, expected);
  for (const offset of unfinished) assert.ok(again.includes(offset), `unfinished offset ${offset} ran`);
  // Every message ran at least once overall.
  const everRan = new Set([...completed, ...again]);
  assert.deepEqual(range(0, MESSAGES).filter((offset) => !everRan.has(offset)), []);
  assert.deepEqual(await committedOffsets(groupId, topic, 1), [BigInt(MESSAGES)]);
});
