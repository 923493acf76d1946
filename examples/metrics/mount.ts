// The metrics endpoint inside your own Hono app: createMetricsApp(consumer) mounted under /ops next
// to the app's own routes, served on Node with @hono/node-server.
//
//   node examples/metrics/mount.ts                  (Ctrl-C to stop; the local broker must run:
//                                                    `npm run broker:start`)
//   EXAMPLE_SECONDS=10 node examples/metrics/mount.ts   (stops by itself)
//   curl -s 127.0.0.1:3000/ops/metrics              Prometheus text (scrape job: metrics_path /ops/metrics)
//   curl -s 127.0.0.1:3000/ops/ready                200 once partitions are assigned, 503 while closing
//   curl -s 127.0.0.1:3000/ops/metrics.json         getMetrics() as JSON
//   http://127.0.0.1:3000/ops/ in a browser          the live status page (it polls /ops/metrics.json)
//   curl -s 127.0.0.1:3000/                         the app's own route
//
// It reads the demo's topic `demo-orders` (created here if missing; `DEMO_SECONDS=10 npm run demo`
// fills it). Env: EXAMPLE_PORT (default 3000), EXAMPLE_SECONDS (0 = until Ctrl-C), DEMO_BROKER.
//
// In your own project: npm install @pyrallel/consumer hono @hono/node-server
//   import { createParallelConsumer } from "@pyrallel/consumer";
//   import { createMetricsApp } from "@pyrallel/consumer/metrics";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { createParallelConsumer } from "../../mod.ts";
import { createMetricsApp } from "../../src/metrics/mod.ts";
import { ensureTopic } from "../demo/kafka.ts";

const broker = process.env.DEMO_BROKER ?? "127.0.0.1:9092";
const port = Number(process.env.EXAMPLE_PORT ?? 3000);
const seconds = Number(process.env.EXAMPLE_SECONDS ?? 0);
const topic = "demo-orders";

// Only so that the example runs on a fresh broker; your topics exist already.
await ensureTopic([broker], topic, 6);

let processed = 0;
const consumer = createParallelConsumer({
  kafka: { bootstrapBrokers: [broker], groupId: "metrics-mount-example", topics: [topic] },
  handler: async () => {
    await new Promise((resolve) => setTimeout(resolve, 2)); // your I/O here
    processed++;
  },
});
consumer.on("error", (error) => console.error(`consumer error: ${error.message}`));
// A stall is also logged (option `logger`); the event is for alerting or tracing.
consumer.on("stall", (stall) => {
  console.warn(`stall: ${stall.topic}[${stall.partition}] offset ${stall.offset} for ${stall.blockingDurationSec} s`);
});

// ---- your application ----
const app = new Hono();
app.get("/", (c) => c.json({ service: "orders", processed }));
// Add your own middleware for /ops/* (auth, IP allow-list) before mounting it if it must not be public.
app.route("/ops", createMetricsApp(consumer)); // /ops/ (status page), /ops/metrics, /ops/metrics.json, /ops/health, /ops/ready

const server = serve({ fetch: app.fetch, port, hostname: "127.0.0.1" });
await consumer.start();
console.log(`joined group metrics-mount-example; try curl -s http://127.0.0.1:${port}/ops/metrics`);

let stopping = false;
async function stop(reason: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`${reason}: closing the consumer (/ops/ready answers 503 from now on)`);
  const ready = await app.request("/ops/ready");
  const closing = consumer.close(); // lets accepted work finish, commits, leaves the group
  const whileClosing = await app.request("/ops/ready");
  await closing;
  console.log(
    `/ops/ready before close: ${ready.status}, while closing: ${whileClosing.status}; processed ${processed}`,
  );
  server.close();
}
process.once("SIGINT", () => void stop("SIGINT"));
process.once("SIGTERM", () => void stop("SIGTERM"));
if (seconds > 0) setTimeout(() => void stop(`${seconds} s elapsed`), seconds * 1000);
