// What a multi-node test cluster looks like right now: partition leaders and in-sync replicas (of
// internal topics too), the group coordinator, and a wait until every partition is fully replicated.
// The failover chaos test (tests/support/chaos/) calls these with its admin client; as a script it
// answers scripts/kafka/cluster.sh `leader`, `coordinator` and `in-sync`:
//
//   node scripts/kafka/cluster-info.ts leader <topic> <partition> | coordinator <group> | in-sync [timeout_s]
//
// Env: PYRALLEL_CLUSTER_BROKERS (comma-separated host:port; cluster.sh sets it).
import { Admin, FindCoordinatorKeyTypes, metadataV12 } from "@platformatic/kafka";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** One partition as the cluster's metadata describes it. */
export interface PartitionState {
  topic: string;
  partition: number;
  /** Node id of the leader; -1 while the partition has none. */
  leader: number;
  leaderEpoch: number;
  replicas: number[];
  isr: number[];
  /** Replicas on nodes the cluster does not list as alive (fenced or not registered). */
  offline: number[];
}

function brokerAddresses(admin: Admin): { host: string; port: number }[] {
  return admin.currentMetadata
    ? [...admin.currentMetadata.brokers.values()].map(({ host, port }) => ({ host, port }))
    : [];
}

/**
 * Leaders and ISRs of `topics` (every topic, internal ones included, when `null`), asked of the
 * first broker that answers (not from the client's cache).
 */
export async function partitionStates(
  admin: Admin,
  bootstrap: readonly string[],
  topics: readonly string[] | null,
): Promise<PartitionState[]> {
  const brokers = [
    ...bootstrap.map((address) => {
      const at = address.lastIndexOf(":");
      return { host: address.slice(0, at), port: Number(address.slice(at + 1)) };
    }),
    ...brokerAddresses(admin),
  ];
  const connection = await admin.connections.getFirstAvailable(brokers);
  const response = await metadataV12.api.async(connection, topics === null ? null : [...topics], false, false);
  const live = new Set(response.brokers.map((broker) => broker.nodeId));
  const states: PartitionState[] = [];
  for (const topic of response.topics) {
    if (topic.errorCode !== 0) throw new Error(`metadata of ${topic.name}: error code ${topic.errorCode}`);
    for (const p of topic.partitions) {
      states.push({
        topic: topic.name!,
        partition: p.partitionIndex,
        leader: p.leaderId,
        leaderEpoch: p.leaderEpoch,
        replicas: [...p.replicaNodes],
        isr: [...p.isrNodes],
        offline: p.replicaNodes.filter((node) => !live.has(node)),
      });
    }
  }
  return states.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
}

/** Node id of the group's coordinator (rejects while none is available). */
export async function groupCoordinator(admin: Admin, groupId: string): Promise<number> {
  const [coordinator] = await admin.findCoordinator({ keyType: FindCoordinatorKeyTypes.GROUP, keys: [groupId] });
  if (!coordinator || coordinator.nodeId < 0) throw new Error(`no coordinator for group ${groupId}`);
  return coordinator.nodeId;
}

/** Partitions without a leader, or with a replica out of the ISR or on a node not alive. */
export function underReplicated(states: readonly PartitionState[]): PartitionState[] {
  return states.filter((state) =>
    state.leader < 0 || state.isr.length < state.replicas.length || state.offline.length > 0
  );
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Waits until every partition (of `topics`, or of every topic) has a leader and all its replicas in
 * sync; rejects after `timeoutMs` naming the partitions still short.
 */
export async function waitInSync(
  admin: Admin,
  bootstrap: readonly string[],
  topics: readonly string[] | null,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let short: PartitionState[] = [];
  let lastError: unknown;
  for (;;) {
    try {
      short = underReplicated(await partitionStates(admin, bootstrap, topics));
      if (short.length === 0) return;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const list = short.slice(0, 8).map((s) => `${s.topic}[${s.partition}] leader ${s.leader} isr ${s.isr.join(",")}`);
      throw new Error(
        `partitions not fully in sync after ${timeoutMs} ms: ${list.join("; ") || String(lastError)}`,
      );
    }
    await sleep(200);
  }
}

async function main(args: string[]): Promise<void> {
  const bootstrap = (process.env.PYRALLEL_CLUSTER_BROKERS ?? "127.0.0.1:19192").split(",");
  const admin = new Admin({ clientId: "pyrallel-cluster-info", bootstrapBrokers: bootstrap, retries: 2 });
  try {
    const [command, ...rest] = args;
    if (command === "leader" && rest.length === 2) {
      const [topic, partition] = rest as [string, string];
      const state = (await partitionStates(admin, bootstrap, [topic])).find((s) => s.partition === Number(partition));
      if (!state) throw new Error(`${topic}[${partition}] does not exist`);
      console.log(state.leader);
    } else if (command === "coordinator" && rest.length === 1) {
      console.log(await groupCoordinator(admin, rest[0]!));
    } else if (command === "in-sync" && rest.length <= 1) {
      const started = Date.now();
      await waitInSync(admin, bootstrap, null, Number(rest[0] ?? 60) * 1000);
      console.log(`every partition fully in sync (waited ${Date.now() - started} ms)`);
    } else {
      console.error("usage: cluster-info.ts leader <topic> <partition> | coordinator <group> | in-sync [timeout_s]");
      process.exitCode = 2;
    }
  } catch (error) {
    console.error(`cluster-info: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  } finally {
    await admin.close().catch(() => {});
  }
}

// Run as a script (cluster.sh), not when imported.
if (process.argv[1] === fileURLToPath(import.meta.url)) await main(process.argv.slice(2));
