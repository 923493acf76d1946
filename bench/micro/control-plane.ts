// The consumer's own cost per message, without a broker: pre-built messages (4 partitions, 100 keys,
// 100-byte values) delivered in fetch-sized runs through the in-memory adapter into the control
// plane and the async engine, with a no-op async handler, per message and per batch. The baseline, in
// the same run, is a plain loop calling the same handler over the same messages. Each mode runs
// several times, interleaved; the median is reported. What the broker benchmarks call "no-op vs
// raw" is this cost against the client's decoding and the socket.
//
//   node bench/micro/control-plane.ts [messages=200000] [repeats=5] [only]   (only: modes whose name has it)
//   node_modules/.bin/deno run -A bench/micro/control-plane.ts
//   node_modules/.bin/bun bench/micro/control-plane.ts
import { type ConsumerMessage, createParallelConsumer, type Ordering } from "../../mod.ts";
import { MemoryAdapter, message } from "../../tests/support/memory-adapter.ts";

const args = (globalThis as { process?: { argv: string[] } }).process?.argv.slice(2) ?? [];
const MESSAGES = Number(args[0] ?? 200_000);
const REPEATS = Number(args[1] ?? 5);
const ONLY = args[2];
const PARTITIONS = 4;
const KEYS = 100;
/** Messages per partition in one delivery: about what a 16 KiB fetch brings of 100-byte values. */
const RUN = 125;

/** The topic, built once: messages[p] is partition p's log. */
const logs: ConsumerMessage[][] = Array.from({ length: PARTITIONS }, () => []);
for (let i = 0; i < MESSAGES; i++) {
  const partition = i % PARTITIONS;
  const built = message(partition, logs[partition]!.length, `k${i % KEYS}`);
  logs[partition]!.push({ ...built, value: new Uint8Array(100) });
}

const channel = new MessageChannel();
const ticks: (() => void)[] = [];
channel.port1.onmessage = () => ticks.shift()?.();
/** Resolves in a later task of the event loop. */
function nextTask(): Promise<void> {
  return new Promise((resolve) => {
    ticks.push(resolve);
    channel.port2.postMessage(0);
  });
}

interface Mode {
  readonly name: string;
  readonly run: () => Promise<number>;
}

/** Delivers each partition's log in runs while it is not paused, until `done()` says all ran. */
async function feed(adapter: MemoryAdapter, done: () => boolean): Promise<void> {
  const next = new Array<number>(PARTITIONS).fill(0);
  while (!done()) {
    for (let partition = 0; partition < PARTITIONS; partition++) {
      const log = logs[partition]!;
      if (adapter.paused || adapter.pausedPartitions.has(`t:${partition}`) || next[partition]! >= log.length) continue;
      adapter.deliver(...log.slice(next[partition], next[partition]! + RUN));
      next[partition]! += RUN;
    }
    // Lets completions, commits and timers run between deliveries, as socket reads would (a
    // message port rather than setTimeout(0), which waits at least 1 ms on Node).
    await nextTask();
  }
}

function consumerMode(name: string, ordering: Ordering, batch: number | undefined): Mode {
  return {
    name,
    run: async () => {
      const adapter = new MemoryAdapter();
      let processed = 0;
      const common = {
        kafka: { bootstrapBrokers: ["127.0.0.1:9092"], groupId: "g", topics: ["t"] },
        ordering,
        adapter,
      };
      const consumer = batch === undefined
        ? createParallelConsumer({ ...common, handler: async () => void processed++ })
        : createParallelConsumer({
          ...common,
          batch: { maxMessages: batch, maxWaitMs: 0 },
          batchHandler: async (messages) => void (processed += messages.length),
        });
      await consumer.start();
      adapter.assign(...Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: "t", partition })));
      const started = performance.now();
      await feed(adapter, () => processed >= MESSAGES);
      const ns = ((performance.now() - started) * 1e6) / MESSAGES;
      await consumer.close();
      return ns;
    },
  };
}

/** The floor: the same handler called over the same messages in a plain loop, delivered the same way. */
const baseline: Mode = {
  name: "plain loop (baseline)",
  run: async () => {
    let processed = 0;
    const handler = async (_message: ConsumerMessage) => void processed++;
    const adapter = new MemoryAdapter();
    await adapter.start({
      assigned: () => {},
      revoked: () => {},
      releasing: () => Promise.resolve(),
      rebalancing: () => {},
      messages: (batch) => {
        for (const each of batch) handler(each);
      },
      failed: () => {},
    });
    const started = performance.now();
    await feed(adapter, () => processed >= MESSAGES);
    return ((performance.now() - started) * 1e6) / MESSAGES;
  },
};

const modes: Mode[] = [
  baseline,
  ...[
    consumerMode("handler, key order", "key", undefined),
    consumerMode("handler, unordered", "unordered", undefined),
    ...[1, 10, 100, 500].map((size) => consumerMode(`batch ${size}, key order`, "key", size)),
  ].filter((mode) => ONLY === undefined || mode.name.includes(ONLY)),
];

const runtime = (globalThis as { Deno?: unknown; Bun?: unknown }).Deno
  ? "deno"
  : (globalThis as { Bun?: unknown }).Bun
  ? "bun"
  : "node";
console.log(
  `${runtime}: ${MESSAGES} no-op messages, ${PARTITIONS} partitions, ${KEYS} keys, runs of ${RUN}; ` +
    `median of ${REPEATS}, interleaved (a warm-up round first)`,
);
for (const mode of modes) await mode.run();
const samples = new Map<Mode, number[]>(modes.map((mode) => [mode, []]));
for (let round = 0; round < REPEATS; round++) {
  for (const mode of modes) samples.get(mode)!.push(await mode.run());
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const floor = median(samples.get(baseline)!);
console.log("| mode | ns per message | msg/s | above the plain loop |");
console.log("| --- | ---: | ---: | ---: |");
channel.port1.close();
for (const mode of modes) {
  const ns = median(samples.get(mode)!);
  const rate = Math.round(1e9 / ns).toLocaleString("en-US");
  console.log(
    `| ${mode.name} | ${ns.toFixed(0)} | ${rate} | ${mode === baseline ? "" : `+${(ns - floor).toFixed(0)} ns`} |`,
  );
}
