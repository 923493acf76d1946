// Reliability under chaos: consumer processes in one group are SIGKILLed and restarted at random
// while a producer writes (and, in the full size, the broker is stopped and started mid-run).
// At the end, after a clean final consumer drained everything:
//   - every offset of the log was processed at least once (from the processes' records),
//   - within one ownership (process + assignment), each key ran in offset order, one at a time,
//   - duplicates stay within what was at risk at the kills (in flight + one commit interval), and
//     graceful hand-overs (members joining, closing) run nothing twice and never run a key in two
//     processes at once: the consumer group protocol's revoke barrier (with broker restarts, the
//     full size only bounds them: a hand-over's commit may fail while the broker is down),
//   - the poison message is in <topic>.dlq, and no sampled commit passed its offset before that,
//   - the committed offsets are the log end offsets,
//   - no consumer process crashes, and a graceful close() exits cleanly.
//
//   npm test -- chaos                      reduced size, on Node, Deno and Bun (CI)
//   CHAOS_FULL=1 PYRALLEL_RUNTIMES=node npm test -- chaos
//                                          full size: minutes, with a broker restart, on its own
//                                          broker (port CHAOS_BROKER_PORT, default 29092; started
//                                          fresh and stopped again by the test unless it already ran),
//                                          so the broker other tests use is never restarted
//   CHAOS_SEED=1234                        replay a schedule (kill times, victims, keys)
//   CHAOS_GROUP_PROTOCOL=classic           the classic (eager) protocol, for comparison: its graceful
//                                          hand-overs are only bounded, not free of duplicates
//   CHAOS_KEEP_RECORDS=1                   keep the per-process record files for inspection
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import process from "node:process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { type ChaosConfig, type ChaosResult, runChaos, summarise } from "../support/chaos/run.ts";

const env = process.env;
const full = env.CHAOS_FULL === "1" || env.CHAOS_FULL === "true";
const seed = env.CHAOS_SEED ? Number(env.CHAOS_SEED) : Math.floor(Math.random() * 2 ** 31);
const classic = env.CHAOS_GROUP_PROTOCOL === "classic";
const brokerScript = fileURLToPath(new URL("../../scripts/kafka/broker.sh", import.meta.url));
const brokerPort = full ? Number(env.CHAOS_BROKER_PORT ?? 29092) : Number(env.PYRALLEL_KAFKA_PORT ?? 9092);
const log = (line: string) => console.log(line);

const common = {
  seed,
  brokers: [`127.0.0.1:${brokerPort}`],
  brokerPort,
  partitions: 12,
  processes: 3,
  keys: 300,
  killFrom: 0.15,
  killTo: 0.85,
  sampleMs: 200,
  handlerDelayMs: [2, 15] as [number, number],
  slowShare: 0.02,
  slowDelayMs: 300,
  concurrency: 64,
  maxInFlight: 500,
  sessionTimeoutMs: 3000,
  log,
} satisfies Partial<ChaosConfig>;

const config: ChaosConfig = full
  ? {
    ...common,
    messages: Number(env.CHAOS_MESSAGES ?? 60_000),
    produceMs: Number(env.CHAOS_PRODUCE_S ?? 120) * 1000,
    kills: Number(env.CHAOS_KILLS ?? 12),
    restartDelayMs: [500, 4000],
    brokerRestarts: Number(env.CHAOS_BROKER_RESTARTS ?? 1),
    brokerDownMs: 5000,
    commitIntervalMs: 1000,
    finalDrainTimeoutMs: 120_000,
  }
  : {
    ...common,
    messages: Number(env.CHAOS_MESSAGES ?? 6000),
    produceMs: Number(env.CHAOS_PRODUCE_S ?? 12) * 1000,
    kills: Number(env.CHAOS_KILLS ?? 3),
    restartDelayMs: [300, 1500],
    brokerRestarts: 0,
    brokerDownMs: 0,
    commitIntervalMs: 500,
    finalDrainTimeoutMs: 30_000,
  };

function broker(command: "start" | "stop" | "status"): boolean {
  try {
    execFileSync("bash", [brokerScript, command], {
      env: { ...env, PYRALLEL_KAFKA_PORT: String(brokerPort) },
      stdio: "inherit",
    });
    return true;
  } catch (error) {
    if (command === "status") return false;
    throw error;
  }
}

// One chaos run, shared by the checks below (each check is its own test, so one broken property
// does not hide the others). The first test starts it; a run that fails fails every test.
let run: Promise<ChaosResult> | undefined;
function chaos(): Promise<ChaosResult> {
  run ??= (async () => {
    console.log(`chaos: CHAOS_SEED=${seed}${full ? " CHAOS_FULL=1" : ""} (set CHAOS_SEED to replay this schedule)`);
    // The full size restarts its broker: it gets one of its own (fresh; stopped at the end unless
    // it was running before).
    const ownBroker = full && !broker("status");
    if (full) broker("start");
    try {
      const result = await runChaos(config);
      console.log(summarise(result));
      return result;
    } finally {
      if (ownBroker) broker("stop");
    }
  })();
  return run;
}

const size = `${full ? "full" : "reduced"}, seed ${seed}${classic ? ", classic protocol" : ""}`;

test(`chaos (${size}): the run completes with its kills, restarts${full ? " and broker restarts" : ""}`, async () => {
  const result = await chaos();
  assert.equal(result.kills, config.kills);
  assert.ok(result.restarts >= config.kills, `every killed process came back (${result.restarts} restarts)`);
  assert.equal(result.brokerRestarts, config.brokerRestarts);
  assert.ok(result.report.poison, "the poison message is in the log");
  // Idempotent producer: each acknowledged message is in the log once; a batch resent after a
  // failed send (broker down) may be in it twice.
  if (result.producerResends === 0) assert.equal(result.report.inLog, result.producedAcked, "log = produced");
  else assert.ok(result.report.inLog >= result.producedAcked, "log ≥ produced");
});

test(`chaos (${size}): every offset was processed at least once`, async () => {
  const { report } = await chaos();
  assert.deepEqual(report.lost, [], "offsets never processed");
  assert.deepEqual(report.mismatchedKeys, [], "records match the log");
  assert.equal(report.processed, report.inLog - 1);
});

test(`chaos (${size}): within one ownership, each key ran in offset order, one at a time`, async () => {
  const { report } = await chaos();
  assert.ok(report.ownerships >= config.processes, `the check saw ownerships (${report.ownerships})`);
  assert.deepEqual(report.orderViolations, []);
});

test(`chaos (${size}): duplicates stay within what was in flight at the kills plus a commit interval`, async () => {
  const { report } = await chaos();
  for (const kill of report.kills) {
    assert.ok(
      kill.duplicates <= kill.inFlight + kill.commitAllowance,
      `kill of ${kill.id}: ${kill.duplicates} duplicates > in flight ${kill.inFlight} + commit allowance ${kill.commitAllowance}`,
    );
  }
  assert.ok(
    report.duplicatesFromKills <= report.duplicateBound,
    `duplicates at kills ${report.duplicatesFromKills} > bound ${report.duplicateBound} (in flight at kills + commit allowance)`,
  );
  assert.ok(
    report.duplicatesFromHandovers <= report.handoverBound,
    `duplicates at graceful hand-overs ${report.duplicatesFromHandovers} > their bound ${report.handoverBound}`,
  );
});

test(`chaos (${size}): graceful hand-overs run nothing twice, and no key runs in two processes at once`, async () => {
  const { report, brokerRestarts } = await chaos();
  assert.ok(report.handovers > 0, "the run had graceful hand-overs (members joining after kills, closing)");
  if (classic) return; // no revoke barrier: bounded above, not free of them
  assert.equal(report.crossOwnerOverlaps, 0, "attempts of one key ran in two processes at the same time");
  // A hand-over's last commit may fail while the broker is down: then only the bound above holds.
  if (brokerRestarts === 0) {
    assert.equal(report.duplicatesFromHandovers, 0, "messages run again after a graceful hand-over");
  }
});

test(`chaos (${size}): the poison message is in <topic>.dlq, and no commit passed it before that`, async () => {
  const { report } = await chaos();
  assert.ok(report.dlq.records >= 1, "dead letter of the poison message");
  assert.ok(report.dlq.firstPassingSample, "a commit past the poison offset was sampled");
  assert.equal(
    report.dlq.committedBeforeDeadLetter,
    false,
    `commit past the poison offset seen at ${report.dlq.firstPassingSample?.tRes}, dead letter created at ${report.dlq.firstTimestamp}`,
  );
});

test(`chaos (${size}): the final committed offsets are the log end offsets`, async () => {
  const { report } = await chaos();
  assert.ok(report.finalCommittedEqualsEnd);
});

test(`chaos (${size}): consumer processes do not crash, and a graceful close exits cleanly`, async () => {
  const result = await chaos();
  const describe = (exits: typeof result.unexpectedExits) =>
    exits.map((exit) =>
      `${exit.id} (pid ${exit.pid}) exit ${exit.code ?? exit.signal}:\n${
        exit.stderr.split("\n").slice(0, 12).join("\n")
      }`
    ).join("\n\n");
  assert.equal(result.unexpectedExits.length, 0, `processes exited on their own:\n${describe(result.unexpectedExits)}`);
  assert.equal(
    result.closeFailures.length,
    0,
    `graceful closes that did not exit 0:\n${describe(result.closeFailures)}`,
  );
});
