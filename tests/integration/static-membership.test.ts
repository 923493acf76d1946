// Static membership (kafka.groupInstanceId) on the broker. A restart under the same instance id takes
// the partitions over where the previous instance committed them. A second consumer started with an
// instance id that a running one holds (a copy-pasted config, a zombie process): under the classic
// protocol the coordinator gives it the running one's place (FENCED_INSTANCE_ID to the first), and
// @platformatic/kafka rejoins on that error, taking the place back: the two fenced each other in
// turn and both ran every partition (3,300–3,500 of 4,000 messages twice). The fenced one now
// stops at once, as Kafka's own clients do, and says why.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createParallelConsumer, type ParallelConsumer } from "../../mod.ts";
import {
  BROKERS,
  committedOffsets,
  createTopic,
  produce,
  sleep,
  uniqueName,
  waitFor,
  waitForAsync,
  withTimeout,
} from "../support/kafka.ts";

const PARTITIONS = 4;
const MESSAGES = 1200;
const HANDLER_MS = 10;

interface Instance {
  readonly consumer: ParallelConsumer;
  readonly errors: Error[];
  /** performance.now() of each handler start. */
  readonly starts: number[];
}

async function setUp(groupProtocol: "classic" | "consumer") {
  const topic = uniqueName(`static-${groupProtocol}`);
  const groupId = uniqueName("group");
  await createTopic(topic, PARTITIONS);
  await produce(
    topic,
    Array.from({ length: MESSAGES }, (_, i) => ({ key: `k${i % 20}`, value: `v${i}`, partition: i % PARTITIONS })),
  );
  /** Handlers run per "partition@offset". */
  const runs = new Map<string, number>();
  const start = (name: string, commitIntervalMs: number): Instance => {
    const starts: number[] = [];
    const errors: Error[] = [];
    const consumer = createParallelConsumer({
      kafka: {
        bootstrapBrokers: BROKERS,
        groupId,
        topics: [topic],
        clientId: `it-static-${name}`,
        groupProtocol,
        groupInstanceId: "instance-1",
        heartbeatIntervalMs: 300,
      },
      handler: async (message) => {
        starts.push(performance.now());
        const id = `${message.partition}@${message.offset}`;
        runs.set(id, (runs.get(id) ?? 0) + 1);
        await sleep(HANDLER_MS);
      },
      commitIntervalMs,
    });
    consumer.on("error", (error) => void errors.push(error));
    return { consumer, errors, starts };
  };
  const allCommitted = () =>
    waitForAsync("every partition committed to its end", async () => {
      const committed = await committedOffsets(groupId, topic, PARTITIONS);
      return committed.reduce((sum, offset) => sum + offset, 0n) === BigInt(MESSAGES);
    }, 60_000);
  return { runs, start, allCommitted };
}

for (const groupProtocol of ["classic", "consumer"] as const) {
  test(`${groupProtocol} protocol: a restart under the same groupInstanceId takes over where the first instance committed: every message once`, async () => {
    const { runs, start, allCommitted } = await setUp(groupProtocol);
    const first = start("first", 100);
    await first.consumer.start();
    await waitFor("some messages handled", () => first.starts.length >= MESSAGES / 4, 30_000);
    await withTimeout("close", first.consumer.close());
    const second = start("second", 100);
    await second.consumer.start();
    try {
      await allCommitted();
      assert.equal(runs.size, MESSAGES, "every message handled");
      assert.deepEqual([...runs].filter(([, count]) => count > 1), [], "none twice");
      assert.ok(second.starts.length > 0 && second.starts.length < MESSAGES, "the second instance took over the rest");
      assert.deepEqual([...first.errors, ...second.errors], []);
    } finally {
      await withTimeout("close", second.consumer.close());
    }
  });
}

// What static membership is for: a member that restarts gets its own partitions back and the others
// keep theirs, untouched. Under the consumer protocol a static member leaves with epoch -2 (its
// partitions wait for it); under the classic one @platformatic/kafka sends LeaveGroup on close()
// whatever the instance id, which rebalances the group twice (docs/rebalancing.md).
test("consumer protocol: a static member's restart gets its partitions back, and the other member's are never touched", async () => {
  const topic = uniqueName("static-restart");
  const groupId = uniqueName("group");
  await createTopic(topic, PARTITIONS);
  const member = (name: string, groupInstanceId: string) =>
    createParallelConsumer({
      kafka: { bootstrapBrokers: BROKERS, groupId, topics: [topic], clientId: `it-${name}`, groupInstanceId },
      handler: () => {},
    });
  const owned = (consumer: ParallelConsumer) => consumer.getMetrics().partitions.map(({ partition }) => partition);
  const other = member("other", "instance-other");
  await other.start();
  let restarting = member("restarting", "instance-restarting");
  await restarting.start();
  try {
    await waitFor("both own partitions", () => owned(other).length > 0 && owned(restarting).length > 0, 30_000);
    await sleep(1_000); // settled
    const before = { other: owned(other), restarting: owned(restarting) };
    const seen = new Set<string>();
    const watch = setInterval(() => void seen.add(owned(other).join(",")), 10);
    try {
      await withTimeout("close", restarting.close());
      // Longer than a few heartbeats (the other member would hear of a reassignment), shorter than
      // the session (6 s on the test broker), for which the group keeps a static member's place.
      await sleep(2_000);
      restarting = member("restarting", "instance-restarting");
      await restarting.start();
      await waitFor("its partitions back", () => owned(restarting).length === before.restarting.length, 30_000);
      await sleep(1_000);
    } finally {
      clearInterval(watch);
    }
    assert.deepEqual([...seen], [before.other.join(",")], "the other member's partitions never changed");
    assert.deepEqual(owned(restarting), before.restarting, "the restarted member got its own back");
  } finally {
    await withTimeout("close", Promise.all([other.close(), restarting.close()]));
  }
});

test("classic protocol: a second consumer under a running one's groupInstanceId takes its place; the first stops at once and says why", async () => {
  const { runs, start, allCommitted } = await setUp("classic");
  // No commit before the replacement: only the heartbeats can tell the first one (the unit tests
  // cover a commit that hears it first).
  const first = start("first", 60_000);
  await first.consumer.start();
  await waitFor("some messages handled", () => first.starts.length >= MESSAGES / 4, 30_000);
  const second = start("second", 100);
  await second.consumer.start();
  try {
    await waitFor("the first one's failure", () => first.errors.length > 0, 10_000);
    const stoppedAt = performance.now();
    assert.match(
      first.errors[0]!.message,
      /another consumer joined the group with this one's kafka\.groupInstanceId "instance-1" and took its place: this consumer stopped/,
    );
    await allCommitted();
    assert.equal(runs.size, MESSAGES, "every message handled");
    assert.deepEqual(first.starts.filter((at) => at > stoppedAt), [], "the first one started nothing after it stopped");
    assert.deepEqual(first.consumer.getMetrics().partitions, [], "the first one owns nothing");
    assert.equal(second.consumer.getMetrics().partitions.length, PARTITIONS, "the second owns every partition");
    assert.deepEqual(second.errors, []);
  } finally {
    await withTimeout("close", Promise.all([first.consumer.close().catch(() => {}), second.consumer.close()]));
  }
});
