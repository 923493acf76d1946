// Pyrallel Consumer demo: a producer writes orders for ~200 customers at a steady rate; a parallel
// consumer processes them with simulated I/O (1% slow), keeps each customer's orders in order,
// serves Prometheus metrics and the live status page, and prints its state every second.
//
//   npm run demo                           (starts the local broker, then this file)
//   DEMO_RATE=5000 DEMO_SECONDS=30 node examples/demo/main.ts
//   open http://127.0.0.1:9464/ for the live status page; curl -s http://127.0.0.1:9464/metrics
//
// Env: DEMO_RATE (orders/s, default 2000), DEMO_SECONDS (0 = until Ctrl-C), DEMO_SLOW_SHARE
// (default 0.01), DEMO_METRICS_PORT (default 9464), DEMO_BROKER (default 127.0.0.1:9092).
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { type ConsumerMessage, createParallelConsumer } from "../../mod.ts";
import { createMetricsApp } from "../../src/metrics/mod.ts";
import { config } from "./config.ts";
import { ensureTopic, groupPositions } from "./kafka.ts";
import { type Order, startOrderProducer } from "./producer.ts";
import { statusLine } from "./status.ts";

const decoder = new TextDecoder();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- the order check: one order per customer at a time, in the order they were placed ----
const lastByCustomer = new Map<string, { run: number; seq: number }>();
const running = new Set<string>();
let violations = 0;

function violation(text: string): void {
  violations++;
  if (violations <= 10) console.error(`ORDER VIOLATION: ${text}`);
}

async function handleOrder(message: ConsumerMessage): Promise<void> {
  const order = JSON.parse(decoder.decode(message.value!)) as Order;
  const customer = decoder.decode(message.key!);
  if (running.has(customer)) violation(`${customer}: two orders processed at once (seq ${order.seq})`);
  const last = lastByCustomer.get(customer);
  if (last && (order.run < last.run || (order.run === last.run && order.seq <= last.seq))) {
    violation(`${customer}: seq ${order.seq} processed after seq ${last.seq}`);
  }
  lastByCustomer.set(customer, { run: order.run, seq: order.seq });
  running.add(customer);
  try {
    // Simulated I/O: 1-20 ms, and now and then a slow call that holds the commit back.
    await sleep(Math.random() < config.slowShare ? 500 : 1 + Math.random() * 19);
  } finally {
    running.delete(customer);
  }
}

// ---- setup ----
console.log(
  `broker ${config.brokers.join(",")}: topic ${config.topic} ` +
    `${await ensureTopic(config.brokers, config.topic, config.partitions)}`,
);

const consumer = createParallelConsumer({
  kafka: { bootstrapBrokers: config.brokers, groupId: config.groupId, topics: [config.topic] },
  ordering: "key",
  maxInFlight: config.maxInFlight,
  engine: { kind: "async", concurrency: config.concurrency },
  handler: handleOrder,
});
consumer.on("error", (error) => console.error(`consumer error: ${error.message}`, error.cause ?? ""));

const app = new Hono();
app.route("/", createMetricsApp(consumer));
const server = serve({ fetch: app.fetch, port: config.metricsPort, hostname: "127.0.0.1" });
server.on("error", (error) => console.error(`metrics server: ${error.message} (the demo goes on without it)`));

await consumer.start();
console.log(
  `consumer joined group ${config.groupId}; status page on http://127.0.0.1:${config.metricsPort}/, ` +
    `metrics on http://127.0.0.1:${config.metricsPort}/metrics`,
);
const producer = startOrderProducer(config, (error) => console.error(`producer: ${error.message}`));
console.log(
  `producing ${config.rate} orders/s for ${config.customers} customers` +
    (config.seconds > 0 ? ` for ${config.seconds} s` : "; Ctrl-C to stop"),
);

// ---- status every second ----
const started = performance.now();
let lastProcessed = 0;
let lastTick = started;
function printStatus(): void {
  const now = performance.now();
  const metrics = consumer.getMetrics();
  const rate = ((metrics.processedTotal - lastProcessed) * 1000) / Math.max(1, now - lastTick);
  lastProcessed = metrics.processedTotal;
  lastTick = now;
  console.log(
    statusLine({ elapsedSec: (now - started) / 1000, produced: producer.produced, metrics, rate, violations }),
  );
}
const statusTimer = setInterval(printStatus, 1000);

// ---- shutdown: Ctrl-C, SIGTERM or DEMO_SECONDS ----
let stopping = false;
async function shutdown(reason: string): Promise<void> {
  if (stopping) {
    console.log("second signal: exiting without waiting");
    process.exit(130);
  }
  stopping = true;
  clearInterval(statusTimer);
  console.log(`\n${reason}: stopping the producer`);
  await producer.stop();
  console.log("closing the consumer: accepted work finishes, completed progress is committed");
  let code = 0;
  try {
    await consumer.close();
  } catch (error) {
    console.error(`close failed: ${(error as Error).message}`);
    code = 1;
  }
  printStatus();
  server.close();

  const totalSec = (performance.now() - started) / 1000;
  const processed = consumer.getMetrics().processedTotal;
  console.log(
    `\nprocessed ${processed.toLocaleString("en-US")} orders in ${totalSec.toFixed(1)} s ` +
      `(${Math.round(processed / totalSec).toLocaleString("en-US")} msg/s), produced ${
        producer.produced.toLocaleString("en-US")
      }`,
  );
  console.log(`final committed state of group ${config.groupId} (from the broker):`);
  for (const { partition, committed, end } of await groupPositions(config.brokers, config.groupId, config.topic)) {
    const left = end - committed;
    console.log(
      `  ${config.topic}[${partition}] committed ${committed} / log end ${end}` +
        (left === 0n ? " (all done)" : ` (${left} not yet processed: the next run starts there)`),
    );
  }
  console.log(`order violations: ${violations}`);
  if (violations > 0) code = 1;
  process.exit(code);
}

process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));
if (config.seconds > 0) setTimeout(() => void shutdown(`${config.seconds} s elapsed`), config.seconds * 1000);
