// Quick start for Deno 2:  deno run -A examples/deno/main.ts   (Ctrl-C to stop)
// Reads the topic `demo-orders` of the local broker; create and fill it first with
// `DEMO_SECONDS=10 npm run demo` (start() rejects with "Unknown topic" while it is missing).
//
// In your own project: deno add jsr:@pyrallel/consumer npm:hono  (deno.json then maps the names)
//   import { createParallelConsumer } from "@pyrallel/consumer";
//   import { createMetricsApp } from "@pyrallel/consumer/metrics";
//
// The reference below is for type checks inside this repo only (its tsconfig.json has no Deno
// types); leave it out in your own project.
/// <reference path="./deno-globals.d.ts" />
import { Hono } from "hono";
import { createParallelConsumer } from "../../mod.ts";
import { createMetricsApp } from "../../src/metrics/mod.ts";

const consumer = createParallelConsumer({
  kafka: { bootstrapBrokers: ["127.0.0.1:9092"], groupId: "quickstart-deno", topics: ["demo-orders"] },
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
const server = Deno.serve({ port: 9464 }, app.fetch);
const status = setInterval(() => {
  const { processedTotal, totalInFlight, isPaused } = consumer.getMetrics();
  console.log(`processed ${processedTotal}, in flight ${totalInFlight}, paused ${isPaused}`);
}, 1000);

async function stop(): Promise<void> {
  clearInterval(status);
  await server.shutdown();
  await consumer.close(); // lets accepted work finish, commits, leaves the group
}
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);
