// On-demand soak test (not run in CI): a producer writes steadily while a parallel consumer
// (key ordering) processes with simulated I/O, on the async engine or in a worker pool that is
// recycled all along; memory, OS threads and live resources are sampled every 10 s, and the
// verdict says whether RSS, the heap and the thread count stay flat over the second half.
//
//   node bench/soak/soak.ts                       10 minutes on Node
//   node bench/soak/soak.ts --minutes 2
//   node_modules/.bin/deno run -A bench/soak/soak.ts --minutes 30
//   node_modules/.bin/bun bench/soak/soak.ts
//   node bench/soak/soak.ts --engine worker       handlers in 2 workers, each replaced every 20,000 messages
//
// Options (also as environment variables): --minutes N (SOAK_MINUTES, default 10), --rate N messages/s
// (SOAK_RATE, default 2000), --keys N (SOAK_KEYS, default 200), --handler-ms MIN-MAX (SOAK_HANDLER_MS,
// default 1-10), --sample-seconds N (SOAK_SAMPLE_S, default 10), --brokers host:port (SOAK_BROKERS),
// --max-slope MiB/min (SOAK_MAX_SLOPE, default 1: the flatness threshold), --engine async|worker
// (SOAK_ENGINE, default async), --recycle N (SOAK_RECYCLE: worker engine, replace each worker after
// N messages; default 20000, 0 = never), --keep-topic.
// Exit code: 0 when flat and the consumer kept up, 1 otherwise.
import { Admin, Producer } from "@platformatic/kafka";
import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { createParallelConsumer } from "../../mod.ts";
import { activeResources, memory, runtime, runtimeVersion, scriptArgs, settleGarbage } from "../harness/runtime.ts";
import { int, markdownTable, slope } from "../harness/stats.ts";

const args = scriptArgs();
const option = (flag: string, envName: string, fallback: string): string => {
  const index = args.indexOf(flag);
  if (index >= 0 && args[index + 1] !== undefined) return args[index + 1]!;
  return process.env[envName] ?? fallback;
};
if (args.includes("--help") || args.includes("-h")) {
  console.log(
    "usage: soak.ts [--minutes N] [--rate N] [--keys N] [--handler-ms MIN-MAX] [--sample-seconds N] [--brokers host:port] [--max-slope MiB/min] [--engine async|worker] [--recycle N] [--keep-topic]",
  );
  process.exit(0);
}
const minutes = Number(option("--minutes", "SOAK_MINUTES", "10"));
const rate = Number(option("--rate", "SOAK_RATE", "2000"));
const keys = Number(option("--keys", "SOAK_KEYS", "200"));
const [handlerMin, handlerMax] = option("--handler-ms", "SOAK_HANDLER_MS", "1-10").split("-").map(Number) as [
  number,
  number,
];
const sampleSeconds = Number(option("--sample-seconds", "SOAK_SAMPLE_S", "10"));
const brokers = option("--brokers", "SOAK_BROKERS", `127.0.0.1:${process.env.PYRALLEL_KAFKA_PORT ?? 9092}`).split(",");
const maxSlope = Number(option("--max-slope", "SOAK_MAX_SLOPE", "1"));
const engineKind = option("--engine", "SOAK_ENGINE", "async");
if (engineKind !== "async" && engineKind !== "worker") {
  throw new Error(`--engine must be async or worker, not ${engineKind}`);
}
const recycleAfterTasks = Number(option("--recycle", "SOAK_RECYCLE", "20000"));
const keepTopic = args.includes("--keep-topic");

const started = performance.now();
const elapsed = () => (performance.now() - started) / 1000;
const log = (line: string) => console.log(`[${runtime} ${elapsed().toFixed(0).padStart(5)}s] ${line}`);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const MiB = 1048576;

const topic = `pyrallel-soak-${Date.now().toString(36)}`;
const partitions = 4;
const admin = new Admin({ clientId: "pyrallel-soak-admin", bootstrapBrokers: brokers });
await admin.createTopics({ topics: [topic], partitions, replicas: 1 });
const engineText = engineKind === "async"
  ? "async engine"
  : `worker engine (2 workers, ${
    recycleAfterTasks > 0 ? `recycled every ${int(recycleAfterTasks)} messages` : "never recycled"
  })`;
log(
  `${runtimeVersion}; topic ${topic} (${partitions} partitions); ${rate} msg/s over ${keys} keys; handler ${handlerMin}-${handlerMax} ms; ${engineText}; ${minutes} min; load average ${
    loadavg()[0]!.toFixed(1)
  } on ${cpus().length} cores`,
);

// ---- producer: a batch every 100 ms ----
const producer = new Producer({ clientId: "pyrallel-soak-producer", bootstrapBrokers: brokers });
let produced = 0;
let produceErrors = 0;
let producing = true;
const pad = "x".repeat(80);
const producerLoop = (async () => {
  const perTick = Math.max(1, Math.round(rate / 10));
  let next = performance.now();
  while (producing) {
    const messages = [];
    for (let i = 0; i < perTick; i++, produced++) {
      messages.push({
        topic,
        key: Buffer.from(`k${produced % keys}`),
        value: Buffer.from(`{"seq":${produced},"p":"${pad}"}`),
      });
    }
    try {
      await producer.send({ messages });
    } catch {
      produceErrors++;
    }
    next += 100;
    const wait = next - performance.now();
    if (wait > 0) await sleep(wait);
  }
})();

// ---- consumer ----
// The worker module reads the handler time from the environment its workers inherit.
process.env.SOAK_HANDLER_MS = `${handlerMin}-${handlerMax}`;
const kafka = { bootstrapBrokers: brokers, groupId: `${topic}-group`, topics: [topic] };
const consumer = engineKind === "async"
  ? createParallelConsumer({
    kafka,
    ordering: "key",
    maxInFlight: 2000,
    engine: { kind: "async", concurrency: 200 },
    handler: () => sleep(handlerMin + Math.random() * (handlerMax - handlerMin)),
  })
  : createParallelConsumer({
    kafka,
    ordering: "key",
    maxInFlight: 2000,
    engine: {
      kind: "worker",
      module: new URL("./soak-worker.ts", import.meta.url),
      workers: 2,
      concurrencyPerWorker: 100,
      ...(recycleAfterTasks > 0 ? { recycleAfterTasks } : {}),
    },
  });
const processedNow = () => consumer.getMetrics().processedTotal;
let consumerErrors = 0;
consumer.on("error", (error) => {
  if (++consumerErrors <= 5) log(`consumer error: ${error.message}`);
});
await consumer.start();

// ---- samples ----
interface Sample {
  t: number;
  rssMiB: number;
  heapMiB: number;
  externalMiB: number;
  resources: Record<string, number> | undefined;
  threads: number | undefined;
  produced: number;
  processed: number;
  inFlight: number;
  paused: boolean;
}
const samples: Sample[] = [];
const takeSample = async (): Promise<Sample> => {
  // The heap after a full collection: what is really retained, without the sawtooth.
  await settleGarbage();
  const mem = memory();
  const metrics = consumer.getMetrics();
  return {
    t: elapsed(),
    rssMiB: mem.rss / MiB,
    heapMiB: mem.heapUsed / MiB,
    externalMiB: mem.external / MiB,
    resources: activeResources(),
    threads: osThreads(),
    produced,
    processed: processedNow(),
    inFlight: metrics.totalInFlight,
    paused: metrics.isPaused,
  };
};
/** Threads of this process as the OS counts them (Linux), worker threads included. */
const osThreads = (): number | undefined => {
  try {
    return Number(/^Threads:\s+(\d+)/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1]);
  } catch {
    return undefined;
  }
};
const resourcesText = (r: Record<string, number> | undefined) =>
  r === undefined
    ? "n/a"
    : Object.entries(r).sort(([a], [b]) => a.localeCompare(b)).map(([kind, count]) => `${kind}:${count}`).join(" ") ||
      "none";

const endAt = started + minutes * 60_000;
let lastProcessed = 0;
while (performance.now() < endAt) {
  await sleep(Math.min(sampleSeconds * 1000, Math.max(0, endAt - performance.now())));
  const sample = await takeSample();
  samples.push(sample);
  const rateNow = (sample.processed - lastProcessed) / sampleSeconds;
  lastProcessed = sample.processed;
  log(
    `rss ${sample.rssMiB.toFixed(1)} MiB, heap ${sample.heapMiB.toFixed(1)} MiB, external ${
      sample.externalMiB.toFixed(1)
    } MiB, ` +
      `produced ${int(sample.produced)}, processed ${int(sample.processed)} (${
        int(rateNow)
      }/s), in flight ${sample.inFlight}` +
      `${sample.paused ? " (paused)" : ""}, threads ${sample.threads ?? "n/a"}, resources ${
        resourcesText(sample.resources)
      }`,
  );
}

// ---- shutdown ----
producing = false;
await producerLoop;
await producer.close();
const drainDeadline = performance.now() + 30_000;
while (processedNow() < produced && performance.now() < drainDeadline) await sleep(100);
const processed = processedNow();
await consumer.close().catch((error: Error) => log(`close: ${error.message}`));
if (!keepTopic) await admin.deleteTopics({ topics: [topic] }).catch(() => {});
await admin.close();

// ---- verdict ----
const second = samples.slice(Math.floor(samples.length / 2));
const perMinute = (values: number[]) => slope(second.map((s) => s.t / 60), values);
const rssSlope = perMinute(second.map((s) => s.rssMiB));
const heapSlope = perMinute(second.map((s) => s.heapMiB));
const kept = processed >= produced;
console.log(
  "\n" +
    markdownTable(
      [
        "t s:",
        "RSS MiB:",
        "heap MiB:",
        "external MiB:",
        "produced:",
        "processed:",
        "in flight:",
        "threads:",
        "active resources",
      ],
      samples.map((s) => [
        s.t.toFixed(0),
        s.rssMiB.toFixed(1),
        s.heapMiB.toFixed(1),
        s.externalMiB.toFixed(1),
        int(s.produced),
        int(s.processed),
        int(s.inFlight),
        String(s.threads ?? "n/a"),
        resourcesText(s.resources),
      ]),
    ),
);
// Shrinking is fine: only growth counts against flatness.
// A leaked worker would add threads with every recycle: the second half may not go above the first.
const threadsIn = (list: Sample[]) => Math.max(...list.map((s) => s.threads ?? 0));
const firstHalf = samples.slice(0, Math.floor(samples.length / 2));
const threadsFlat = threadsIn(second) <= threadsIn(firstHalf);
const flat = second.length >= 3 && rssSlope <= maxSlope && heapSlope <= maxSlope && threadsFlat;
console.log(
  `\nsecond half (${second.length} samples from ${second[0]?.t.toFixed(0) ?? "?"} s): RSS slope ${
    rssSlope.toFixed(2)
  } MiB/min, ` +
    `heap (after GC) slope ${heapSlope.toFixed(2)} MiB/min (flat: slope ≤ ${maxSlope} MiB/min); ` +
    `OS threads at most ${threadsIn(firstHalf)} in the first half, ${threadsIn(second)} in the second`,
);
console.log(
  `produced ${int(produced)} (${produceErrors} failed sends), processed ${
    int(processed)
  }, consumer errors ${consumerErrors}`,
);
const verdict = second.length < 3
  ? "INCONCLUSIVE: too few samples (run longer)"
  : `${flat ? "FLAT" : "GROWING"}: memory ${flat ? "stays flat" : "keeps growing"} over the second half; ` +
    `${threadsFlat ? "" : "threads keep growing; "}the consumer ${
      kept ? "kept up (everything produced was processed)" : `fell behind by ${int(produced - processed)} messages`
    }`;
console.log(`verdict: ${verdict}`);
process.exit(flat && kept ? 0 : 1);
