// One seeded run: a fake cluster with generated content, one to three consumers (the real
// adapter, control plane and engines) with generated options and handlers, faults at random
// virtual times, then a clean member that drains what is left. The checker watches throughout.
import { headerValue } from "../support/headers.ts";
import type { ConsumerMessage, ParallelConsumerOptions } from "../../mod.ts";
import type { Timer } from "../../src/core/clock.ts";
import type { GroupAssignment, KafkaClient } from "../../src/adapters/group/kafka-client.ts";
import type { OutgoingRecord } from "../../src/core/ports/kafka-adapter.ts";
import { DEFAULTS } from "../../src/config/defaults.ts";
import { resolveOptions } from "../../src/config/options.ts";
import { composeConsumer, type ParallelConsumer } from "../../src/consumer.ts";
import { DEAD_LETTER_HEADERS } from "../../src/core/dead-letter.ts";
import type { Attempt } from "../../src/core/attempt.ts";
import { MessageFailedError, WorkerCrashedError } from "../../src/core/errors.ts";
import { type AttemptEnded, NotStartedError } from "../../src/core/ports/execution-engine.ts";
import { type Call, Checker } from "./checker.ts";
import { contentProfile, ContentWriter } from "./content.ts";
import { type FakeClient, FakeCluster } from "./fake-cluster.ts";
import { fakeSpawn } from "./fake-worker-thread.ts";
import { cleanHandler, handlerProfile, simulatedHandler } from "./handlers.ts";
import { Random } from "./random.ts";
import { pausingHandler, StartLimits, throttleVariant } from "./throttling.ts";
import { batchVariant, executeObservedBatch, simulatedBatchHandler } from "./batching.ts";
import { flushMicrotasks, VirtualClock } from "./virtual-clock.ts";

/** What one run found. */
export interface SimulationResult {
  readonly seed: number;
  readonly violations: readonly string[];
  /** One line describing the run's shape. */
  readonly description: string;
  readonly stats: {
    readonly virtualMs: number;
    readonly steps: number;
    readonly calls: number;
    readonly commits: number;
    /** Consumer protocol: partitions given up through the revoke barrier and checked for their last commit. */
    readonly handovers: number;
  };
  readonly trace?: readonly string[];
}

export interface SimulationOptions {
  /** Keep the cluster's event trace (for replaying one failing seed). */
  readonly trace?: boolean;
}

/** Salt of the stream of worker-thread holds: not the main stream of the seed. */
const HOLD_STREAM = 0x401d5;
/** The seed's stream for larger per-partition fetches (the default, 64 KiB, and 1 MiB). */
const FETCH_SIZE_STREAM = 0x5ed64;
/** The seed's stream for join answers that come after the assignment (classic protocol). */
const JOIN_ANSWER_STREAM = 0x10a7e;
/** The seed's stream for a topic that gains partitions while the group runs. */
const GROWTH_STREAM = 0x96e7;
/** The seed's stream for how often classic members read the partition counts again. */
const METADATA_AGE_STREAM = 0x3e7a6;
/** The seed's stream for a subscribed topic deleted while the group runs (and maybe created again). */
const DELETION_STREAM = 0xde1e7;
/** How often the driver looks whether a deleted topic may be created again. */
const RECREATE_POLL_MS = 10;
const decoder = new TextDecoder();
/** Virtual time the drain member gets to reach the end of every partition. */
const DRAIN_DEADLINE_MS = 300_000;

interface Member {
  readonly name: string;
  readonly client: FakeClient;
  readonly consumer: ParallelConsumer;
  /** The drain member, with default limits. */
  readonly clean: boolean;
  started: boolean;
  closing: Promise<void> | undefined;
  closed: boolean;
}

/**
 * Half the seeds that picked 16 KiB per partition fetch the default (64 KiB) or 1 MiB instead: one
 * response then brings a whole small partition, and a partition's buffer overshoots its limit by a
 * whole response. From the seed's own stream, so every other pick stays as it was.
 */
function largerFetches(seed: number, picked: number): number {
  const sizes = Random.stream(seed, FETCH_SIZE_STREAM);
  if (picked !== 16 * 1024 || !sizes.chance(0.5)) return picked;
  return sizes.pick([DEFAULTS.kafka.fetchMaxBytesPerPartition, 1024 * 1024]);
}

export async function simulate(seed: number, options: SimulationOptions = {}): Promise<SimulationResult> {
  const random = new Random(seed);
  const time = new VirtualClock();
  time.debug = options.trace ?? false;
  const driver = time.clock("driver");
  const nodes = random.pick([1, 1, 2, 3]);
  const topics = Array.from(
    { length: random.chance(0.2) ? 2 : 1 },
    (_, i) => ({ name: `t${i}`, partitions: random.int(1, 4) }),
  );
  const maxCommitMetadataBytes = random.pick([4096, 4096, 256, 64]);
  // Both protocols: the consumer protocol's revoke barrier, and the classic eager rebalance.
  const groupProtocol = random.chance(0.5) ? "consumer" as const : "classic" as const;
  // In a third of the classic seeds the join answers 5–80 ms after the assignment: the first fetch
  // can land before start() resolves (a consumer that buffered it must still run it).
  const joinAnswerMs = groupProtocol === "classic" && Random.stream(seed, JOIN_ANSWER_STREAM).chance(0.35)
    ? [5, 80] as const
    : undefined;
  const cluster = new FakeCluster({
    clock: time,
    seed: random.fork(),
    ...(joinAnswerMs ? { joinAnswerMs } : {}),
    nodes,
    offsetMetadataMaxBytes: maxCommitMetadataBytes,
    groupProtocol,
    // Now and then a rebalance timeout shorter than a slow revocation: the member is fenced mid-barrier.
    rebalanceTimeoutMs: random.chance(0.15) ? random.int(20, 500) : 60_000,
    sessionTimeoutMs: random.int(200, 1000),
    trace: options.trace ?? false,
  });
  const startOffset = random.chance(0.1) ? BigInt(random.int(1, 2 ** 40)) : 0n;
  for (const { name, partitions } of topics) cluster.createTopic(name, partitions, { startOffset });

  // ---- content: written before the group starts, then while it runs ----
  const writer = new ContentWriter(cluster, random.fork(), contentProfile(random), topics);
  writer.write(random.pick([0, 20, 200, 600]));
  writer.settle(false);
  if (random.chance(0.2)) compactSome(cluster, random, topics);
  if (random.chance(0.15)) truncateSome(cluster, random, topics);

  // ---- the consumers' options ----
  const ordering = random.pick(["key", "key", "partition", "unordered"] as const);
  const isolationLevel = random.chance(0.85) ? "read_committed" as const : "read_uncommitted" as const;
  const failurePolicy = random.weighted([[4, "skip"], [4, "deadLetter"], [1, "stop"]] as const);
  const worker = random.chance(0.25);
  const base: Omit<ParallelConsumerOptions, "kafka" | "handler"> & { maxInFlightBytes: number } = {
    ordering,
    maxInFlight: random.pick([1, 5, 50, 500]),
    maxInFlightBytes: random.pick([64 * 1024 * 1024, 1024 * 1024, 10_000]),
    maxUncommittedOffsets: random.pick([100_000, 300, 40]),
    maxCommitMetadataBytes,
    commitIntervalMs: random.pick([5, 50, 500]),
    retry: { maxRetries: random.int(0, 3), initialBackoffMs: random.pick([0, 5, 50]), maxBackoffMs: 200 },
    failurePolicy,
    ...(failurePolicy === "deadLetter" ? { deadLetter: {} } : {}),
    ...(ordering === "key" && random.chance(0.2)
      ? { poisonKey: { maxFailures: random.int(1, 3), cooldownMs: random.int(20, 500) } }
      : {}),
    ...(random.chance(0.2) ? { maxBlockingMs: random.int(5, 300) } : {}),
    ...(random.chance(0.2) ? { handlerTimeoutMs: random.int(5, 300) } : {}),
    drainTimeoutMs: random.pick([0, 50, 1000]),
    maxRevokeGraceMs: random.pick([0, 50, 1000]),
    stallThresholdMs: 1000,
    logger: { warn: () => {} },
    engine: worker
      ? {
        kind: "worker",
        module: "file:///simulated-worker.ts",
        workers: random.int(1, 2),
        concurrencyPerWorker: random.int(1, 4),
        ...(random.chance(0.2) ? { recycleAfterTasks: random.int(1, 20) } : {}),
      }
      : { kind: "async", concurrency: random.pick([1, 4, 32]) },
  };
  // Derived, not picked, so every earlier seed keeps its scenario: tight buffers in a third of them.
  base.maxBufferedBytes = base.maxInFlightBytes === 10_000 ? 2_000 : DEFAULTS.maxBufferedBytes;
  // Throttling comes from the seed's own stream (throttling.ts), so the picks above stay as they were.
  const throttling = throttleVariant(seed);
  // Batch handlers, from the seed's own stream too (batching.ts).
  const batch = batchVariant(seed).batch;
  // Handlers whose synchronous code holds a worker's thread (the engine moves that worker's queued
  // messages to the other worker), in a third of the seeds with one handler per worker, from the
  // seed's own stream too.
  const holds = Random.stream(seed, HOLD_STREAM);
  const oneAtATime = base.engine?.kind === "worker" && base.engine.concurrencyPerWorker === 1;
  const holdChance = oneAtATime && holds.chance(0.35) ? holds.pick([0.02, 0.1, 0.3]) : 0;
  if (throttling.rateLimit) base.rateLimit = throttling.rateLimit;

  const startFrom = random.chance(0.8) ? "earliest" as const : "latest" as const;
  const kafka = {
    bootstrapBrokers: ["simulated:9092"],
    groupId: cluster.groupId,
    groupProtocol,
    topics: topics.map(({ name }) => name),
    startFrom,
    isolationLevel,
    fetchMaxWaitMs: random.pick([10, 100, 500]),
    fetchMaxBytes: random.pick([1024 * 1024, 2000]),
    fetchMaxBytesPerPartition: largerFetches(seed, random.pick([16 * 1024, 500])),
    // Classic members read the partition counts again this often (a topic may grow mid-run).
    metadataMaxAgeMs: Random.stream(seed, METADATA_AGE_STREAM).pick([100, 1000, DEFAULTS.kafka.metadataMaxAgeMs]),
  };
  const checker = new Checker(cluster, {
    groupProtocol,
    ordering,
    isolationLevel,
    startFrom,
    maxInFlight: base.maxInFlight!,
    maxUncommittedOffsets: base.maxUncommittedOffsets!,
    maxCommitMetadataBytes,
    fetchMaxBytesPerPartition: kafka.fetchMaxBytesPerPartition,
    maxBufferedBytes: base.maxBufferedBytes!,
  }, () => time.now);
  // Index the log as written so far: retention may delete records a member already fetched.
  checker.index();
  const profile = handlerProfile(random);
  const handlerRandom = random.fork();
  const handlerClock = time.clock("handler");

  // ---- unhandled rejections anywhere in the run are violations ----
  const unhandled = (reason: unknown) => checker.fail(`unhandled rejection: ${describe(reason)}`);
  const stopWatching = watchUnhandled(unhandled);

  const members: Member[] = [];
  /** The subscribed topics the cluster has now (all of them when it has none: nothing to do then). */
  const presentTopics = (): string[] => {
    const present = kafka.topics.filter((topic) => cluster.has(topic, 0));
    return present.length > 0 ? present : kafka.topics;
  };
  const addMember = (name: string, clean: boolean): Member => {
    const client = cluster.client(name);
    const memberClock = time.clock(name);
    const limits = clean ? undefined : new StartLimits(base.rateLimit, () => time.now, (text) => checker.fail(text));
    const handler = clean
      ? cleanHandler(name, handlerClock, checker)
      : pausingHandler(throttling, simulatedHandler(name, handlerClock, handlerRandom, profile, checker), (ms) =>
        limits!.paused(ms));
    const batchOptions = (): Pick<ParallelConsumerOptions, "batchHandler" | "batch"> => ({
      batchHandler: pausingHandler(
        throttling,
        simulatedBatchHandler(name, handlerClock, handlerRandom, profile, checker),
        (ms) => limits!.paused(ms),
      ) as never,
      batch,
    });
    const memberOptions: ParallelConsumerOptions = clean
      ? {
        kafka: { ...kafka, topics: presentTopics(), startFrom: "earliest" },
        ordering,
        commitIntervalMs: 20,
        maxCommitMetadataBytes,
        logger: { warn: () => {} },
        handler: handler as ParallelConsumerOptions["handler"],
      }
      : {
        ...base,
        kafka,
        ...(worker
          ? (batch ? { batch } : {})
          : batch
          ? batchOptions()
          : { handler: handler as ParallelConsumerOptions["handler"] }),
      };
    const dispatchedBatches = new WeakSet<readonly ConsumerMessage[]>();
    /** What the checker learns of a message handed to the engine (alone or in a chain), before it runs. */
    const dispatched = (message: ConsumerMessage): string => {
      checker.dispatched(name, message);
      limits?.started(name, message);
      return checker.ownership(name, message);
    };
    /** What the checker learns of the attempt's end, before the control plane does. */
    const observe = (
      message: ConsumerMessage,
      ownership: string,
      attempt: Attempt,
      failed: boolean,
      error: unknown,
    ) => {
      // What the control plane takes as done: a success it did not give up on first.
      if (!failed) {
        if (!attempt.aborted) checker.succeeded(name, message, ownership);
        return;
      }
      if (error instanceof WorkerCrashedError) checker.crashReported(name, message, attempt.attempt);
      if (error instanceof NotStartedError) checker.returned(name, message);
    };
    const threads = random.fork();
    const jitter = random.fork();
    const consumer = composeConsumer(resolveOptions(memberOptions), {
      clock: memberClock,
      random: () => jitter.next(),
      wrapEngine: (engine) => ({
        get idleSlots() {
          return engine.idleSlots;
        },
        start: () => engine.start(),
        get runsBatches() {
          return engine.runsBatches;
        },
        executeBatch: <A extends Attempt>(messages: readonly ConsumerMessage[], attempt: A, ended: AttemptEnded<A>) =>
          executeObservedBatch(engine, name, checker, dispatchedBatches, messages, attempt, ended, limits),
        execute: <A extends Attempt>(message: ConsumerMessage, attempt: A, ended: AttemptEnded<A>) => {
          const ownership = dispatched(message);
          engine.execute(message, attempt, (attempt, failed, error) => {
            observe(message, ownership, attempt, failed, error);
            ended(attempt, failed, error);
          });
        },
        ...(engine.executeChain === undefined ? {} : {
          executeChain: <A extends Attempt>(
            messages: readonly ConsumerMessage[],
            attempts: readonly A[],
            ended: AttemptEnded<A>,
          ) => {
            const ownerships = messages.map(dispatched);
            engine.executeChain!(messages, attempts, (attempt, failed, error) => {
              const i = attempts.indexOf(attempt);
              observe(messages[i]!, ownerships[i]!, attempt, failed, error);
              ended(attempt, failed, error);
            });
          },
        }),
        close: () => engine.close(),
      }),
      client: instrument(client, name, checker),
      ...(worker && !clean
        ? {
          spawnWorker: fakeSpawn(time.clock(`${name}:threads`), ({ start }) => {
            // A thread takes its running handlers with it when it stops.
            const calls: Call[] = [];
            const handle = simulatedHandler(name, handlerClock, handlerRandom, profile, checker, (call) =>
              calls.push(call));
            return {
              loadMs: threads.int(0, 20),
              loads: !(start === 0 && threads.chance(0.03)),
              // A worker's pause reaches the consumer a message later: only the async engine's are checked at once.
              handle: pausingHandler(throttling, handle) as never,
              ...(batch
                ? {
                  handleBatch: simulatedBatchHandler(name, handlerClock, handlerRandom, profile, checker, (call) =>
                    calls.push(call)),
                }
                : {}),
              crashAfterMs: () => (threads.chance(0.02) ? threads.int(0, 50) : undefined),
              holdsThreadMs: () => (holdChance > 0 && holds.chance(holdChance) ? holds.int(1, 80) : undefined),
              stopped: () => {
                for (const call of calls) {
                  call.ended = true;
                }
              },
            };
          }),
        }
        : {}),
    });
    consumer.on("error", (error) => {
      if (error instanceof MessageFailedError && !clean) {
        if (failurePolicy === "skip") checker.finished(error);
        checker.messageFailed(name, error, base.poisonKey?.cooldownMs);
        if (failurePolicy === "deadLetter") checker.deadLettering(name, error);
      }
      if (["TypeError", "RangeError", "ReferenceError", "SyntaxError"].includes(error.name)) {
        checker.fail(`${name} emitted a programming error: ${describe(error)}`);
      }
    });
    const member: Member = { name, client, consumer, clean, started: false, closing: undefined, closed: false };
    members.push(member);
    return member;
  };
  const start = (member: Member) => {
    if (member.closed) return; // the chaos phase ended before its start time
    member.started = true;
    member.consumer.start().catch((error: unknown) => expectedFailure(checker, member.name, "start", error));
  };
  const close = (member: Member) => {
    member.closing ??= member.consumer.close().catch((error: unknown) =>
      expectedFailure(checker, member.name, "close", error)
    )
      .finally(() => (member.closed = true));
    return member.closing;
  };

  // ---- the chaos phase ----
  const chaosMs = random.pick([300, 1500, 5000]);
  const memberCount = random.int(1, 3);
  for (let i = 0; i < memberCount; i++) {
    const member = addMember(`m${i}`, false);
    const startAt = i === 0 ? 0 : random.int(0, chaosMs / 2);
    driver.setTimeout(() => start(member), startAt);
    if (random.chance(0.3)) {
      const closeAt = startAt + random.pick([0, 1, random.int(0, chaosMs)]);
      driver.setTimeout(() => void close(member), closeAt);
      if (random.chance(0.5)) {
        const replacement = addMember(`m${i}r`, false);
        driver.setTimeout(() => start(replacement), closeAt + random.int(0, chaosMs / 2));
      }
    }
  }
  scheduleFaults(cluster, random, driver, chaosMs, topics, memberCount, nodes, startFrom);
  const writes = random.pick([0, 5, 50]);
  for (let i = 0; i < writes; i++) driver.setTimeout(() => writer.write(random.int(1, 20)), random.int(0, chaosMs));
  // In a seventh of the seeds a topic gains partitions mid-run, and writes go to them too (from the
  // seed's own stream: no other pick moves).
  const growth = Random.stream(seed, GROWTH_STREAM);
  const grown = growth.chance(0.15)
    ? { topic: growth.pick(topics).name, added: growth.int(1, 2), at: growth.int(0, chaosMs), skipped: false }
    : undefined;
  if (grown !== undefined) {
    driver.setTimeout(() => {
      // Deleted meanwhile (and not created again): nothing to grow.
      if (!cluster.has(grown.topic, 0)) return void (grown.skipped = true);
      cluster.addPartitions(grown.topic, grown.added);
      const partitions = cluster.topics().find((t) => t.name === grown.topic)!.partitions;
      writer.grew(grown.topic, partitions);
      writer.write(growth.int(1, 40));
    }, grown.at);
  }

  // In an eighth of the seeds a subscribed topic is deleted mid-run, and in most of those created
  // again (new empty logs, maybe another partition count) and written to. From the seed's own
  // stream: no other pick moves.
  const deletion = Random.stream(seed, DELETION_STREAM);
  const deleted = deletion.chance(0.125)
    ? {
      topic: deletion.pick(topics).name,
      at: deletion.int(0, chaosMs),
      again: deletion.chance(0.6)
        ? { partitions: deletion.int(1, 4), afterMs: deletion.int(1, chaosMs), records: deletion.int(1, 40) }
        : undefined,
      /** Whether the deletion happened (it is due within the chaos phase). */
      happened: false,
      recreatedAt: undefined as number | undefined,
    }
    : undefined;
  let recreation: Timer | undefined;
  const recreate = () => {
    if (deleted?.again === undefined) return;
    const { topic, again } = deleted;
    driver.clearTimeout(recreation);
    cluster.createTopic(topic, again.partitions);
    checker.recreated(topic);
    writer.grew(topic, again.partitions);
    writer.write(again.records, topic);
    deleted.recreatedAt = time.now;
  };
  /**
   * Kafka tells a topic created again from the old one by its id; our port (and so the checker)
   * knows names only. So, as in the integration test, it comes back once nothing of the old one
   * is left: the group gives none of its partitions to anyone, no member holds one or is still
   * giving one up (a release's commit retries are over), no handler of it runs, no dead letter of
   * it is being sent.
   */
  const oldTopicGone = (topic: string) =>
    !cluster.assigns(topic) &&
    checker.settled(topic) &&
    members.every((member) =>
      !member.started || member.closed || member.consumer.getMetrics().partitions.every((p) => p.topic !== topic)
    );
  if (deleted !== undefined) {
    driver.setTimeout(() => {
      cluster.deleteTopic(deleted.topic);
      writer.deleted(deleted.topic);
      checker.deleted(deleted.topic);
      deleted.happened = true;
      if (deleted.again === undefined) return;
      const poll = () => {
        if (oldTopicGone(deleted.topic)) recreate();
        else recreation = driver.setTimeout(poll, RECREATE_POLL_MS);
      };
      recreation = driver.setTimeout(poll, deleted.again.afterMs);
    }, deleted.at);
  }

  const checkBounds = () => {
    checker.index();
    for (const member of members) {
      if (!member.started || member.closed) continue;
      checker.bounds(
        member.name,
        member.clean ? DEFAULTS : undefined,
        member.consumer.getMetrics(),
      );
    }
  };
  await runFor(time, chaosMs, checkBounds, checker);

  // ---- quiesce: every chaos member closes; nothing of theirs may be left running ----
  for (const member of members) if (!member.started) member.closed = true;
  const closing = members.filter((member) => member.started).map((member) => close(member));
  await runUntil(time, () => members.every((member) => member.closed), time.now + 600_000, checkBounds, checker);
  if (checker.ok && !members.every((member) => member.closed)) {
    checker.fail("close() did not finish within 600 s of virtual time");
  }
  await Promise.race([Promise.all(closing), flushMicrotasks()]);
  if (checker.ok) { for (const member of members) checkReleased(checker, time, member); }
  // Every chaos member is gone: a deleted topic still to be created again may come back now.
  if (deleted?.happened && deleted.recreatedAt === undefined) recreate();
  writer.settle(true);

  // ---- drain: a clean member must finish everything and commit to the end ----
  if (checker.ok) {
    const drain = addMember("drain", true);
    start(drain);
    const done = () =>
      checker.ok &&
      // Every partition now, those a topic gained included.
      cluster.topics().filter(({ name }) => !name.endsWith(".dlq")).every(({ name, partitions }) =>
        Array.from({ length: partitions }, (_, p) => p).every((p) => {
          const log = cluster.log(name, p);
          const end = isolationLevel === "read_committed" ? log.lastStableOffset : log.highWatermark;
          return (cluster.committedOffset(name, p)?.offset ?? -1n) >= end;
        })
      );
    await runUntil(time, done, time.now + DRAIN_DEADLINE_MS, checkBounds, checker);
    if (!done() && options.trace) {
      const metrics = drain.consumer.getMetrics();
      console.log(
        `drain member when its time ran out: ${
          JSON.stringify({ ...metrics, handlerSeconds: undefined, fetchToCompletionSeconds: undefined }, (_k, v) =>
            typeof v === "bigint" ? String(v) : v)
        }`,
      );
    }
    void close(drain);
    await runUntil(time, () => drain.closed, time.now + 60_000, checkBounds, checker);
    if (checker.ok) checkReleased(checker, time, drain);
    if (checker.ok) checker.complete();
  }
  if (cluster.producedAfterClose > 0) checker.fail(`${cluster.producedAfterClose} produce call(s) after close()`);
  for (const foreign of cluster.foreignCommits) {
    checker.fail(`commit of a partition the member did not own: ${foreign}`);
  }
  stopWatching();
  return {
    seed,
    violations: checker.violations,
    description:
      `${groupProtocol} protocol, ${nodes} node(s), ${topics.map((t) => `${t.name}×${t.partitions}`).join(" ")}, ` +
      `${memberCount} member(s), ` +
      `${ordering}, ${isolationLevel}, ${failurePolicy}, ${worker ? "worker" : "async"} engine, chaos ${chaosMs} ms` +
      (base.rateLimit ? `, rateLimit ${JSON.stringify(base.rateLimit)}` : "") +
      (throttling.pauseChance > 0 ? `, handler pauses (${throttling.pauseChance})` : "") +
      (batch ? `, batch handler ${JSON.stringify(batch)}` : "") +
      (holdChance > 0 ? `, handlers hold their thread (${holdChance})` : "") +
      (kafka.fetchMaxBytesPerPartition > 16 * 1024
        ? `, ${kafka.fetchMaxBytesPerPartition} B per partition fetch`
        : "") +
      (joinAnswerMs ? `, join answered ${joinAnswerMs[0]}–${joinAnswerMs[1]} ms after the assignment` : "") +
      (grown
        ? `, ${grown.topic} gains ${grown.added} partition(s) at ${grown.at} ms${
          grown.skipped ? " (skipped: deleted)" : ""
        }`
        : "") +
      (deleted ? `, ${deleted.topic} deleted at ${deleted.at} ms${describeRecreation(deleted)}` : ""),
    stats: {
      virtualMs: time.now,
      steps: time.fired,
      calls: checker.calls,
      commits: checker.commitsChecked,
      handovers: checker.handovers,
    },
    ...(options.trace ? { trace: cluster.trace } : {}),
  };
}

/** Steps virtual time for `ms`, checking the bounds after every step. */
async function runFor(time: VirtualClock, ms: number, check: () => void, checker: Checker): Promise<void> {
  await runUntil(time, () => false, time.now + ms, check, checker);
}

async function runUntil(
  time: VirtualClock,
  until: () => boolean,
  deadline: number,
  check: () => void,
  checker: Checker,
): Promise<void> {
  while (!until() && checker.ok) {
    let next = time.nextAt;
    if (next === undefined || next > deadline) {
      await flushMicrotasks();
      next = time.nextAt;
      if (until() || next === undefined || next > deadline) return;
    }
    await time.step();
    check();
  }
}

/**
 * Wraps the member's client so the checker sees its assignments, revoke barriers, lost partitions,
 * commits and dead letters.
 */
function instrument(client: FakeClient, name: string, checker: Checker): KafkaClient {
  const join = client.join.bind(client);
  const commit = client.commit.bind(client);
  const produce = client.produce.bind(client);
  let previous: GroupAssignment | undefined;
  return {
    join: (topics, events) =>
      join(topics, {
        joined: (assignment) => {
          // The group adapter's rule: the consumer protocol reports a break itself (`lost`).
          const continuous = previous !== undefined && previous.memberId === assignment.memberId &&
            (assignment.protocol === "consumer" || assignment.generation === previous.generation + 1);
          if (!continuous) checker.newEpoch(name);
          else {
            const owned = new Set(previous!.partitions.map((p) => `${p.topic}:${p.partition}`));
            checker.newEpoch(name, assignment.partitions.filter((p) => !owned.has(`${p.topic}:${p.partition}`)));
          }
          previous = assignment;
          events.joined(assignment);
        },
        revoking: async (partitions) => {
          checker.releasing(name, partitions);
          await events.revoking(partitions);
          checker.released(name, partitions);
        },
        lost: () => {
          previous = undefined;
          checker.lost(name);
          events.lost();
        },
        rebalancing: () => events.rebalancing(),
        failed: (error) => {
          checker.lost(name);
          events.failed(error);
        },
      }),
    leaders: (topics, refresh) => client.leaders(topics, refresh),
    partitionCounts: (topics) => client.partitionCounts(topics),
    fetch: (request) => client.fetch(request),
    commit: (offsets) => {
      const unchecked = checker.commitRequested(name, offsets);
      return commit(offsets).then(
        (refused) => {
          if (refused.length > 0) checker.commitFailed(name, refused);
          checker.commitAnswered(name, unchecked, refused);
          return refused;
        },
        (error: unknown) => {
          checker.commitFailed(name, offsets);
          throw error;
        },
      );
    },
    committed: (partitions) => client.committed(partitions),
    listOffsets: (partitions, at, isolation) => client.listOffsets(partitions, at, isolation),
    produce: async (records) => {
      // Dead letters being sent keep their source topic, if deleted, from being created again.
      const sources = records.flatMap((record) => header(record, DEAD_LETTER_HEADERS.sourceTopic) ?? []);
      checker.publishing(sources, 1);
      try {
        await produce(records);
      } finally {
        checker.publishing(sources, -1);
      }
      for (const record of records) {
        const topic = header(record, DEAD_LETTER_HEADERS.sourceTopic);
        if (topic === undefined) continue;
        checker.finished({
          topic,
          partition: Number(header(record, DEAD_LETTER_HEADERS.sourcePartition)),
          offset: BigInt(header(record, DEAD_LETTER_HEADERS.sourceOffset)!),
        });
      }
    },
    close: () => client.close(),
  };
}

/** A text header of a record a member produced. */
function header(record: OutgoingRecord, name: string): string | undefined {
  const value = headerValue(record.headers, name);
  return value == null ? undefined : decoder.decode(value);
}

/** What became of a deleted topic, for the run's description. */
function describeRecreation(
  deleted: { readonly again: { readonly partitions: number } | undefined; readonly recreatedAt: number | undefined },
): string {
  if (deleted.again === undefined) return "";
  if (deleted.recreatedAt === undefined) return ", not created again";
  return `, created again with ${deleted.again.partitions} partition(s) at ${Math.round(deleted.recreatedAt)} ms`;
}

/** After close(): no timer of the member left, its producer closed. */
function checkReleased(checker: Checker, time: VirtualClock, member: Member): void {
  const timers = time.pending(member.name);
  if (timers > 0) {
    checker.fail(
      `${member.name}: ${timers} timer(s) left after close()${
        time.debug ? `\n${time.pendingStacks(member.name).join("\n---\n")}` : ""
      }`,
    );
  }
  if (member.client.producerCreated && !member.client.producerClosed) {
    checker.fail(`${member.name}: producer left open after close()`);
  }
}

/** start() and close() may reject for reasons the scenario caused; a programming error is never one. */
function expectedFailure(checker: Checker, member: string, what: string, error: unknown): void {
  const name = error instanceof Error ? error.name : typeof error;
  if (["TypeError", "RangeError", "ReferenceError", "SyntaxError"].includes(name) || !(error instanceof Error)) {
    checker.fail(`${member} ${what}() rejected with ${describe(error)}`);
  }
}

function scheduleFaults(
  cluster: FakeCluster,
  random: Random,
  driver: ReturnType<VirtualClock["clock"]>,
  chaosMs: number,
  topics: readonly { name: string; partitions: number }[],
  members: number,
  nodes: number,
  startFrom: "earliest" | "latest",
): void {
  const at = () => random.int(0, chaosMs);
  if (random.chance(0.2)) driver.setTimeout(() => cluster.coordinatorOutage(random.int(10, 3000)), at());
  if (random.chance(0.3)) {
    driver.setTimeout(() => cluster.failNextCommits(random.int(1, 5), random.pick(["request", "partition"])), at());
  }
  if (random.chance(0.2)) driver.setTimeout(() => cluster.failNextProduces(random.int(1, 10)), at());
  if (random.chance(0.15)) driver.setTimeout(() => cluster.fetchErrors(random.int(10, 2000)), at());
  if (nodes > 1 && random.chance(0.3)) {
    const { name, partitions } = random.pick(topics);
    driver.setTimeout(() => {
      const [partition, node] = [random.int(0, partitions - 1), random.int(1, nodes)];
      // The topic may have been deleted (or created again with fewer partitions).
      if (cluster.has(name, partition)) cluster.moveLeader(name, partition, node);
    }, at());
  }
  for (let i = 0; i < members; i++) {
    if (random.chance(0.15)) {
      driver.setTimeout(() => {
        const member = cluster.clients.find((client) => client.name === `m${i}` && !client.closed);
        if (member) cluster.fence(member.name);
      }, at());
    }
  }
  // Retention passing a member's position: it starts again per startFrom (with "latest", Kafka's
  // auto.offset.reset skips what the log still holds by design, which no invariant can tell from loss).
  if (startFrom === "earliest" && random.chance(0.1)) {
    const { name, partitions } = random.pick(topics);
    const partition = random.int(0, partitions - 1);
    driver.setTimeout(() => {
      if (!cluster.has(name, partition)) return; // deleted
      const log = cluster.log(name, partition);
      const span = log.highWatermark - log.logStartOffset;
      if (span > 0n) {
        cluster.truncateLogStart(name, partition, log.logStartOffset + BigInt(random.int(0, Number(span))));
      }
    }, at());
  }
}

function compactSome(
  cluster: FakeCluster,
  random: Random,
  topics: readonly { name: string; partitions: number }[],
): void {
  for (const { name, partitions } of topics) {
    for (let partition = 0; partition < partitions; partition++) {
      // Kafka never cleans the active segment: the log's last batch stays whole.
      const log = cluster.log(name, partition);
      const last = log.batches.at(-1);
      const offsets = log.visibleOffsets("read_uncommitted")
        .filter((offset) => last === undefined || offset < last.firstOffset)
        .filter(() => random.chance(0.1));
      cluster.compact(name, partition, offsets);
    }
  }
}

function truncateSome(
  cluster: FakeCluster,
  random: Random,
  topics: readonly { name: string; partitions: number }[],
): void {
  const { name, partitions } = random.pick(topics);
  const partition = random.int(0, partitions - 1);
  const log = cluster.log(name, partition);
  const span = Number(log.highWatermark - log.logStartOffset);
  if (span > 0) cluster.truncateLogStart(name, partition, log.logStartOffset + BigInt(random.int(0, span)));
}

function describe(value: unknown): string {
  if (value instanceof Error) {
    return `${value.name}: ${value.message}${value.stack ? `\n${value.stack.split("\n").slice(1, 6).join("\n")}` : ""}`;
  }
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

type Unwatch = () => void;

/** Listens for unhandled promise rejections on Node, Bun and Deno. */
function watchUnhandled(report: (reason: unknown) => void): Unwatch {
  const runtime = globalThis as unknown as {
    process?: {
      on(event: string, listener: (reason: unknown) => void): void;
      off(event: string, listener: (reason: unknown) => void): void;
    };
    addEventListener?: (type: string, listener: (event: Event) => void) => void;
    removeEventListener?: (type: string, listener: (event: Event) => void) => void;
    Deno?: unknown;
  };
  if (runtime.Deno !== undefined && runtime.addEventListener) {
    const listener = (event: Event) => {
      event.preventDefault();
      report((event as PromiseRejectionEvent).reason);
    };
    runtime.addEventListener("unhandledrejection", listener);
    return () => runtime.removeEventListener!("unhandledrejection", listener);
  }
  const listener = (reason: unknown) => report(reason);
  runtime.process?.on("unhandledRejection", listener);
  return () => runtime.process?.off("unhandledRejection", listener);
}

export type { Call };
