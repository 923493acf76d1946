// A partition revoked from a member and given back to it later: the handler still running from
// the first ownership (it ignored its abort signal past maxRevokeGraceMs) finishes during the
// second one, and its completion must not count for the new ownership.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type ConsumerMessage, createParallelConsumer, type HandlerContext } from "../../mod.ts";
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
  withTimeout,
} from "../support/kafka.ts";

const PARTITIONS = 2;
const PER_PARTITION = 10;
const HANGING = 5;

/** A promise with its resolve function. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

test("a partition given back to the same member ignores the completion of its old ownership's handler", async () => {
  const topic = uniqueName("returns");
  const groupId = uniqueName("group");
  await createTopic(topic, PARTITIONS);
  const records: TestRecord[] = [];
  for (let partition = 0; partition < PARTITIONS; partition++) {
    for (let offset = 0; offset < PER_PARTITION; offset++) {
      records.push({ key: `key-${offset}`, value: "x", partition });
    }
  }
  await produce(topic, records);

  const kafka = (name: string) => ({
    bootstrapBrokers: BROKERS,
    groupId,
    topics: [topic],
    clientId: `it-returns-${name}`,
    sessionTimeoutMs: 6000,
    heartbeatIntervalMs: 200,
    rebalanceTimeoutMs: 6000,
  });
  const committedAt = async (partition: number) => {
    const committed = (await committedWithMetadata(groupId, topic, PARTITIONS))[partition]!;
    return { offset: committed.offset, map: doneOffsets(committed.metadata, Number(committed.offset)) };
  };

  // A: the first run of HANGING on each partition ignores its abort signal until `zombie` opens;
  // a second run (the partition came back) waits for `second`.
  const zombie = Array.from({ length: PARTITIONS }, gate);
  const second = Array.from({ length: PARTITIONS }, gate);
  const startsAtA = new Map<string, number>();
  const running = new Map<string, number>();
  let overlapping = 0;
  const a = createParallelConsumer({
    kafka: kafka("A"),
    ordering: "key",
    commitIntervalMs: 100,
    maxRevokeGraceMs: 100,
    drainTimeoutMs: 5000,
    handler: async (message: ConsumerMessage) => {
      const id = `${message.partition}:${message.offset}`;
      const starts = (startsAtA.get(id) ?? 0) + 1;
      startsAtA.set(id, starts);
      running.set(id, (running.get(id) ?? 0) + 1);
      if (running.get(id)! > 1) overlapping++;
      try {
        if (message.offset !== BigInt(HANGING)) return;
        await (starts === 1 ? zombie : second)[message.partition]!.promise;
      } finally {
        running.set(id, running.get(id)! - 1);
      }
    },
  });
  // B: its run of HANGING fails once B aborts it (on close), so the partition goes back unfinished.
  const ranAtB: string[] = [];
  const b = createParallelConsumer({
    kafka: kafka("B"),
    ordering: "key",
    commitIntervalMs: 100,
    drainTimeoutMs: 200,
    handler: async (message: ConsumerMessage, { signal }: HandlerContext) => {
      ranAtB.push(`${message.partition}:${message.offset}`);
      if (message.offset !== BigInt(HANGING)) return;
      await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
      throw signal.reason;
    },
  });
  const errors: Error[] = [];
  a.on("error", (error) => errors.push(error));
  b.on("error", (error) => errors.push(error));

  try {
    await withTimeout("A's start", a.start());
    const above = Array.from({ length: PER_PARTITION - HANGING - 1 }, (_, i) => HANGING + 1 + i);
    await waitForAsync("A's commits at the hanging offset with the map of the rest", async () => {
      const committed = await Promise.all([0, 1].map(committedAt));
      return committed.every(({ offset, map }) => offset === BigInt(HANGING) && map.length === above.length);
    }, 15_000);

    // B joins and takes one partition; A's handler there outlives the 100 ms revoke grace.
    await withTimeout("B's start", b.start());
    await waitFor("B to run the hanging offset of its partition", () => ranAtB.length > 0, 15_000);
    const moved = b.getMetrics().partitions[0]!.partition;
    assert.deepEqual(ranAtB, [`${moved}:${HANGING}`], "B honoured A's offset map");

    // B leaves with its run aborted: the partition goes back to A, whose new ownership runs HANGING again.
    await withTimeout("B's close", b.close());
    await waitFor("A to own the partition again", () => a.getMetrics().partitions.length === PARTITIONS, 15_000);
    // A's fetch of its other partition may be long-polling (the client's maxWaitTime, 5 s): the
    // returned partition joins the next fetch only. A record there ends the wait.
    await produce(topic, [{ key: "wake-up", value: "x", partition: 1 - moved }]);
    await waitFor(
      "A to run the returned partition's hanging offset again",
      () => startsAtA.get(`${moved}:${HANGING}`) === 2,
      15_000,
    );
    const before = a.getMetrics();
    assert.equal(running.get(`${moved}:${HANGING}`), 2, "the old ownership's handler still runs beside the new one");

    // The old ownership's handler finishes now: it must not complete the new ownership's offset.
    zombie[moved]!.open();
    await waitFor("the old handler to return", () => running.get(`${moved}:${HANGING}`) === 1, 5_000);
    await sleep(400); // a few commit intervals
    const after = a.getMetrics();
    const partition = after.partitions.find((p) => p.partition === moved)!;
    assert.equal(after.processedTotal, before.processedTotal, "the old ownership's completion was counted");
    assert.equal(partition.blockingOffset, BigInt(HANGING));
    assert.equal(partition.committedOffset, BigInt(HANGING));
    assert.equal(partition.inFlight, 1);
    assert.equal((await committedAt(moved)).offset, BigInt(HANGING));

    // The new ownership's own run completes it.
    second[moved]!.open();
    await waitForAsync("A to commit the end of the returned partition", async () => {
      return (await committedAt(moved)).offset === BigInt(PER_PARTITION);
    }, 10_000);
    for (const g of zombie) g.open();
    await withTimeout("A's close", a.close());
    assert.deepEqual(await committedOffsets(groupId, topic, PARTITIONS), await endOffsets(topic, PARTITIONS));
    assert.equal(overlapping, 1, "only the returned offset ran twice at once");
    console.log(
      `  p${moved} went A -> B -> A; A ran ${HANGING} there twice, the old run's late completion was ignored`,
    );
    // Commits failing at the rebalance are shown by rebalance-commits.test.ts; nothing else may fail.
    const unexpected = errors.filter((error) => !/offset commit failed/.test(error.message));
    assert.deepEqual(unexpected.map((error) => error.message), []);
  } finally {
    for (const g of [...zombie, ...second]) g.open();
    await Promise.allSettled([a.close(), b.close()]);
  }
});
