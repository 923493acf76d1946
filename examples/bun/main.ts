// Quick start for Bun:  bun examples/bun/main.ts   (Ctrl-C to stop)
// Reads the topic `demo-orders` of the local broker; create and fill it first with
// `DEMO_SECONDS=10 npm run demo` (start() rejects with "Unknown topic" while it is missing).
//
// In your own project: bun add @pyrallel/consumer hono
//   import { createParallelConsumer } from "@pyrallel/consumer";
//   import { createMetricsApp } from "@pyrallel/consumer/metrics";
import { Hono } from "hono";
import { createParallelConsumer } from "../../mod.ts";
import { createMetricsApp } from "../../src/metrics/mod.ts";

const consumer = createParallelConsumer({
  kafka: { bootstrapBrokers: ["127.0.0.1:9092"], groupId: "quickstart-bun", topics: ["demo-orders"] },
  ordering: "key", // messages of one key run one at a time, in offset order
  handler: async (message) => {
    const order = JSON.parse(new TextDecoder().decode(message.value!));
    await new Promise((resolve) => setTimeout(resolve, 5, order)); // your I/O here, e.g. save(order)
  },
});
consumer.on("error", (error) => console.error(error));
await consumer.start();

// Prometheus metrics on http://localhost:9464/metrics (also /metrics.json, /health, /ready).
const app = new Hono().route("/", createMetricsApp(consumer));
const server = Bun.serve({ port: 9464, fetch: app.fetch });
const status = setInterval(() => {
  const { processedTotal, totalInFlight, isPaused } = consumer.getMetrics();
  console.log(`processed ${processedTotal}, in flight ${totalInFlight}, paused ${isPaused}`);
}, 1000);

async function stop(): Promise<void> {
  clearInterval(status);
  await server.stop();
  await consumer.close(); // lets accepted work finish, commits, leaves the group
}
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
