import { createParallelConsumer } from "../mod.ts";
const topic = process.argv[2]!;
const total = Number(process.argv[3] ?? 40000);
let n = 0; let first = 0;
const done = Promise.withResolvers<void>();
const consumer = createParallelConsumer({
  kafka: { bootstrapBrokers: ["127.0.0.1:9092"], groupId: `noop-${Date.now()}`, topics: [topic], ...(process.argv[4] ? { fetchMaxBytes: Number(process.argv[4]) } : {}) },
  handler: async () => { if (n === 0) first = performance.now(); if (process.argv[5]) await new Promise((r) => setTimeout(r, Number(process.argv[5]))); if (++n === total) done.resolve(); },
});
const big: string[] = []; let last = performance.now(); let maxGap = 0; const gaps: number[] = [];
const probe = setInterval(() => { const now = performance.now(); if (first > 0) { maxGap = Math.max(maxGap, now - last); gaps.push(now - last); if (now - last > 20) big.push(`${Math.round(last - first)}+${Math.round(now - last)}@${n}`); } last = now; }, 1);
await consumer.start();
await done.promise;
clearInterval(probe);
const s = (performance.now() - first) / 1000;
gaps.sort((a, b) => a - b);
console.log(`${Math.round(n / s)} msg/s; loop gap max ${maxGap.toFixed(1)} ms, p99 ${gaps[Math.floor(gaps.length * 0.99)]?.toFixed(1)} ms; samples ${gaps.length}; big ${big.join(" ")}`);
await consumer.close();
