// Broker failover under load: three consumer processes in one group read a topic of a 3-node
// cluster of their own (replication factor 3, min.insync.replicas 2; scripts/kafka/cluster.sh)
// while an idempotent producer (acks=all, retrying) writes. Mid-stream a node is SIGKILLed — first
// the leader of busy partitions, then the group coordinator's node — and restarted once the cluster
// has moved its leaderships, the cluster whole again before the next kill. Our fetcher follows the
// leaders itself (src/adapters/group/fetcher.ts), so this is where leader changes are tested for real.
// After a clean final consumer drained everything (the same run and checks as the chaos suite,
// tests/support/chaos/) it checks:
//   - every offset was processed, and within one ownership each key ran in offset order, one at a time,
//   - no consumer process exited or was restarted: they consumed through both failovers,
//   - the consumers' metrics show the stall while leadership moved, and fetching of the killed
//     leader's partitions resumed on their new leaders while it was still down,
//   - duplicates only as replays after a failover, within what was in flight plus one commit interval,
//   - the poison message is in <topic>.dlq and no commit passed it before; committed = log end.
//
//   npm test -- failover                    on Node, Deno and Bun (CI); starts and stops its cluster
//   PYRALLEL_RUNTIMES=node npm test -- failover
//   CHAOS_SEED=1234                         replay the keys and the poison message's place
//   PYRALLEL_CLUSTER_PORT=19192             base port of the cluster (clients on +0, +2, +4)
//   CHAOS_KEEP_RECORDS=1                    keep the per-process records and logs for inspection
//   CHAOS_GROUP_PROTOCOL=classic            the classic group protocol (default: the consumer protocol)
import assert from "node:assert/strict";
import process from "node:process";
import { test } from "node:test";
import { brokerKill, startCluster } from "../support/chaos/failover.ts";
import { type ChaosConfig, type ChaosResult, runChaos, summarise } from "../support/chaos/run.ts";

const env = process.env;
const seed = env.CHAOS_SEED ? Number(env.CHAOS_SEED) : Math.floor(Math.random() * 2 ** 31);
const clusterPort = Number(env.PYRALLEL_CLUSTER_PORT ?? 19192);
const produceMs = Number(env.CHAOS_PRODUCE_S ?? 30) * 1000;
const classic = env.CHAOS_GROUP_PROTOCOL === "classic";
const SESSION_TIMEOUT_MS = 10_000;
// The consumer processes check that a (classic) rebalance may take as long as a session.
env.CHAOS_REBALANCE_TIMEOUT_MS ??= String(SESSION_TIMEOUT_MS);
const log = (line: string) => console.log(line);

function config(brokers: string[], port: number): ChaosConfig {
  const fault = { port, downAfterMovedMs: 3000, timeoutMs: 30_000 };
  return {
    seed,
    brokers,
    brokerPort: 0,
    replicas: 3,
    waitForBalance: true,
    faults: [
      // The second starts once the first has ended; production goes on until both have.
      brokerKill({ ...fault, at: 0.1 * produceMs, target: "leader" }),
      brokerKill({ ...fault, at: 0.4 * produceMs, target: "coordinator" }),
    ],
    produceAfterFaultsMs: 3000,
    partitions: 12,
    processes: 3,
    keys: 300,
    messages: Number(env.CHAOS_MESSAGES ?? 9000),
    produceMs,
    kills: 0,
    killFrom: 0,
    killTo: 1,
    restartDelayMs: [0, 0],
    brokerRestarts: 0,
    brokerDownMs: 0,
    commitIntervalMs: 500,
    sampleMs: 200,
    handlerDelayMs: [2, 15],
    slowShare: 0.02,
    slowDelayMs: 300,
    concurrency: 64,
    maxInFlight: 500,
    // Longer than a broker's fencing (4 s here, 9 s by default) and then some: until the dead node
    // leaves the ISR of __consumer_offsets, the coordinator answers no heartbeat (its writes wait
    // for acks=all), and a shorter session fences every member at each kill (Kafka's default: 45 s).
    sessionTimeoutMs: SESSION_TIMEOUT_MS,
    finalDrainTimeoutMs: 30_000,
    log,
  };
}

// One run, shared by the checks below (each its own test, so one broken property does not hide the others).
let run: Promise<ChaosResult> | undefined;
function failover(): Promise<ChaosResult> {
  run ??= (async () => {
    console.log(`failover: CHAOS_SEED=${seed} (set CHAOS_SEED to replay the keys and the poison message)`);
    const cluster = await startCluster(clusterPort, log);
    try {
      const result = await runChaos(config(cluster.brokers, cluster.port));
      console.log(summarise(result));
      return result;
    } finally {
      await cluster.stop();
    }
  })();
  return run;
}

const name = `failover (seed ${seed}${classic ? ", classic protocol" : ""})`;

test(`${name}: both brokers were killed and came back, and the log holds what was produced`, async () => {
  const result = await failover();
  assert.deepEqual(result.faults.map((fault) => fault.name), ["leader killed", "coordinator killed"]);
  assert.ok(result.faults[0]!.partitions.length > 0, "the first kill took down the leader of some partitions");
  assert.ok(result.report.poison, "the poison message is in the log");
  // Idempotent producer: each acknowledged message is in the log once; a send that failed after
  // the client's retries is sent again as new records, so those may be in it twice.
  if (result.producerResends === 0) assert.equal(result.report.inLog, result.producedAcked, "log = produced");
  else assert.ok(result.report.inLog >= result.producedAcked, "log ≥ produced");
});

test(`${name}: every offset was processed at least once`, async () => {
  const { report } = await failover();
  assert.deepEqual(report.lost, [], "offsets never processed");
  assert.deepEqual(report.mismatchedKeys, [], "records match the log");
  assert.equal(report.processed, report.inLog - 1);
});

test(`${name}: each key ran in offset order within an ownership, and never in two processes at once`, async () => {
  const { report } = await failover();
  assert.ok(report.ownerships >= 3, `the check saw ownerships (${report.ownerships})`);
  assert.deepEqual(report.orderViolations, []);
  // The classic protocol has no revoke barrier: a hand-over may overlap (CHAOS_GROUP_PROTOCOL=classic).
  if (!classic) assert.equal(report.crossOwnerOverlaps, 0, "attempts of one key ran in two processes at the same time");
});

test(`${name}: the consumer processes kept going through both failovers, without a restart`, async () => {
  const result = await failover();
  const describe = (exits: typeof result.unexpectedExits) =>
    exits.map((exit) => `${exit.id} (pid ${exit.pid}) exit ${exit.code ?? exit.signal}: ${exit.errors.join("; ")}`)
      .join("\n");
  assert.equal(result.unexpectedExits.length, 0, `processes exited on their own:\n${describe(result.unexpectedExits)}`);
  assert.equal(result.restarts, 0, "no consumer process was restarted");
  assert.equal(
    result.closeFailures.length,
    0,
    `graceful closes that did not exit 0:\n${describe(result.closeFailures)}`,
  );
});

test(`${name}: the metrics show the stall, and the killed leader's partitions resumed on their new leaders while it was down`, async () => {
  const result = await failover();
  result.stalls.forEach((stall, i) => {
    const fault = result.faults[i]!;
    const led = stall.partitions.filter((p) => p.ledByVictim);
    assert.ok(led.length > 0, `${fault.name}: partitions it led`);
    for (const partition of led) {
      // Nothing new is visible while the dead node is still in the ISR (acks=all), and its
      // partitions have no leader until the controller fences it: a stall the metrics must show.
      assert.ok(
        partition.fetchMs >= 1000,
        `${fault.name}: p${partition.partition} stalled only ${partition.fetchMs} ms`,
      );
      assert.ok(
        partition.fetchedInFollowWindow !== null,
        `${fault.name}: p${partition.partition} was not fetched from its new leader while node ${fault.victim} was down`,
      );
      // The consumers' own part: from records acknowledged (or the leadership moved) to fetched.
      // A fraction of a second; 3 s would mean retries behind the fetcher's back, or long backoffs.
      assert.ok(
        partition.fetchDelayMs < 3000,
        `${fault.name}: p${partition.partition}'s records were fetched ${partition.fetchDelayMs} ms after they could be`,
      );
    }
    for (const partition of stall.partitions) {
      assert.ok(
        partition.fetchResumedAt !== null,
        `${fault.name}: p${partition.partition} never fetched again (${partition.trail})`,
      );
      assert.ok(partition.commitResumedAt !== null, `${fault.name}: p${partition.partition} never committed again`);
    }
  });
});

test(`${name}: duplicates are replays after a failover, within in flight plus a commit interval`, async () => {
  const { report } = await failover();
  assert.equal(report.duplicatesFromKills, 0, "no consumer process was killed");
  assert.ok(
    report.duplicatesFromHandovers <= report.handoverBound,
    `duplicates at hand-overs ${report.duplicatesFromHandovers} > their bound ${report.handoverBound}`,
  );
});

test(`${name}: the poison message is in <topic>.dlq, no commit passed it before, committed = log end`, async () => {
  const { report } = await failover();
  assert.ok(report.dlq.records >= 1, "dead letter of the poison message");
  assert.equal(
    report.dlq.committedBeforeDeadLetter,
    false,
    "a commit passed the poison message before its dead letter",
  );
  assert.ok(report.finalCommittedEqualsEnd, "final committed offsets = log end offsets");
});
