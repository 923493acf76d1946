// Tests of the simulation's fake Kafka cluster itself: log and fetch semantics, the group's
// rebalance and commit rules, faults, and that one seed replays one run exactly.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type {
  FetchedPartition,
  FetchPartitionRequest,
  FetchRequest,
  GroupAssignment,
  GroupEvents,
  IsolationLevel,
} from "../../src/adapters/group/kafka-client.ts";
import { FakeCluster, type FakeClusterOptions, type RecordInput } from "../simulation/fake-cluster.ts";
import { VirtualClock } from "../simulation/virtual-clock.ts";

const encoder = new TextEncoder();
/** A record with a 10-byte value: 30 bytes on the wire, so a batch of n is 61 + 30n. */
const rec = (text = "0123456789"): RecordInput => ({ value: encoder.encode(text) });
const recs = (n: number): RecordInput[] => Array.from({ length: n }, () => rec());

function setup(options: Partial<FakeClusterOptions> = {}) {
  const time = new VirtualClock();
  const cluster = new FakeCluster({ clock: time, seed: 1, trace: true, ...options });
  return { time, cluster };
}

/** A promise's outcome, observed without leaving a rejection unhandled. */
function track<T>(promise: Promise<T>) {
  const state: { done: boolean; value?: T; error?: Error } = { done: false };
  promise.then(
    (value) => Object.assign(state, { done: true, value }),
    (error: Error) => Object.assign(state, { done: true, error }),
  );
  return state;
}

/** Runs virtual time until `promise` settles; returns its value or throws its error. */
async function run<T>(time: VirtualClock, promise: Promise<T>, within = 10_000): Promise<T> {
  const state = track(promise);
  await time.runUntil(() => state.done, time.now + within);
  assert.ok(state.done, "the call did not settle");
  if (state.error !== undefined) throw state.error;
  return state.value as T;
}

/** Lets `ms` of virtual time pass (a driver timer, so time moves even with nothing else pending). */
async function wait(time: VirtualClock, ms: number): Promise<void> {
  let fired = false;
  time.clock("driver").setTimeout(() => (fired = true), ms);
  await time.runUntil(() => fired, time.now + ms);
}

function fetchRequest(
  partitions: readonly (Partial<FetchPartitionRequest> & { offset: bigint })[],
  options: { maxBytes?: number; maxWaitMs?: number; isolationLevel?: IsolationLevel; node?: number } = {},
): FetchRequest {
  return {
    node: options.node ?? 1,
    maxWaitMs: options.maxWaitMs ?? 0,
    maxBytes: options.maxBytes ?? 1 << 20,
    isolationLevel: options.isolationLevel ?? "read_committed",
    partitions: partitions.map((p) => ({ topic: "t", partition: 0, maxBytes: 1 << 20, ...p })),
  };
}

const firstOffsets = (fetched: FetchedPartition) => fetched.batches.map((batch) => batch.firstOffset);

/** Group events recorded into `log` as "name: event". */
function recorder(name: string, log: string[]) {
  const assignments: GroupAssignment[] = [];
  const events: GroupEvents = {
    joined: (assignment) => {
      assignments.push(assignment);
      const partitions = assignment.partitions.map((tp) => `${tp.topic}-${tp.partition}`).join(",");
      log.push(`${name}: joined ${assignment.memberId} g${assignment.generation} ${partitions}`);
    },
    revoking: (partitions) => {
      log.push(`${name}: revoking ${partitions.map((tp) => `${tp.topic}-${tp.partition}`).join(",")}`);
      return Promise.resolve();
    },
    lost: () => log.push(`${name}: lost`),
    rebalancing: () => log.push(`${name}: rebalancing`),
    failed: (error) => log.push(`${name}: failed ${error.message}`),
  };
  return { events, assignments, last: () => assignments[assignments.length - 1]! };
}

describe("fake cluster: logs and fetch", () => {
  test("whole batches from the batch holding the offset, within maxBytes (a first batch always whole)", async () => {
    const { time, cluster } = setup();
    cluster.createTopic("t", 2);
    cluster.append("t", 0, recs(3)); // 0-2, 151 bytes
    cluster.append("t", 0, recs(2)); // 3-4, 121 bytes
    cluster.append("t", 0, recs(1)); // 5, 91 bytes
    cluster.append("t", 1, recs(4)); // 0-3, 181 bytes
    const client = cluster.client("a");

    let [p0] = await run(time, client.fetch(fetchRequest([{ offset: 1n }])));
    assert.deepEqual(firstOffsets(p0!), [0n, 3n, 5n]);
    assert.deepEqual([p0!.highWatermark, p0!.lastStableOffset, p0!.logStartOffset], [6n, 6n, 0n]);
    assert.equal(p0!.batches[0]!.lastOffsetDelta, 2);

    [p0] = await run(time, client.fetch(fetchRequest([{ offset: 3n, maxBytes: 121 + 90 }])));
    assert.deepEqual(firstOffsets(p0!), [3n]);
    [p0] = await run(time, client.fetch(fetchRequest([{ offset: 0n, maxBytes: 1 }])));
    assert.deepEqual(firstOffsets(p0!), [0n], "the first batch comes whole even if larger");

    // Response limit: the first non-empty partition's first batch whole; no room for the next one.
    const both = await run(
      time,
      client.fetch(fetchRequest([{ offset: 0n }, { partition: 1, offset: 0n }], { maxBytes: 200 })),
    );
    assert.deepEqual(both.map(firstOffsets), [[0n], []]);
    const second = await run(
      time,
      client.fetch(fetchRequest([{ offset: 6n }, { partition: 1, offset: 0n }], { maxBytes: 1 })),
    );
    assert.deepEqual(second.map(firstOffsets), [[], [0n]], "an empty first partition does not use up the exception");
  });

  test("read_committed stops at the last stable offset; read_uncommitted at the high watermark", async () => {
    const { time, cluster } = setup();
    cluster.createTopic("t", 1);
    cluster.append("t", 0, recs(2)); // 0-1
    const txn = cluster.producer(7).begin();
    txn.send("t", 0, recs(2)); // 2-3, open
    cluster.append("t", 0, recs(1)); // 4
    const client = cluster.client("a");

    let [p] = await run(time, client.fetch(fetchRequest([{ offset: 0n }])));
    assert.deepEqual(firstOffsets(p!), [0n]);
    assert.deepEqual([p!.lastStableOffset, p!.highWatermark], [2n, 5n]);
    [p] = await run(time, client.fetch(fetchRequest([{ offset: 0n }], { isolationLevel: "read_uncommitted" })));
    assert.deepEqual(firstOffsets(p!), [0n, 2n, 4n]);
    assert.deepEqual(await run(time, client.listOffsets([{ topic: "t", partition: 0 }], "latest", "read_committed")), [
      { topic: "t", partition: 0, offset: 2n },
    ]);

    txn.commit(); // marker at 5
    [p] = await run(time, client.fetch(fetchRequest([{ offset: 2n }])));
    assert.deepEqual(firstOffsets(p!), [2n, 4n, 5n]);
    const marker = p!.batches[2]!;
    assert.ok(marker.isControl && marker.isTransactional);
    assert.deepEqual([...marker.records[0]!.key!], [0, 0, 0, 1]);
    assert.deepEqual(p!.abortedTransactions, []);
    assert.deepEqual(cluster.log("t", 0).visibleOffsets(), [0n, 1n, 2n, 3n, 4n]);
  });

  test("aborted transactions for a fetch starting mid-transaction and at the abort marker", async () => {
    const { time, cluster } = setup();
    cluster.createTopic("t", 2);
    const producer = cluster.producer(1).begin();
    producer.send("t", 0, recs(2)); // 0-1
    producer.send("t", 1, recs(1)); // t-1: 0
    producer.send("t", 0, recs(2)); // 2-3
    producer.abort(); // markers: t-0 at 4, t-1 at 1
    cluster.append("t", 0, recs(1)); // 5
    const client = cluster.client("a");

    let [p] = await run(time, client.fetch(fetchRequest([{ offset: 2n }])));
    assert.deepEqual(firstOffsets(p!), [2n, 4n, 5n]);
    assert.deepEqual(p!.abortedTransactions, [{ producerId: 1n, firstOffset: 0n }]);
    [p] = await run(time, client.fetch(fetchRequest([{ offset: 4n }])));
    assert.deepEqual(p!.abortedTransactions, [{ producerId: 1n, firstOffset: 0n }]);
    [p] = await run(time, client.fetch(fetchRequest([{ offset: 5n }])));
    assert.deepEqual(p!.abortedTransactions, []);
    [p] = await run(time, client.fetch(fetchRequest([{ offset: 2n }], { isolationLevel: "read_uncommitted" })));
    assert.deepEqual(p!.abortedTransactions, [], "read_uncommitted gets no aborted transactions");
    assert.deepEqual(cluster.log("t", 1).transactions, [{
      producerId: 1n,
      firstOffset: 0n,
      markerOffset: 1n,
      state: "aborted",
    }]);
    assert.deepEqual(cluster.log("t", 0).visibleOffsets(), [5n]);
  });

  test("offsetOutOfRange below the log start after truncation and above the high watermark", async () => {
    const { time, cluster } = setup();
    cluster.createTopic("t", 1);
    for (let i = 0; i < 5; i++) cluster.append("t", 0, recs(2)); // 0-9
    cluster.truncateLogStart("t", 0, 5n);
    const client = cluster.client("a");
    let [p] = await run(time, client.fetch(fetchRequest([{ offset: 3n }])));
    assert.deepEqual(p!.error, { kind: "offsetOutOfRange" });
    assert.equal(p!.logStartOffset, 5n);
    [p] = await run(time, client.fetch(fetchRequest([{ offset: 5n }])));
    assert.deepEqual(firstOffsets(p!), [4n, 6n, 8n], "the batch holding the log start stays");
    [p] = await run(time, client.fetch(fetchRequest([{ offset: 11n }])));
    assert.deepEqual(p!.error, { kind: "offsetOutOfRange" });
    [p] = await run(time, client.fetch(fetchRequest([{ offset: 10n }])));
    assert.equal(p!.error, undefined);
    assert.deepEqual(p!.batches, []);
    const [earliest] = await run(
      time,
      client.listOffsets([{ topic: "t", partition: 0 }], "earliest", "read_committed"),
    );
    assert.equal(earliest!.offset, 5n);
  });

  test("compaction leaves holes and keeps batch bounds; an emptied batch disappears", () => {
    const { cluster } = setup();
    cluster.createTopic("t", 1, { startOffset: 2n ** 60n });
    const base = 2n ** 60n;
    cluster.append("t", 0, recs(3));
    cluster.append("t", 0, recs(1));
    cluster.compact("t", 0, [base, base + 2n, base + 3n]);
    const [batch, ...rest] = cluster.log("t", 0).batches;
    assert.deepEqual(rest, []);
    assert.equal(batch!.firstOffset, base);
    assert.equal(batch!.lastOffsetDelta, 2);
    assert.deepEqual(batch!.records.map((r) => r.offsetDelta), [1]);
    assert.equal(cluster.log("t", 0).highWatermark, base + 4n);
    assert.deepEqual(cluster.log("t", 0).visibleOffsets(), [base + 1n]);
  });

  test("a long poll answers when data arrives, else after maxWaitMs; leader moves are retriable", async () => {
    const { time, cluster } = setup({ nodes: 2 });
    cluster.createTopic("t", 1);
    const client = cluster.client("a");
    time.clock("driver").setTimeout(() => cluster.append("t", 0, recs(1)), 100);
    let [p] = await run(time, client.fetch(fetchRequest([{ offset: 0n }], { maxWaitMs: 1000 })));
    assert.ok(time.now >= 100 && time.now <= 103, `answered at ${time.now}`);
    assert.deepEqual(firstOffsets(p!), [0n]);
    const start = time.now;
    [p] = await run(time, client.fetch(fetchRequest([{ offset: 1n }], { maxWaitMs: 500 })));
    assert.ok(time.now >= start + 500 && time.now <= start + 503);
    assert.deepEqual(p!.batches, []);

    const [before] = await run(time, client.leaders(["t"], false));
    cluster.moveLeader("t", 0, before!.node === 1 ? 2 : 1);
    [p] = await run(time, client.fetch(fetchRequest([{ offset: 1n }], { node: before!.node })));
    assert.equal(p!.error?.kind, "retriable");
    assert.deepEqual(await run(time, client.leaders(["t"], false)), [before], "a cached answer may be stale");
    const [after] = await run(time, client.leaders(["t"], true));
    assert.notEqual(after!.node, before!.node);
  });
});

describe("fake cluster: group", () => {
  test("two members get disjoint assignments covering all partitions; a third joining rebalances all", async () => {
    const { time, cluster } = setup();
    cluster.createTopic("t", 5);
    const log: string[] = [];
    const members = ["a", "b", "c"].map((name) => ({ client: cluster.client(name), events: recorder(name, log) }));
    const [a, b, c] = members as [typeof members[0], typeof members[0], typeof members[0]];
    const joinA = track(a.client.join(["t"], a.events.events));
    await run(time, b.client.join(["t"], b.events.events));
    await time.runUntil(() => joinA.done, time.now + 1000);
    const owned = [a, b].flatMap((m) => m.events.last().partitions.map((tp) => tp.partition)).sort();
    assert.deepEqual(owned, [0, 1, 2, 3, 4]);
    assert.equal(a.events.last().generation, b.events.last().generation);

    log.length = 0;
    await run(time, c.client.join(["t"], c.events.events));
    await time.runUntil(() => log.filter((line) => line.includes("joined")).length === 3, time.now + 1000);
    assert.deepEqual(log.filter((line) => line.endsWith("rebalancing")).sort(), ["a: rebalancing", "b: rebalancing"]);
    const generation = cluster.generation;
    for (const m of members) assert.equal(m.events.last().generation, generation);
    const all = members.flatMap((m) => m.events.last().partitions.map((tp) => tp.partition)).sort();
    assert.deepEqual(all, [0, 1, 2, 3, 4]);
    assert.equal(cluster.groupState, "Stable");
    // Rebalancing is heard before the joined of the same member.
    for (const name of ["a", "b"]) {
      const mine = log.filter((line) => line.startsWith(`${name}:`));
      assert.match(mine[0]!, /rebalancing/);
      assert.match(mine[1]!, /joined/);
    }
  });

  test("commits: accepted while PreparingRebalance, REBALANCE_IN_PROGRESS while CompletingRebalance", async () => {
    const { time, cluster } = setup();
    cluster.createTopic("t", 2);
    const a = cluster.client("a");
    const b = cluster.client("b");
    const commitAtRebalance: Promise<unknown>[] = [];
    await run(
      time,
      a.join(["t"], {
        joined: () => {},
        revoking: () => Promise.resolve(),
        lost: () => {},
        rebalancing: () => commitAtRebalance.push(a.commit([{ topic: "t", partition: 0, offset: 5n, metadata: "m" }])),
        failed: () => {},
      }),
    );
    assert.equal(a.generation, 1);
    const joinB = track(b.join(["t"], recorder("b", []).events));
    assert.equal(cluster.groupState, "PreparingRebalance");
    await time.runUntil(() => commitAtRebalance.length === 1, time.now + 100);
    assert.deepEqual(await run(time, commitAtRebalance[0]!), []);
    assert.deepEqual(cluster.commits.map((c) => [c.member, c.generation, c.offset]), [["a", 1, 5n]]);

    await time.runUntil(() => cluster.groupState === "CompletingRebalance", time.now + 1000);
    assert.equal(a.generation, 2, "the JoinGroup response carried the new generation");
    await assert.rejects(run(time, a.commit([{ topic: "t", partition: 0, offset: 6n, metadata: "" }])), {
      name: "REBALANCE_IN_PROGRESS",
      retriable: true,
    });
    await time.runUntil(() => joinB.done, time.now + 1000);
    assert.deepEqual(await run(time, a.commit([{ topic: "t", partition: 0, offset: 7n, metadata: "x" }])), []);
    assert.deepEqual(cluster.committedOffset("t", 0), { offset: 7n, metadata: "x" });
  });

  test("a member without the group's generation gets ILLEGAL_GENERATION", async () => {
    const { time, cluster } = setup();
    cluster.createTopic("t", 1);
    const a = cluster.client("a");
    const b = cluster.client("b");
    await run(time, a.join(["t"], recorder("a", []).events));
    const joinB = track(b.join(["t"], recorder("b", []).events));
    // b has a member id but no JoinGroup response yet: it sends generation -1.
    assert.equal(b.generation, -1);
    await assert.rejects(run(time, b.commit([{ topic: "t", partition: 0, offset: 1n, metadata: "" }])), {
      name: "ILLEGAL_GENERATION",
      retriable: false,
    });
    await time.runUntil(() => joinB.done, time.now + 1000);
    assert.equal(b.generation, 2);
  });

  test("OFFSET_METADATA_TOO_LARGE fails one partition while the others commit", async () => {
    const { time, cluster } = setup({ offsetMetadataMaxBytes: 10 });
    cluster.createTopic("t", 3);
    const a = cluster.client("a");
    await run(time, a.join(["t"], recorder("a", []).events));
    const refused = await run(
      time,
      a.commit([
        { topic: "t", partition: 0, offset: 1n, metadata: "0123456789" },
        { topic: "t", partition: 1, offset: 2n, metadata: "01234567890" },
        { topic: "t", partition: 2, offset: 3n, metadata: "" },
      ]),
    );
    assert.deepEqual(refused.map((r) => [r.partition, r.error.name]), [[1, "OFFSET_METADATA_TOO_LARGE"]]);
    assert.deepEqual(cluster.committedOffsets().map((c) => [c.partition, c.offset]), [[0, 1n], [2, 3n]]);
    const committed = await run(time, a.committed([{ topic: "t", partition: 1 }, { topic: "t", partition: 2 }]));
    assert.deepEqual(committed.map((c) => [c.offset, c.metadata]), [[null, null], [3n, ""]]);
  });

  test("a fenced member keeps fetching, gets UNKNOWN_MEMBER_ID on commit, rejoins as a new member", async () => {
    const { time, cluster } = setup();
    cluster.createTopic("t", 2);
    cluster.append("t", 0, recs(1));
    const log: string[] = [];
    const a = cluster.client("a");
    const b = cluster.client("b");
    const ea = recorder("a", log);
    const eb = recorder("b", log);
    const joinA = track(a.join(["t"], ea.events));
    await run(time, b.join(["t"], eb.events));
    await time.runUntil(() => joinA.done, time.now + 1000);
    const oldId = a.memberId!;
    log.length = 0;

    cluster.fence("a");
    assert.ok(!cluster.memberIds.includes(oldId));
    await assert.rejects(run(time, a.commit([{ topic: "t", partition: 0, offset: 1n, metadata: "" }])), {
      name: "UNKNOWN_MEMBER_ID",
      retriable: false,
    });
    const [p] = await run(time, a.fetch(fetchRequest([{ offset: 0n }])));
    assert.deepEqual(firstOffsets(p!), [0n], "fetch does not check membership");

    await time.runUntil(() => log.some((line) => line.startsWith("a: joined")), time.now + 1000);
    await time.runUntil(
      () => cluster.groupState === "Stable" && log.filter((l) => l.includes("joined")).length >= 2,
      time.now + 1000,
    );
    const mine = log.filter((line) => line.startsWith("a:"));
    assert.equal(mine[0], "a: rebalancing");
    assert.notEqual(ea.last().memberId, oldId);
    assert.equal(a.memberId, ea.last().memberId);
    const dropped = cluster.ownership.filter((o) => o.memberId === oldId);
    assert.ok(dropped.length > 0 && dropped.every((o) => o.droppedAt !== null && o.to !== null && o.droppedAt <= o.to));
  });

  test("range assignment; a failed member hears failed() and the others rebalance without it", async () => {
    const { time, cluster } = setup({ assignor: "range" });
    cluster.createTopic("t", 5);
    const log: string[] = [];
    const a = cluster.client("a");
    const b = cluster.client("b");
    const ea = recorder("a", log);
    const eb = recorder("b", log);
    const joinA = track(a.join(["t"], ea.events));
    await run(time, b.join(["t"], eb.events));
    await time.runUntil(() => joinA.done, time.now + 1000);
    assert.deepEqual([ea.last(), eb.last()].map((x) => x.partitions.map((tp) => tp.partition)), [[0, 1, 2], [3, 4]]);

    cluster.failMember("a", new Error("boom"));
    await time.runUntil(() => eb.assignments.length === 2, time.now + 1000);
    assert.ok(log.includes("a: failed boom"));
    assert.deepEqual(eb.last().partitions.map((tp) => tp.partition), [0, 1, 2, 3, 4]);
    await assert.rejects(run(time, a.commit([{ topic: "t", partition: 0, offset: 1n, metadata: "" }])), {
      name: "UNKNOWN_MEMBER_ID",
    });
    assert.deepEqual(cluster.generations.map((g) => g.members.map((m) => m.member)), [["a", "b"], ["b"]]);
  });

  test("close leaves the group, rejects pending calls, and leaves no cluster timer behind", async () => {
    const { time, cluster } = setup();
    cluster.createTopic("t", 2);
    const a = cluster.client("a");
    const b = cluster.client("b");
    const eb = recorder("b", []);
    await run(time, a.join(["t"], recorder("a", []).events));
    const poll = track(a.fetch(fetchRequest([{ offset: 0n }], { maxWaitMs: 10_000 })));
    const joinB = track(b.join(["t"], eb.events));
    await run(
      time,
      a.produce([{ topic: "dlq", key: null, value: encoder.encode("x"), headers: [["h", null]] }]),
    );
    assert.equal(a.producerCreated, true);
    await run(time, a.close());
    assert.equal(poll.error?.message, "client closed");
    await time.runUntil(() => joinB.done, time.now + 1000);
    assert.deepEqual(eb.last().partitions.map((tp) => tp.partition), [0, 1]);
    await assert.rejects(a.produce([]), { message: "client closed" });
    assert.deepEqual([a.producerClosed, a.producedAfterClose, cluster.producedAfterClose], [true, 1, 1]);
    assert.deepEqual(cluster.produced.map((r) => [r.topic, r.offset]), [["dlq", 0n]]);

    const pending = track(b.join(["t"], eb.events));
    await run(time, b.close());
    assert.equal(pending.error?.message, "client closed");
    await wait(time, 100);
    assert.equal(time.pending("cluster"), 0);
    assert.equal(cluster.groupState, "Empty");
    assert.ok(cluster.ownership.every((o) => o.to !== null));
  });
});

describe("fake cluster: consumer group protocol", () => {
  /** Group events whose revocations wait until the test releases them. */
  function barrierRecorder(name: string, log: string[]) {
    let owned: readonly string[] = [];
    const pending: (() => void)[] = [];
    const events: GroupEvents = {
      joined: (assignment) => {
        owned = assignment.partitions.map((tp) => `${tp.topic}-${tp.partition}`);
        log.push(`${name}: owns ${owned.join(",")}`);
      },
      revoking: (partitions) => {
        log.push(`${name}: revoking ${partitions.map((tp) => `${tp.topic}-${tp.partition}`).join(",")}`);
        return new Promise<void>((resolve) => pending.push(resolve));
      },
      lost: () => {
        owned = [];
        log.push(`${name}: lost`);
      },
      rebalancing: () => log.push(`${name}: rebalancing`),
      failed: (error) => log.push(`${name}: failed ${error.message}`),
    };
    return { events, owned: () => owned, release: () => pending.splice(0).forEach((resolve) => resolve()) };
  }

  // As Kafka 4.1.1 answered the same sequence (the member's epoch stays while it still owns what
  // the group revoked; the other member gets those partitions only after it stopped listing them).
  test("a revoked partition goes on only after its owner released it; its commits are accepted until then", async () => {
    const { time, cluster } = setup({ groupProtocol: "consumer", heartbeatIntervalMs: [10, 10] });
    cluster.createTopic("t", 4);
    const log: string[] = [];
    const a = { client: cluster.client("a"), ...barrierRecorder("a", log) };
    const b = { client: cluster.client("b"), ...barrierRecorder("b", log) };
    await run(time, a.client.join(["t"], a.events));
    await time.runUntil(() => a.owned().length === 4, time.now + 1000);
    await run(time, b.client.join(["t"], b.events));
    await time.runUntil(() => log.some((line) => line.startsWith("a: revoking")), time.now + 1000);
    const revoked = log.find((line) => line.startsWith("a: revoking"))!.split(" ")[2]!.split(",");
    assert.equal(revoked.length, 2);
    const [topic, partition] = [revoked[0]!.split("-")[0]!, Number(revoked[0]!.split("-")[1])];
    // The barrier holds: heartbeats go on, B gets nothing of A's, A's commits are accepted.
    await wait(time, 200);
    assert.deepEqual(b.owned(), []);
    assert.deepEqual(await run(time, a.client.commit([{ topic, partition, offset: 7n, metadata: "m" }])), []);
    assert.equal(cluster.committedOffset(topic, partition)?.offset, 7n);
    // Released: B gets them at its next heartbeats; A may not commit them any more.
    a.release();
    await time.runUntil(() => b.owned().length === 2, time.now + 1000);
    assert.deepEqual([...b.owned()].sort(), [...revoked].sort());
    const refused = await run(time, a.client.commit([{ topic, partition, offset: 3n, metadata: "late" }]));
    assert.match(refused[0]!.error.message, /no longer owns/);
    assert.equal(cluster.committedOffset(topic, partition)?.offset, 7n);
    assert.deepEqual(cluster.foreignCommits, []);
    await run(time, Promise.all([a.client.close(), b.client.close()]));
    assert.equal(time.pending("a") + time.pending("b"), 0, "heartbeat timers left after close");
  });

  test("a member that does not release within its rebalance timeout is fenced: it hears lost and rejoins", async () => {
    const { time, cluster } = setup({
      groupProtocol: "consumer",
      heartbeatIntervalMs: [10, 10],
      rebalanceTimeoutMs: 100,
    });
    cluster.createTopic("t", 2);
    const log: string[] = [];
    const a = { client: cluster.client("a"), ...barrierRecorder("a", log) };
    const b = { client: cluster.client("b"), ...barrierRecorder("b", log) };
    await run(time, a.client.join(["t"], a.events));
    await time.runUntil(() => a.owned().length === 2, time.now + 1000);
    await run(time, b.client.join(["t"], b.events));
    // A never releases: after 100 ms the group drops it, B gets both partitions, A hears lost.
    await time.runUntil(() => log.includes("a: lost") && b.owned().length === 2, time.now + 2000);
    assert.ok(cluster.droppedSince("a", 0));
    // A rejoins under its member id (after leaving the old membership) and gets a share again.
    await time.runUntil(() => a.owned().length === 1 && b.owned().length === 1, time.now + 2000);
    assert.deepEqual(cluster.memberIds.sort(), ["a-uuid", "b-uuid"]);
    a.release();
    b.release();
    await run(time, Promise.all([a.client.close(), b.client.close()]));
  });

  test("a member the coordinator dropped hears it at its next heartbeat: lost, then it rejoins", async () => {
    const { time, cluster } = setup({ groupProtocol: "consumer", heartbeatIntervalMs: [10, 10] });
    cluster.createTopic("t", 2);
    const log: string[] = [];
    const a = { client: cluster.client("a"), ...barrierRecorder("a", log) };
    const b = { client: cluster.client("b"), ...barrierRecorder("b", log) };
    await run(time, a.client.join(["t"], a.events));
    await run(time, b.client.join(["t"], b.events));
    await time.runUntil(() => log.some((line) => line.startsWith("a: revoking")), time.now + 1000);
    a.release();
    await time.runUntil(() => a.owned().length === 1 && b.owned().length === 1, time.now + 1000);
    // The session of B ends (as when its heartbeats stop): A takes both partitions at once.
    cluster.fence("b");
    assert.deepEqual(cluster.memberIds, ["a-uuid"]);
    await time.runUntil(() => log.includes("b: lost"), time.now + 1000);
    assert.deepEqual(b.owned(), []);
    // B rejoins; A gives one partition back (through its barrier again).
    await time.runUntil(() => log.filter((line) => line.startsWith("a: revoking")).length === 2, time.now + 2000);
    a.release();
    await time.runUntil(() => a.owned().length === 1 && b.owned().length === 1, time.now + 2000);
    assert.deepEqual([...a.owned(), ...b.owned()].sort(), ["t-0", "t-1"]);
    a.release();
    b.release();
    await run(time, Promise.all([a.client.close(), b.client.close()]));
  });
});

describe("fake cluster: faults", () => {
  test("coordinator outage, failed commits and produces, fetch errors, refused joins", async () => {
    const { time, cluster } = setup();
    cluster.createTopic("t", 2);
    const a = cluster.client("a");
    cluster.refuseJoins("a");
    await assert.rejects(run(time, a.join(["t"], recorder("a", []).events)), {
      name: "SASL_AUTHENTICATION_FAILED",
      retriable: false,
    });
    cluster.refuseJoins("a", false);
    cluster.coordinatorOutage(50);
    await assert.rejects(run(time, a.join(["t"], recorder("a", []).events)), {
      name: "COORDINATOR_NOT_AVAILABLE",
      retriable: true,
    });
    await assert.rejects(run(time, a.committed([{ topic: "t", partition: 0 }])), { name: "COORDINATOR_NOT_AVAILABLE" });
    await wait(time, 50);
    await run(time, a.join(["t"], recorder("a", []).events));

    const offsets = [0, 1].map((partition) => ({ topic: "t", partition, offset: 1n, metadata: "" }));
    cluster.failNextCommits(1, "request");
    await assert.rejects(run(time, a.commit(offsets)), { retriable: true });
    assert.equal(cluster.commits.length, 0);
    cluster.failNextCommits(1, "partition");
    const refused = await run(time, a.commit(offsets));
    assert.deepEqual(refused.map((r) => r.error.name), ["UNKNOWN_TOPIC_OR_PARTITION"]);
    assert.equal(cluster.commits.length, 1);

    cluster.failNextProduces(1);
    const record = { topic: "dlq", key: null, value: null, headers: [] };
    await assert.rejects(run(time, a.produce([record])), { name: "NOT_ENOUGH_REPLICAS", retriable: true });
    await run(time, a.produce([record]));

    cluster.fetchErrors(20);
    await assert.rejects(run(time, a.fetch(fetchRequest([{ offset: 0n }]))), {
      name: "NETWORK_EXCEPTION",
      retriable: true,
    });
    await wait(time, 20);
    await run(time, a.fetch(fetchRequest([{ offset: 0n }])));
  });
});

describe("fake cluster: a topic deleted, then created again", () => {
  test("classic protocol: its logs, leaders and offsets are gone; fetches, commits and offset reads fail retriably", async () => {
    const { time, cluster } = setup();
    cluster.createTopic("kept", 1);
    cluster.createTopic("t", 2);
    cluster.append("t", 0, recs(3));
    const a = cluster.client("a");
    const log: string[] = [];
    await run(time, a.join(["kept", "t"], recorder("a", log).events));
    const offsets = [
      { topic: "kept", partition: 0, offset: 0n, metadata: "" },
      { topic: "t", partition: 0, offset: 3n, metadata: "" },
    ];
    assert.deepEqual(await run(time, a.commit(offsets)), []);
    // A long poll waiting on the topic answers at its deletion, with the error.
    const asked = time.now;
    time.clock("driver").setTimeout(() => cluster.deleteTopic("t"), 50);
    const [p] = await run(time, a.fetch(fetchRequest([{ offset: 3n }], { maxWaitMs: 1000 })));
    assert.ok(time.now >= asked + 50 && time.now <= asked + 53, `answered ${time.now - asked} ms after`);
    assert.ok(p!.error?.kind === "retriable");
    assert.equal(p!.error.error.name, "UNKNOWN_TOPIC_OR_PARTITION");

    assert.deepEqual((await run(time, a.leaders(["kept", "t"], true))).map((l) => l.topic), ["kept"]);
    assert.deepEqual([...await run(time, a.partitionCounts(["kept", "t"]))], [["kept", 1]]);
    assert.equal(cluster.committedOffset("t", 0), undefined, "the group's offsets went with it");
    assert.equal(cluster.committedOffset("kept", 0)?.offset, 0n);
    const refused = await run(time, a.commit(offsets));
    assert.deepEqual(refused.map((r) => [r.topic, r.error.name]), [["t", "UNKNOWN_TOPIC_OR_PARTITION"]]);
    await assert.rejects(run(time, a.committed([{ topic: "t", partition: 0 }])), { retriable: true });
    await assert.rejects(run(time, a.listOffsets([{ topic: "t", partition: 0 }], "earliest", "read_committed")), {
      name: "UNKNOWN_TOPIC_OR_PARTITION",
      retriable: true,
    });
    // Classic: the group does not rebalance by itself; a rejoin with the topics there are assigns those.
    await wait(time, 100);
    assert.ok(!log.some((line) => line.includes("rebalancing")));
    await run(time, a.join(["kept"], recorder("a", log).events));
    assert.equal(log.at(-1), "a: joined a-1 g2 kept-0");

    // Created again: new empty logs from 0, which the group assigns once a member rejoins.
    cluster.createTopic("t", 3);
    assert.deepEqual([cluster.log("t", 0).highWatermark, cluster.log("t", 2).logStartOffset], [0n, 0n]);
    await wait(time, 100);
    assert.equal(log.at(-1), "a: joined a-1 g2 kept-0", "no rebalance by itself");
    await run(time, a.join(["kept", "t"], recorder("a", log).events));
    assert.equal(log.at(-1), "a: joined a-1 g3 kept-0,t-0,t-1,t-2");
    await run(time, a.close());
  });

  test("consumer protocol: the coordinator revokes its partitions, and assigns them again once created again", async () => {
    const { time, cluster } = setup({ groupProtocol: "consumer", heartbeatIntervalMs: [10, 10] });
    cluster.createTopic("kept", 1);
    cluster.createTopic("t", 2);
    const log: string[] = [];
    const a = cluster.client("a");
    const owned: string[][] = [];
    await run(
      time,
      a.join(["kept", "t"], {
        ...recorder("a", log).events,
        joined: (assignment) => void owned.push(assignment.partitions.map((tp) => `${tp.topic}-${tp.partition}`)),
      }),
    );
    await time.runUntil(() => owned.at(-1)?.length === 3, time.now + 1000);
    cluster.deleteTopic("t");
    await time.runUntil(() => owned.at(-1)?.length === 1, time.now + 1000);
    assert.ok(log.includes("a: revoking t-0,t-1"), "given up through the revoke barrier");
    assert.deepEqual(owned.at(-1), ["kept-0"]);
    assert.ok(!cluster.assigns("t"));
    cluster.createTopic("t", 1);
    await time.runUntil(() => owned.at(-1)?.length === 2, time.now + 1000);
    assert.deepEqual(owned.at(-1), ["kept-0", "t-0"]);
    await run(time, a.close());
  });
});

describe("fake cluster: determinism", () => {
  /** A small run with joins, appends, a transaction, a fence and commits; returns its full trace. */
  async function scenario(seed: number): Promise<string[]> {
    const { time, cluster } = setup({ seed, nodes: 2 });
    cluster.createTopic("t", 4);
    const log: string[] = [];
    const clients = ["a", "b", "c"].map((name) => ({ client: cluster.client(name), events: recorder(name, log) }));
    const driver = time.clock("driver");
    clients.forEach(({ client, events }, i) =>
      driver.setTimeout(() => void client.join(["t"], events.events).catch(() => {}), i * 7)
    );
    driver.setTimeout(() => {
      const producer = cluster.producer(9).begin();
      producer.send("t", 1, recs(2));
      producer.send("t", 2, recs(1));
      producer.abort();
      cluster.append("t", 1, recs(1));
    }, 20);
    driver.setTimeout(() => cluster.fence("b"), 120);
    for (const [i, { client }] of clients.entries()) {
      driver.setTimeout(() => {
        client.fetch(fetchRequest([{ partition: 1, offset: 0n }], { maxWaitMs: 50, node: 1 + (i % 2) })).then(
          (parts) =>
            log.push(
              `${client.name}: fetched ${
                parts.map((p) => `${firstOffsets(p).join("/")}|${p.abortedTransactions.length}`)
              }`,
            ),
          (error: Error) => log.push(`${client.name}: fetch ${error.name}`),
        );
        client.commit([{ topic: "t", partition: i, offset: 1n, metadata: "" }]).then(
          (refused) => log.push(`${client.name}: commit ok ${refused.length}`),
          (error: Error) => log.push(`${client.name}: commit ${error.name}`),
        );
      }, 60 + 30 * i);
    }
    await wait(time, 600);
    for (const { client } of clients) await run(time, client.close());
    return [...cluster.trace, ...log.map((line) => `events ${line}`)];
  }

  test("the same seed and calls give the same trace; another seed another", async () => {
    const first = await scenario(42);
    assert.deepEqual(await scenario(42), first);
    assert.notDeepEqual(await scenario(43), first);
    assert.ok(first.some((line) => line.includes("fenced")));
  });
});
