// Child process of tests/integration/offset-map.test.ts: a parallel consumer whose "slow" offsets
// never finish, killed (SIGKILL) by the test while it works. It reports on stdout, one JSON object
// per line, written synchronously so that nothing is lost in a buffer when the process is killed:
//   {"event":"started"}
//   {"event":"completed","offset":N}           written by the handler just before it returns
//   {"event":"commit","commitsTotal":N,"committedOffset":"40","metadataBytes":N,"processedTotal":N}
//   {"event":"error","message":"..."}
//
// Settings come from the environment: PC_TOPIC, PC_GROUP, PC_SLOW (comma-separated offsets),
// PC_ORDERING, PC_DELAY_MS (handler time of the other offsets), PC_CONCURRENCY.
import { writeSync } from "node:fs";
import process from "node:process";
import { createParallelConsumer, type Ordering } from "../../../mod.ts";
import { BROKERS } from "../kafka.ts";

const env = process.env;
const topic = env.PC_TOPIC!;
const groupId = env.PC_GROUP!;
const slow = new Set((env.PC_SLOW ?? "").split(",").filter(Boolean).map(Number));
const ordering = (env.PC_ORDERING ?? "key") as Ordering;
const delayMs = Number(env.PC_DELAY_MS ?? 20);
const concurrency = Number(env.PC_CONCURRENCY ?? 8);

function report(event: Record<string, unknown>): void {
  writeSync(1, `${JSON.stringify(event)}\n`);
}

const consumer = createParallelConsumer({
  kafka: {
    bootstrapBrokers: BROKERS,
    groupId,
    topics: [topic],
    clientId: "it-offset-map-child",
    // Killed without leaving the group: a short session lets the next member take over quickly.
    sessionTimeoutMs: 2000,
    heartbeatIntervalMs: 300,
    rebalanceTimeoutMs: 3000,
  },
  ordering,
  maxInFlight: 1000,
  engine: { kind: "async", concurrency },
  commitIntervalMs: 100,
  handler: async (message, { signal }) => {
    const offset = Number(message.offset);
    if (slow.has(offset)) {
      // Never finishes on its own; fails like an aborted fetch() if the consumer gives up on it.
      await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
      throw signal.reason;
    }
    await new Promise((resolve) => setTimeout(resolve, delayMs * (0.5 + Math.random())));
    report({ event: "completed", offset });
  },
});
consumer.on("error", (error) => report({ event: "error", message: `${error.message}: ${String(error.cause)}` }));

await consumer.start();
report({ event: "started" });

let commitsSeen = 0;
setInterval(() => {
  const metrics = consumer.getMetrics();
  if (metrics.commitsTotal === commitsSeen) return;
  commitsSeen = metrics.commitsTotal;
  const partition = metrics.partitions[0];
  report({
    event: "commit",
    commitsTotal: metrics.commitsTotal,
    committedOffset: partition?.committedOffset?.toString() ?? null,
    metadataBytes: partition?.commitMetadataBytes ?? 0,
    processedTotal: metrics.processedTotal,
  });
}, 5);
