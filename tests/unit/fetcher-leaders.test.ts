// The Fetcher when leaders change, on virtual time: a broker that is gone (its fetches fail at
// once, and the cluster keeps naming it until the controller fences it), a partition without a
// leader while an election is under way, a partition that moved. What tests/chaos/failover.test.ts
// does to a real 3-node cluster, here step by step.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Fetcher, type FetcherSink } from "../../src/adapters/group/fetcher.ts";
import {
  type FetchedPartition,
  type FetchRequest,
  type PartitionLeader,
  retriable,
} from "../../src/adapters/group/kafka-client.ts";
import type { Clock } from "../../src/core/clock.ts";
import type { TopicPartition } from "../../src/core/message.ts";
import { FetchOnlyClient } from "../support/fetch-only-client.ts";
import { VirtualClock } from "../simulation/virtual-clock.ts";

const P0: TopicPartition = { topic: "t", partition: 0 };
const P1: TopicPartition = { topic: "t", partition: 1 };
/** How long a broker holds a fetch without new data (the fetch's max wait). */
const POLL_MS = 50;

/**
 * A cluster as the fetcher's client sees it: `leader` names each partition's leader (or none);
 * a broker in `down` fails every fetch at once (connection refused); the others answer each fetch
 * after a long poll with one record per partition, or with `moved` for partitions they no longer lead.
 */
class Cluster extends FetchOnlyClient {
  readonly leader = new Map<number, number | undefined>();
  readonly down = new Set<number>();
  /** Every fetch: when (virtual ms), to which node, which partitions. */
  readonly fetches: { at: number; node: number; partitions: number[] }[] = [];
  /** Every leaders() call: when, and whether it asked the cluster rather than a cache. */
  readonly lookups: { at: number; refresh: boolean }[] = [];
  /** A node's long poll, when not POLL_MS. */
  readonly pollMs = new Map<number, number>();
  /** While set, leaders() answers (what it saw when asked) only when the test calls this. */
  heldLookups: (() => void)[] | undefined;
  readonly #clock: Clock;

  constructor(clock: Clock) {
    super();
    this.#clock = clock;
  }

  leaders(_topics: readonly string[], refresh: boolean): Promise<readonly PartitionLeader[]> {
    this.lookups.push({ at: this.#clock.now(), refresh });
    const leaders: PartitionLeader[] = [];
    for (const [partition, node] of this.leader) if (node !== undefined) leaders.push({ topic: "t", partition, node });
    const held = this.heldLookups;
    return held === undefined ? Promise.resolve(leaders) : new Promise((resolve) => held.push(() => resolve(leaders)));
  }

  fetch(request: FetchRequest): Promise<readonly FetchedPartition[]> {
    const partitions = request.partitions.map(({ partition }) => partition);
    this.fetches.push({ at: this.#clock.now(), node: request.node, partitions });
    if (this.down.has(request.node)) {
      return Promise.reject(retriable(new Error(`Connection to broker ${request.node} failed.`)));
    }
    return new Promise((resolve) => {
      this.#clock.setTimeout(() => {
        resolve(request.partitions.map(({ partition, offset }): FetchedPartition => {
          const moved = this.leader.get(partition) !== request.node;
          return {
            topic: "t",
            partition,
            ...(moved
              ? { error: { kind: "retriable", error: new Error("fetch failed: NOT_LEADER_OR_FOLLOWER") } }
              : {}),
            highWatermark: offset + 1n,
            lastStableOffset: offset + 1n,
            logStartOffset: 0n,
            abortedTransactions: [],
            batches: moved ? [] : [{
              firstOffset: offset,
              lastOffsetDelta: 0,
              firstTimestamp: 0n,
              producerId: -1n,
              isTransactional: false,
              isControl: false,
              records: [{ offsetDelta: 0, timestampDelta: 0, key: null, value: null, headers: [] }],
            }],
            recordBytes: moved ? 0 : 70,
          };
        }));
      }, this.pollMs.get(request.node) ?? POLL_MS);
    });
  }

  /** Fetches of `partition` sent to `node` at or after `from`. */
  fetchesOf(partition: number, node: number, from = 0): number[] {
    return this.fetches.filter((f) => f.node === node && f.at >= from && f.partitions.includes(partition)).map((f) =>
      f.at
    );
  }
}

function setUp() {
  const time = new VirtualClock();
  const clock = time.clock("fetcher");
  const cluster = new Cluster(clock);
  const delivered = new Map<number, number>();
  const failures: Error[] = [];
  const sink: FetcherSink = {
    messages: (batch) => {
      for (const message of batch) delivered.set(message.partition, (delivered.get(message.partition) ?? 0) + 1);
    },
    restart: () => {
      throw new Error("no restart expected");
    },
    failed: (error) => void failures.push(error),
  };
  const fetcher = new Fetcher(cluster, {
    startFrom: "earliest",
    isolationLevel: "read_uncommitted",
    maxWaitMs: POLL_MS,
    maxBytes: 1 << 20,
    maxBytesPerPartition: 1 << 20,
    clock,
  }, sink);
  /** Runs virtual time up to `at` (ms). */
  const runTo = (at: number) => time.runUntil(() => false, at);
  return { time, cluster, fetcher, delivered, failures, runTo };
}

describe("Fetcher: leader changes", () => {
  test("a broker that is gone: the other broker's partitions keep coming, its own follow their new leader within a second", async () => {
    const { time, cluster, fetcher, delivered, failures, runTo } = setUp();
    cluster.leader.set(0, 1).set(1, 2);
    fetcher.add(P0, 0n);
    fetcher.add(P1, 0n);
    await runTo(1000);
    assert.ok(cluster.fetchesOf(0, 1).length > 5 && cluster.fetchesOf(1, 2).length > 5, "both brokers fetched from");

    // Broker 1 is killed; the controller fences it (and names node 3) only 8 s later.
    cluster.down.add(1);
    const before = delivered.get(1)!;
    await runTo(9000);
    cluster.leader.set(0, 3);
    const moved = time.now;
    await runTo(12_000);
    assert.deepEqual(failures, [], "the consumer does not fail");
    assert.ok(delivered.get(1)! - before >= 20, `broker 2's partition went on (${delivered.get(1)! - before} fetches)`);
    const [first] = cluster.fetchesOf(0, 3);
    assert.ok(
      first !== undefined && first - moved <= 1000,
      `p0 fetched from its new leader ${first! - moved} ms later`,
    );
    assert.ok(
      cluster.lookups.filter(({ at, refresh }) => refresh && at > 1000).length > 0,
      "leaders asked of the cluster",
    );
    fetcher.close();
  });

  test("a member whose every partition was on the broker that is gone follows them within a second, however long it took", async () => {
    const { time, cluster, fetcher, failures, runTo } = setUp();
    cluster.leader.set(0, 1).set(1, 1);
    fetcher.add(P0, 0n);
    fetcher.add(P1, 0n);
    await runTo(500);
    cluster.down.add(1);
    // Every request fails now: the pause between tries grows, but never past a second.
    await runTo(30_000);
    const tries = cluster.fetchesOf(0, 1, 500);
    const gaps = tries.slice(1).map((at, i) => at - tries[i]!);
    assert.ok(Math.max(...gaps) <= 1000, `tries at most a second apart (longest gap ${Math.max(...gaps)} ms)`);
    assert.ok(tries.length < 60, `but not hammering the cluster (${tries.length} tries in 29.5 s)`);
    cluster.leader.set(0, 2).set(1, 3);
    const moved = time.now;
    await runTo(33_000);
    assert.deepEqual(failures, []);
    for (const [partition, node] of [[0, 2], [1, 3]] as const) {
      const [first] = cluster.fetchesOf(partition, node);
      assert.ok(
        first !== undefined && first - moved <= 1000,
        `p${partition} from node ${node} ${first! - moved} ms later`,
      );
    }
    fetcher.close();
  });

  test("a partition without a leader (an election under way) is fetched once it has one; asked of the cluster meanwhile", async () => {
    const { time, cluster, fetcher, delivered, failures, runTo } = setUp();
    cluster.leader.set(1, undefined);
    fetcher.add(P1, 0n);
    await runTo(3000);
    assert.equal(cluster.fetches.length, 0, "nothing to fetch from");
    const asked = cluster.lookups.filter(({ at }) => at > 1000);
    assert.ok(asked.length > 0 && asked.every(({ refresh }) => refresh), "leaders asked of the cluster, not a cache");
    cluster.leader.set(1, 2);
    const elected = time.now;
    await runTo(5000);
    assert.deepEqual(failures, []);
    const [first] = cluster.fetchesOf(1, 2);
    assert.ok(first !== undefined && first - elected <= 1000, `fetched ${first! - elected} ms after the election`);
    assert.ok(delivered.get(1)! > 0);
    fetcher.close();
  });

  test("a partition moved to another broker (NOT_LEADER_OR_FOLLOWER) is fetched from there at once", async () => {
    const { time, cluster, fetcher, failures, runTo } = setUp();
    cluster.leader.set(0, 1).set(1, 1);
    fetcher.add(P0, 0n);
    fetcher.add(P1, 0n);
    await runTo(500);
    // A preferred-leader election moves p1 to broker 2; broker 1 answers its fetches with the error.
    cluster.leader.set(1, 2);
    const moved = time.now;
    await runTo(2000);
    assert.deepEqual(failures, []);
    const [first] = cluster.fetchesOf(1, 2);
    assert.ok(first !== undefined && first - moved <= POLL_MS + 200, `p1 from broker 2 ${first! - moved} ms later`);
    assert.ok(cluster.fetchesOf(0, 1, moved + 500).length > 5, "p0 stays with broker 1");
    fetcher.close();
  });

  test("a partition that moves while the leaders are being asked for is not fetched from its old leader again", async () => {
    const { cluster, fetcher, failures, runTo } = setUp();
    cluster.leader.set(0, 1).set(1, 2);
    cluster.pollMs.set(2, 400);
    fetcher.add(P0, 0n);
    fetcher.add(P1, 0n);
    await runTo(100);
    // p0 moves: broker 1 says so, and the fetcher asks for the leaders (an answer held back).
    cluster.heldLookups = [];
    cluster.leader.set(0, 3);
    await runTo(300);
    assert.equal(cluster.heldLookups.length, 1, "leaders asked for once");
    // p1 moves while that answer is on its way: broker 2's long poll (sent at 0) says so at 400.
    cluster.leader.set(1, 3);
    await runTo(450);
    const answers = cluster.heldLookups;
    cluster.heldLookups = undefined;
    for (const answer of answers) answer();
    await runTo(1500);
    assert.deepEqual(failures, []);
    assert.deepEqual(cluster.fetchesOf(1, 2, 401), [], "p1 not fetched from broker 2 after it said p1 moved");
    const [first] = cluster.fetchesOf(1, 3);
    assert.ok(first !== undefined && first <= 700, `p1 fetched from broker 3 at ${first}`);
    fetcher.close();
  });
});
