// Graceful hand-overs against the real broker: consumer A runs a topic, B joins, then A leaves,
// while a producer writes and slow handlers keep work in flight at every hand-over.
// - Consumer group protocol (KIP-848): a revoked partition is given up only after its running work
//   finished and its progress was committed (the revoke barrier): every message runs exactly once,
//   and a key never runs in both consumers at once.
// - Classic protocol (eager): the same scenario, for comparison; nothing may be lost, and the work
//   that runs twice is printed.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type ConsumerMessage, createParallelConsumer, type ParallelConsumer } from "../../mod.ts";
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
const BATCH = 60;
const BATCH_PAUSE_MS = 100;
/** Per key about 10 messages a second: some 50 handlers run at any time, more with a backlog. */
const HANDLER_MS: [number, number] = [40, 120];

interface Member {
  readonly name: string;
  readonly consumer: ParallelConsumer;
  readonly errors: Error[];
  /** Owned partitions and in-flight count, sampled every 50 ms. */
  readonly samples: { at: number; owned: number; inFlight: number }[];
}

interface Outcome {
  /** Runs per "partition:offset": who completed it, in order. */
  readonly runs: Map<string, string[]>;
  /** A key started in one consumer while it still ran in the other. */
  readonly overlaps: string[];
  /** Same key out of order, or twice at once, within one consumer. */
  readonly violations: string[];
  readonly produced: number;
  readonly ends: bigint[];
  readonly committed: bigint[];
  /** In flight at A (most in the last samples) when it gave partitions up to B, and when it was asked to close. */
  readonly inFlightAtJoin: number;
  readonly inFlightAtClose: number;
  readonly log: string[];
  readonly errors: string[];
}

async function handOver(groupProtocol: "consumer" | "classic"): Promise<Outcome> {
  const topic = uniqueName(`barrier-${groupProtocol}`);
  const groupId = uniqueName("group");
  await createTopic(topic, PARTITIONS);
  const runs = new Map<string, string[]>();
  const overlaps: string[] = [];
  const violations: string[] = [];
  const log: string[] = [];
  /** Per key: how many of its messages each consumer runs now. */
  const runningKey = new Map<string, Map<string, number>>();
  const members: Member[] = [];
  const t0 = performance.now();
  const at = () => `+${((performance.now() - t0) / 1000).toFixed(2)} s`;

  const createMember = (name: string): Member => {
    const lastOffset = new Map<string, number>();
    const member: Member = {
      name,
      errors: [],
      samples: [],
      consumer: createParallelConsumer({
        kafka: {
          bootstrapBrokers: BROKERS,
          groupId,
          topics: [topic],
          clientId: `it-barrier-${name}`,
          groupProtocol,
          // Classic protocol only (the consumer protocol's timing is the broker's).
          sessionTimeoutMs: 6000,
          heartbeatIntervalMs: 250,
          rebalanceTimeoutMs: 30_000,
        },
        ordering: "key",
        maxInFlight: 300,
        engine: { kind: "async", concurrency: 60 },
        commitIntervalMs: 200,
        // Every handler finishes well within the grace.
        maxRevokeGraceMs: 10_000,
        handler: async (message: ConsumerMessage) => {
          const key = decoder.decode(message.key!);
          const offset = Number(message.offset);
          let running = runningKey.get(key);
          if (!running) runningKey.set(key, running = new Map());
          for (const [other, count] of running) {
            if (count === 0) continue;
            if (other !== name) {
              overlaps.push(`${key} p${message.partition}@${offset} started at ${name} while it ran at ${other}`);
            } else violations.push(`${name}: key ${key} ran twice at once (p${message.partition}@${offset})`);
          }
          const last = lastOffset.get(key);
          if (last !== undefined && offset <= last) {
            violations.push(`${name}: key ${key} p${message.partition}@${offset} started after @${last}`);
          }
          lastOffset.set(key, offset);
          running.set(name, (running.get(name) ?? 0) + 1);
          await sleep(HANDLER_MS[0] + Math.random() * (HANDLER_MS[1] - HANDLER_MS[0]));
          running.set(name, running.get(name)! - 1);
          const id = `${message.partition}:${offset}`;
          const list = runs.get(id);
          if (list) list.push(name);
          else runs.set(id, [name]);
        },
      }),
    };
    member.consumer.on("error", (error) => member.errors.push(error));
    members.push(member);
    return member;
  };
  const owned = (member: Member) => member.consumer.getMetrics().partitions.length;
  const sampler = setInterval(() => {
    for (const member of members) {
      const metrics = member.consumer.getMetrics();
      member.samples.push({ at: performance.now(), owned: metrics.partitions.length, inFlight: metrics.totalInFlight });
    }
  }, 50);

  const producer = openProducer();
  let produced = 0;
  let producing = true;
  const production = (async () => {
    try {
      for (let seq = 0; producing; seq += BATCH) {
        await producer.send(
          topic,
          Array.from({ length: BATCH }, (_, i) => ({ key: `key-${(seq + i) % KEYS}`, value: String(seq + i) })),
        );
        produced += BATCH;
        await sleep(BATCH_PAUSE_MS);
      }
    } finally {
      await producer.close();
    }
  })();

  let inFlightAtJoin = 0;
  let inFlightAtClose = 0;
  const a = createMember("A");
  const b = createMember("B");
  try {
    await withTimeout("A's start", a.consumer.start());
    await waitFor("A to run 300 messages", () => runs.size >= 300, 30_000);
    log.push(`${at()} B joins (A in flight ${a.consumer.getMetrics().totalInFlight})`);
    await withTimeout("B's start", b.consumer.start());
    // The consumer protocol hands over at the members' next heartbeats (the broker's interval).
    await waitFor("B to own partitions", () => owned(b) > 0, 30_000);
    log.push(`${at()} B owns ${owned(b)}, A ${owned(a)}`);
    await sleep(1500);
    // Read after the sleep: B may own its partitions within one 50 ms sample of A giving them up.
    inFlightAtJoin = inFlightBeforeDrop(a);
    log.push(`${at()} A had ${inFlightAtJoin} in flight before giving partitions up`);
    inFlightAtClose = Math.max(a.consumer.getMetrics().totalInFlight, ...a.samples.slice(-5).map((s) => s.inFlight));
    log.push(`${at()} A closes (in flight ${inFlightAtClose})`);
    await withTimeout("A's close", a.consumer.close());
    await waitFor("B to own every partition", () => owned(b) === PARTITIONS, 30_000);
    log.push(`${at()} B owns all ${PARTITIONS}`);
    await sleep(1000);
    producing = false;
    await production;
    await waitFor("every message processed", () => runs.size >= produced, 30_000);
    await withTimeout("B's close", b.consumer.close());
  } catch (error) {
    // What happened up to the failure, with the errors the consumers reported.
    const errors = JSON.stringify(memberErrors(members).slice(0, 5));
    throw new Error(`${(error as Error).message}; ${log.join("; ")}; errors: ${errors}`, { cause: error });
  } finally {
    producing = false;
    clearInterval(sampler);
    await production.catch(() => {});
    await Promise.allSettled(members.map((member) => member.consumer.close()));
  }
  const ends = await endOffsets(topic, PARTITIONS);
  return {
    runs,
    overlaps,
    violations,
    produced,
    ends,
    committed: await committedOffsets(groupId, topic, PARTITIONS),
    inFlightAtJoin,
    inFlightAtClose,
    log,
    errors: memberErrors(members),
  };
}

/** The error events of the members, each named after its member. */
function memberErrors(members: readonly Member[]): string[] {
  return members.flatMap((member) =>
    member.errors.map((error) => `${member.name}: ${error.message} (${String(error.cause)})`)
  );
}

/**
 * The most work A had in flight in the half second before it first owned fewer partitions (the
 * revocation and its barrier happened then); -1 when it never did.
 */
function inFlightBeforeDrop(member: Member): number {
  const drop = member.samples.findIndex((sample, i) => i > 0 && sample.owned < member.samples[i - 1]!.owned);
  if (drop <= 0) return -1;
  const until = member.samples[drop]!.at;
  return Math.max(...member.samples.slice(0, drop).filter((s) => s.at > until - 500).map((s) => s.inFlight));
}

/** Offsets of the log never processed, and messages processed more than once. */
function tally({ runs, ends }: Outcome): { missing: string[]; twice: [string, string[]][]; extraRuns: number } {
  const missing: string[] = [];
  for (let partition = 0; partition < PARTITIONS; partition++) {
    for (let offset = 0; offset < Number(ends[partition]); offset++) {
      if (!runs.has(`${partition}:${offset}`)) missing.push(`${partition}:${offset}`);
    }
  }
  const twice = [...runs].filter(([, who]) => who.length > 1);
  return { missing, twice, extraRuns: twice.reduce((sum, [, who]) => sum + who.length - 1, 0) };
}

function report(name: string, outcome: Outcome, extraRuns: number): void {
  console.log(
    `  ${name}: ${outcome.produced} messages; ${outcome.log.join("; ")}\n` +
      `  ${name}: ${extraRuns} messages ran twice, ${outcome.overlaps.length} same-key overlaps across the consumers` +
      (outcome.overlaps.length > 0 ? ` (first: ${outcome.overlaps[0]})` : "") +
      (outcome.errors.length > 0 ? `\n  ${name} errors: ${JSON.stringify(outcome.errors.slice(0, 5))}` : ""),
  );
}

test("consumer protocol: B joins, then A leaves, with work in flight: every message runs exactly once, no key in both consumers at once", async () => {
  const outcome = await handOver("consumer");
  const { missing, twice, extraRuns } = tally(outcome);
  report("consumer protocol", outcome, extraRuns);
  assert.ok(outcome.inFlightAtJoin > 0, `work was in flight when A gave partitions to B (${outcome.inFlightAtJoin})`);
  assert.ok(outcome.inFlightAtClose > 0, "work was in flight when A closed");
  assert.equal(outcome.ends.reduce((sum, end) => sum + end, 0n), BigInt(outcome.produced));
  assert.deepEqual(missing, [], "messages never processed");
  assert.deepEqual(twice.slice(0, 10), [], "messages processed twice");
  assert.deepEqual(outcome.overlaps.slice(0, 10), [], "a key ran in both consumers at once");
  assert.deepEqual(outcome.violations, [], "per-key order or exclusivity broken within a consumer");
  assert.deepEqual(outcome.errors, [], "error events");
  assert.deepEqual(outcome.committed, outcome.ends);
});

test("classic protocol: the same hand-overs lose nothing (work in flight at a hand-over may run twice)", async () => {
  const outcome = await handOver("classic");
  const { missing, extraRuns } = tally(outcome);
  report("classic protocol", outcome, extraRuns);
  assert.equal(outcome.ends.reduce((sum, end) => sum + end, 0n), BigInt(outcome.produced));
  assert.deepEqual(missing, [], "messages never processed");
  assert.deepEqual(outcome.violations, [], "per-key order or exclusivity broken within a consumer");
  assert.deepEqual(outcome.committed, outcome.ends);
});
