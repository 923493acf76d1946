// Warm up the group coordinator of a freshly started test broker.
//
// Kafka creates __consumer_offsets lazily, on the first FindCoordinator for a group. Until that
// topic exists and is loaded, group calls fail with COORDINATOR_NOT_AVAILABLE or
// COORDINATOR_LOAD_IN_PROGRESS. This script retries until a consumer can really join and leave
// a tiny group, so the tests start against a ready coordinator.
//
// Run with the repo's Node 22: node_modules/.bin/node scripts/kafka/warm-up.mjs
// Env: PYRALLEL_KAFKA_PORT (default 9092), PYRALLEL_KAFKA_WARMUP_TIMEOUT_MS (default 60000).
import { Admin, Consumer, FindCoordinatorKeyTypes, findErrorBy } from "@platformatic/kafka";

const port = Number(process.env.PYRALLEL_KAFKA_PORT ?? 9092);
const timeoutMs = Number(process.env.PYRALLEL_KAFKA_WARMUP_TIMEOUT_MS ?? 60_000);
const bootstrapBrokers = [`127.0.0.1:${port}`];
const groupId = `pyrallel-warm-up-${process.pid}`;
const deadline = Date.now() + timeoutMs;

// Errors that only mean "not ready yet".
const NOT_READY = ["COORDINATOR_NOT_AVAILABLE", "COORDINATOR_LOAD_IN_PROGRESS", "NOT_COORDINATOR"];
function notReady(error) {
  return NOT_READY.some((id) => findErrorBy(error, "apiId", id)) ||
    findErrorBy(error, "code", "PLT_KFK_NETWORK") !== null;
}

const notReadyCodes = [];
async function retry(what, fn) {
  let attempts = 0;
  for (;;) {
    attempts++;
    try {
      return await fn();
    } catch (error) {
      if (!notReady(error) || Date.now() > deadline) {
        error.message = `${what} failed after ${attempts} attempt(s): ${error.message}`;
        throw error;
      }
      notReadyCodes.push(`${what}: ${NOT_READY.find((id) => findErrorBy(error, "apiId", id)) ?? "network"}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

// One line per failure: the client nests the real cause (network, protocol) inside MultipleErrors.
function explain(error) {
  const inner = (error.errors ?? []).map(explain).join("; ");
  return `${error.apiId ?? error.code ?? error.name}: ${error.message}${inner ? ` [${inner}]` : ""}`;
}

const started = Date.now();
// retries: 0 so that our own loop (short delay, one deadline) decides about retrying.
const admin = new Admin({ clientId: "pyrallel-warm-up-admin", bootstrapBrokers, retries: 0 });
const consumer = new Consumer({ clientId: "pyrallel-warm-up", groupId, bootstrapBrokers, retries: 0 });
try {
  // 1. FindCoordinator creates __consumer_offsets; it answers once its partition is led.
  const [coordinator] = await retry(
    "findCoordinator",
    () => admin.findCoordinator({ keyType: FindCoordinatorKeyTypes.GROUP, keys: [groupId] }),
  );

  // 2. A real classic-protocol group round trip: JoinGroup + SyncGroup, then describe and leave.
  const memberId = await retry(
    "joinGroup",
    () => consumer.joinGroup({ sessionTimeout: 6000, rebalanceTimeout: 6000, heartbeatInterval: 1000 }),
  );
  const group = (await retry("describeGroups", () => admin.describeGroups({ groups: [groupId] }))).get(groupId);
  await consumer.leaveGroup();
  await retry("deleteGroups", () => admin.deleteGroups({ groups: [groupId] }));

  console.log(
    `group coordinator ready: node ${coordinator.nodeId} at ${coordinator.host}:${coordinator.port}; ` +
      `group ${groupId} was ${group?.state} with ${group?.members?.size ?? "?"} member(s) (${memberId}); ` +
      `${((Date.now() - started) / 1000).toFixed(1)}s; not-ready answers: ${notReadyCodes.join(", ") || "none"}`,
  );
} catch (error) {
  console.error(`warm-up against 127.0.0.1:${port} failed: ${explain(error)}`);
  process.exitCode = 1;
} finally {
  await consumer.close(true).catch(() => {});
  await admin.close().catch(() => {});
}
