// handlerTimeoutMs on a long-lived partition: throughput and the longest event-loop stall, with
// and without it, measured in the same run. Defect 9 of the correctness issue: each attempt used
// to derive its signal with AbortSignal.any() from the partition's signal, which lives as long as
// the assignment; Node's bookkeeping for those is quadratic (100k no-op messages: 3% of the rate,
// a 9.3 s stall). Each attempt now has its own signal, created only when the handler reads it.
//
//   node bench/micro/handler-timeout.ts [messages=100000]
//   node_modules/.bin/deno run -A bench/micro/handler-timeout.ts
//   node_modules/.bin/bun bench/micro/handler-timeout.ts
import { createParallelConsumer } from "../../mod.ts";
import { MemoryAdapter, message } from "../../tests/support/memory-adapter.ts";

const args = (globalThis as { process?: { argv: string[] } }).process?.argv.slice(2) ?? [];
const MESSAGES = Number(args[0] ?? 100_000);

async function run(handlerTimeoutMs: number | undefined, readsSignal: boolean) {
  const adapter = new MemoryAdapter();
  let processed = 0;
  const consumer = createParallelConsumer({
    kafka: { bootstrapBrokers: ["127.0.0.1:9092"], groupId: "g", topics: ["t"] },
    maxInFlight: 10_000,
    commitIntervalMs: 1000,
    engine: { kind: "async", concurrency: 100 },
    ...(handlerTimeoutMs === undefined ? {} : { handlerTimeoutMs }),
    handler: (_m, context) => {
      if (readsSignal && context.signal.aborted) throw new Error("aborted");
      processed++;
    },
    adapter,
  });
  await consumer.start();
  adapter.assign({ topic: "t", partition: 0 });
  let worstStall = 0;
  let last = performance.now();
  const monitor = setInterval(() => {
    const now = performance.now();
    worstStall = Math.max(worstStall, now - last - 5);
    last = now;
  }, 5);
  const started = performance.now();
  let next = 0;
  while (processed < MESSAGES) {
    if (next < MESSAGES && consumer.getMetrics().totalInFlight < 5_000) {
      const batch = [];
      for (let i = 0; i < 1000 && next < MESSAGES; i++) batch.push(message(0, next++, `k${next % 1000}`));
      adapter.deliver(...batch);
    }
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  const seconds = (performance.now() - started) / 1000;
  clearInterval(monitor);
  await consumer.close();
  return { rate: MESSAGES / seconds, stallMs: worstStall };
}

const runtime = (globalThis as { Deno?: unknown; Bun?: unknown }).Deno
  ? "deno"
  : (globalThis as { Bun?: unknown }).Bun
  ? "bun"
  : "node";
console.log(`${runtime}: ${MESSAGES} no-op messages on one partition (key order, 1,000 keys)`);
const baseline = await run(undefined, false);
console.log(
  `  without handlerTimeoutMs:                   ${baseline.rate.toFixed(0)} msg/s, worst stall ${
    baseline.stallMs.toFixed(0)
  } ms`,
);
for (const readsSignal of [false, true]) {
  const timed = await run(5000, readsSignal);
  console.log(
    `  handlerTimeoutMs 5000${readsSignal ? ", handler reads its signal" : "                         "}: ${
      timed.rate.toFixed(0)
    } msg/s ` +
      `(${((timed.rate / baseline.rate) * 100).toFixed(0)}% of the baseline), worst stall ${
        timed.stallMs.toFixed(0)
      } ms`,
  );
}
