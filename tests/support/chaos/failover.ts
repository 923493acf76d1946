// The failover chaos run's cluster and faults (tests/chaos/failover.test.ts): a 3-node KRaft
// cluster of its own (scripts/kafka/cluster.sh), and nodes of it SIGKILLed mid-stream — the leader
// of busy partitions, then the group coordinator's node — kept down until the cluster has moved
// their leaderships (and a while longer, so the consumers must follow the new leaders while the old
// one is gone), then restarted and waited for until the cluster is whole again: every partition
// fully in sync and led by its preferred replica, before the next fault.
import { execFile } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { type PartitionState, underReplicated } from "../../../scripts/kafka/cluster-info.ts";
import type { ClusterFault } from "./run.ts";

const CLUSTER_SCRIPT = fileURLToPath(new URL("../../../scripts/kafka/cluster.sh", import.meta.url));
/** cluster.sh's exit code when the ports of a base port are taken (e.g. by someone else's run). */
const PORTS_TAKEN = 75;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs `cluster.sh args…` for the cluster on base port `port`; resolves with its output. */
export function clusterScript(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      "bash",
      [CLUSTER_SCRIPT, ...args],
      { env: { ...process.env, PYRALLEL_CLUSTER_PORT: String(port) } },
      (error, stdout, stderr) => {
        if (error) {
          const failure = new Error(`cluster.sh ${args.join(" ")} failed: ${stderr.trim() || error.message}`);
          (failure as Error & { exitCode?: unknown }).exitCode = (error as { code?: unknown }).code;
          reject(failure);
        } else {
          resolve(stdout.trim());
        }
      },
    );
  });
}

/** A started cluster: its base port and bootstrap brokers. */
export interface TestCluster {
  port: number;
  brokers: string[];
  stop(): Promise<void>;
}

/**
 * Starts a fresh cluster owned by this process (a watchdog kills it once this process is gone, so
 * no JVM outlives a killed test run), on `port` or, when its ports are taken, 100, 200, … above.
 */
export async function startCluster(port: number, log: (line: string) => void): Promise<TestCluster> {
  for (let attempt = 0;; attempt++) {
    const base = port + 100 * attempt;
    const started = Date.now();
    try {
      log(await clusterScript(base, "start", "--owner", String(process.pid)));
    } catch (error) {
      if ((error as { exitCode?: unknown }).exitCode === PORTS_TAKEN && attempt < 5) {
        log(`cluster: ports from ${base} taken, trying ${base + 100}`);
        continue;
      }
      throw error;
    }
    const brokers = (await clusterScript(base, "brokers")).split(",");
    log(`cluster: 3 nodes on ${brokers.join(", ")} ready in ${Date.now() - started} ms`);
    return {
      port: base,
      brokers,
      stop: async () => log(await clusterScript(base, "stop")),
    };
  }
}

export interface BrokerKillOptions {
  /** When, in ms after production started, and no sooner than 3 s after the previous fault ended. */
  at: number;
  /** Base port of the cluster. */
  port: number;
  /** Which node: the one leading most partitions of the topic (not the coordinator's), or the coordinator's. */
  target: "leader" | "coordinator";
  /** How long the node stays down after the cluster moved its leaderships away. */
  downAfterMovedMs: number;
  /** Longest wait for the cluster to move leaderships, and to be whole again after the restart. */
  timeoutMs: number;
}

/** Polls `check` every 100 ms until it holds; rejects with `what` after `timeoutMs`. */
async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error; // a request to the killed node, a coordinator still moving: ask again
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not after ${timeoutMs} ms${lastError ? ` (last error: ${String(lastError)})` : ""}`);
    }
    await sleep(100);
  }
}

const leaders = (states: readonly PartitionState[]) => states.map((s) => `p${s.partition}→${s.leader}`).join(" ");

/**
 * SIGKILL of one node mid-stream; once the cluster has moved its leaderships (and the coordinator)
 * and a while after, the node is restarted, and the fault ends when the cluster is whole again.
 */
export function brokerKill(options: BrokerKillOptions): ClusterFault {
  const { port, target, downAfterMovedMs, timeoutMs } = options;
  return {
    at: options.at,
    afterPreviousMs: 3000,
    expectedMs: 4000 + downAfterMovedMs + 8000,
    async run({ topic, groupId, kafka, note }) {
      const states = await kafka.partitionStates([topic]);
      const coordinator = await kafka.coordinator(groupId);
      let victim = coordinator;
      if (target === "leader") {
        const led = new Map<number, number>();
        for (const { leader } of states) if (leader !== coordinator) led.set(leader, (led.get(leader) ?? 0) + 1);
        victim = [...led].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]![0];
      }
      const partitions = states.filter((s) => s.leader === victim).map((s) => s.partition);
      const name = target === "leader" ? "leader killed" : "coordinator killed";
      note(
        `failover: SIGKILL node ${victim}, ${
          target === "leader" ? "not the coordinator" : "the group coordinator"
        }, leader of [${partitions.join(",")}] (leaders ${leaders(states)}; coordinator ${coordinator})`,
      );
      const killed = Date.now();
      await clusterScript(port, "kill", String(victim));
      const marks: Record<string, number> = {};

      // The controller fences the node after its session timeout: new leaders, smaller ISRs.
      let moved: PartitionState[] = [];
      await until(`leaders moved away from node ${victim}`, timeoutMs, async () => {
        moved = await kafka.partitionStates(null);
        return moved.every((s) => s.leader >= 0 && s.leader !== victim && !s.isr.includes(victim));
      });
      marks.leadersMoved = Date.now();
      note(
        `failover: node ${victim}'s leaderships moved after ${marks.leadersMoved - killed} ms (${
          leaders(moved.filter((s) => s.topic === topic && partitions.includes(s.partition)))
        })`,
      );
      if (target === "coordinator") {
        let now = victim;
        await until(`group coordinator moved away from node ${victim}`, timeoutMs, async () => {
          now = await kafka.coordinator(groupId);
          return now !== victim;
        });
        marks.coordinatorMoved = Date.now();
        note(`failover: group coordinator now node ${now}, ${marks.coordinatorMoved - killed} ms after the kill`);
      }

      await sleep(downAfterMovedMs);
      marks.restarting = Date.now();
      note(await clusterScript(port, "restart", String(victim)));
      marks.restarted = Date.now();
      // Whole again: every partition fully in sync, its preferred replica leading (the cluster moves
      // leaderships back on its own, every few seconds: leader.imbalance.check.interval.seconds).
      await until("the cluster whole again (full ISRs, preferred leaders)", timeoutMs, async () => {
        const all = await kafka.partitionStates(null);
        return underReplicated(all).length === 0 && all.every((s) => s.leader === s.replicas[0]);
      });
      const whole = Date.now();
      note(
        `failover: node ${victim} back in every ISR and leading its preferred partitions ${
          whole - marks.restarted
        } ms after its restart (${whole - killed} ms after the kill)`,
      );
      return {
        name,
        victim,
        from: killed,
        to: whole,
        marks,
        followWindow: [marks.leadersMoved, marks.restarting],
        partitions,
      };
    },
  };
}
