// Members join and leave a group while a producer writes: nothing is lost, per-key order holds
// within each member, and duplicates stay within what was at risk at each membership change.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type ConsumerMessage, createParallelConsumer, MessageFailedError, type ParallelConsumer } from "../../mod.ts";
import {
  BROKERS,
  committedOffsets,
  createTopic,
  endOffsets,
  openProducer,
  sleep,
  uniqueName,
  waitFor,
  withTimeout,
} from "../support/kafka.ts";

const decoder = new TextDecoder();
const PARTITIONS = 6;
const KEYS = 60;
const MESSAGES = 6000;
const BATCH = 100;
const BATCH_PAUSE_MS = 60;
const COMMIT_INTERVAL_MS = 200;

interface Member {
  readonly name: string;
  readonly consumer: ParallelConsumer;
  readonly errors: Error[];
  /** Keys whose handler runs now. */
  readonly running: Set<string>;
  /** Last offset started per key. */
  readonly lastOffset: Map<string, number>;
  /** performance.now() of each completion. */
  readonly completedAt: number[];
  /** "partition:offset" of every message started. */
  readonly started: Set<string>;
  /** Messages this member ran again, below its earlier progress on their key. */
  readonly reruns: string[];
}

/** A membership change and what was at risk of running twice at that moment. */
interface Change {
  readonly what: string;
  readonly at: number;
  readonly inFlight: Record<string, number>;
  readonly inFlightTotal: number;
  /** Completions of all members within the last commit interval before the change. */
  readonly recentlyCompleted: number;
}

test("members join and leave during production: nothing lost, per-key order per member, duplicates bounded", async () => {
  const topic = uniqueName("rebalance");
  const groupId = uniqueName("group");
  await createTopic(topic, PARTITIONS);

  /** Times each "partition:offset" ran, in order: the member names. */
  const runs = new Map<string, string[]>();
  const violations: string[] = [];
  const members = new Map<string, Member>();
  const changes: Change[] = [];
  /** performance.now() of each run after the first of its message. */
  const duplicateAt: number[] = [];

  const createMember = (name: string): Member => {
    const member: Member = {
      name,
      errors: [],
      running: new Set(),
      lastOffset: new Map(),
      completedAt: [],
      started: new Set(),
      reruns: [],
      consumer: createParallelConsumer({
        kafka: {
          bootstrapBrokers: BROKERS,
          groupId,
          topics: [topic],
          clientId: `it-rebalance-${name}`,
          sessionTimeoutMs: 6000,
          heartbeatIntervalMs: 250,
          rebalanceTimeoutMs: 6000,
        },
        ordering: "key",
        maxInFlight: 200,
        engine: { kind: "async", concurrency: 10 },
        commitIntervalMs: COMMIT_INTERVAL_MS,
        handler: async (message: ConsumerMessage) => {
          const key = decoder.decode(message.key!);
          const offset = Number(message.offset);
          const id = `${message.partition}:${offset}`;
          if (member.running.has(key)) {
            violations.push(`${name}: key ${key} ran twice at once (p${message.partition}@${offset})`);
          }
          const last = member.lastOffset.get(key);
          if (last !== undefined && offset <= last) {
            // A lower offset this member never ran before: the key ran out of order. One it ran
            // before: the partition came back to it from a commit below its earlier progress.
            if (member.started.has(id)) member.reruns.push(`${key} p${message.partition}@${offset} after @${last}`);
            else violations.push(`${name}: key ${key} p${message.partition}@${offset} started after @${last}`);
          }
          member.lastOffset.set(key, offset);
          member.started.add(id);
          member.running.add(key);
          await sleep(5 + Math.random() * 10);
          member.running.delete(key);
          const list = runs.get(id);
          const now = performance.now();
          if (list) {
            list.push(name);
            duplicateAt.push(now);
          } else {
            runs.set(id, [name]);
          }
          member.completedAt.push(now);
        },
      }),
    };
    member.consumer.on("error", (error) => member.errors.push(error));
    members.set(name, member);
    return member;
  };

  const change = async (what: string, action: () => Promise<void>): Promise<void> => {
    const at = performance.now();
    const inFlight: Record<string, number> = {};
    let recentlyCompleted = 0;
    for (const member of members.values()) {
      inFlight[member.name] = member.consumer.getMetrics().totalInFlight;
      recentlyCompleted += member.completedAt.filter((time) => time > at - COMMIT_INTERVAL_MS).length;
    }
    const inFlightTotal = Object.values(inFlight).reduce((sum, n) => sum + n, 0);
    changes.push({ what, at, inFlight, inFlightTotal, recentlyCompleted });
    await withTimeout(what, action(), 20_000);
  };
  const owned = (member: Member): number => member.consumer.getMetrics().partitions.length;

  // The producer writes throughout: MESSAGES over KEYS keys, in batches with pauses.
  const producer = openProducer();
  let produced = 0;
  const production = (async () => {
    try {
      for (let start = 0; start < MESSAGES; start += BATCH) {
        await producer.send(
          topic,
          Array.from({ length: BATCH }, (_, i) => {
            const seq = start + i;
            return { key: `key-${seq % KEYS}`, value: JSON.stringify({ seq }) };
          }),
        );
        produced += BATCH;
        await sleep(BATCH_PAUSE_MS);
      }
    } finally {
      await producer.close();
    }
  })();
  const started = performance.now();

  try {
    const a = createMember("A");
    await change("start A", () => a.consumer.start());
    await waitFor("1,000 messages processed", () => runs.size >= 1000, 30_000);

    const b = createMember("B");
    await change("start B", () => b.consumer.start());
    await waitFor("B to own partitions", () => owned(b) > 0, 15_000);
    await waitFor("2,500 messages processed", () => runs.size >= 2500, 30_000);

    const c = createMember("C");
    await change("start C", () => c.consumer.start());
    await waitFor("C to own partitions", () => owned(c) > 0, 15_000);
    await waitFor("4,000 messages processed", () => runs.size >= 4000, 30_000);

    await change("close B", () => b.consumer.close());
    await waitFor("B's partitions to move to A and C", () => owned(a) + owned(c) === PARTITIONS, 15_000);

    await production;
    await waitFor("every message processed", () => runs.size >= MESSAGES, 30_000);
    await change("close A", () => a.consumer.close());
    await change("close C", () => c.consumer.close());
  } finally {
    await production.catch(() => {});
    await withTimeout(
      "closing every member",
      Promise.allSettled([...members.values()].map((member) => member.consumer.close())),
    );
  }
  const seconds = (performance.now() - started) / 1000;

  // Every produced record ran at least once: on a fresh topic the offsets are 0..end-1.
  const ends = await endOffsets(topic, PARTITIONS);
  assert.equal(produced, MESSAGES);
  assert.equal(ends.reduce((sum, end) => sum + end, 0n), BigInt(MESSAGES));
  const missing: string[] = [];
  for (let partition = 0; partition < PARTITIONS; partition++) {
    for (let offset = 0; offset < Number(ends[partition]); offset++) {
      if (!runs.has(`${partition}:${offset}`)) missing.push(`${partition}:${offset}`);
    }
  }
  assert.deepEqual(missing, [], "messages never processed");
  assert.equal(runs.size, MESSAGES);

  // Duplicates, against what was at risk at each membership change.
  const duplicates = [...runs].filter(([, who]) => who.length > 1);
  const extraRuns = duplicates.reduce((sum, [, who]) => sum + who.length - 1, 0);
  const inFlightAtChanges = changes.reduce((sum, change) => sum + change.inFlightTotal, 0);
  const recentAtChanges = changes.reduce((sum, change) => sum + change.recentlyCompleted, 0);
  const t0 = changes[0]!.at;
  console.log(`  ${MESSAGES} messages in ${seconds.toFixed(1)} s; membership changes:`);
  changes.forEach((change, i) => {
    const next = changes[i + 1]?.at ?? Infinity;
    const after = duplicateAt.filter((time) => time >= change.at && time < next).length;
    console.log(
      `    +${((change.at - t0) / 1000).toFixed(2)} s ${change.what}: in flight ${change.inFlightTotal} ` +
        `${
          JSON.stringify(change.inFlight)
        }, completed in the last ${COMMIT_INTERVAL_MS} ms ${change.recentlyCompleted}; ` +
        `duplicates completed until the next change ${after}`,
    );
  });
  const byMembers = new Map<string, number>();
  for (const [, who] of duplicates) byMembers.set(who.join(">"), (byMembers.get(who.join(">")) ?? 0) + 1);
  console.log(
    `  duplicates: ${extraRuns} extra runs of ${duplicates.length} messages ${
      JSON.stringify(Object.fromEntries(byMembers))
    }; ` +
      `bound: in flight at changes ${inFlightAtChanges} + completed within a commit interval before them ${recentAtChanges} ` +
      `= ${inFlightAtChanges + recentAtChanges}`,
  );
  for (const member of members.values()) {
    if (member.reruns.length > 0) {
      console.log(`  ${member.name} ran again below its earlier progress: ${member.reruns.join(", ")}`);
    }
    const errors = member.errors.map((error) => `${error.message}: ${String(error.cause)}`);
    if (errors.length > 0) console.log(`  ${member.name} errors: ${JSON.stringify(errors)}`);
  }

  assert.deepEqual(violations, [], "per-key order or exclusivity broken within a member");
  for (const member of members.values()) {
    assert.deepEqual(member.errors.filter((error) => error instanceof MessageFailedError), []);
    assert.equal(member.consumer.getMetrics().totalInFlight, 0);
  }
  // The commit at rebalance start covers everything completed: only work in flight moves twice.
  assert.ok(
    extraRuns <= inFlightAtChanges,
    `${extraRuns} duplicate runs exceed the messages in flight at membership changes (${inFlightAtChanges})`,
  );
  assert.deepEqual(await committedOffsets(groupId, topic, PARTITIONS), ends);
});
