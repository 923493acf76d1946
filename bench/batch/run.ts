// Batch handlers against their baselines, measured in the same run: a no-op and a 5 ms-per-batch
// batch handler at batch sizes 1, 10, 100 and 500, against the raw client (a plain consume stream
// counting messages; one read before every measured run, the median of all) and against the
// per-message handler (no-op, and 5 ms per message). The input topic is the harness's (produced
// once, reused; see ../harness/topics.ts).
//
//   node bench/batch/run.ts                      200,000 messages, 4 partitions, 100 keys
//   node bench/batch/run.ts --messages 20000     a smaller topic (a smoke run)
//   node bench/batch/run.ts --sizes 1,100        some batch sizes only
//   node_modules/.bin/deno run -A bench/batch/run.ts   /   node_modules/.bin/bun bench/batch/run.ts
import { type ConsumerMessage, createParallelConsumer } from "../../mod.ts";
import { type Context, medianRun, runRaw, type RunResult } from "../harness/runners.ts";
import { optionValue, runtime, runtimeVersion, scriptArgs } from "../harness/runtime.ts";
import { int, markdownTable, percent } from "../harness/stats.ts";
import { ensureTopic, topicName, type TopicSpec } from "../harness/topics.ts";

const args = scriptArgs();
const brokers = [optionValue(args, "--brokers", "BENCH_BROKERS") ?? "127.0.0.1:9092"];
const messages = Number(optionValue(args, "--messages", "BENCH_MESSAGES") ?? 200_000);
const sizes = (optionValue(args, "--sizes", "BENCH_SIZES") ?? "1,10,100,500").split(",").map(Number);
/** The slow handler's time per call (a batch, or one message for its per-message baseline). */
const SLOW_MS = 5;
const log = (line: string) => console.log(line);
const ctx: Context = { brokers, log, stallTimeoutMs: 60_000 };

const base: Omit<TopicSpec, "name"> = { partitions: 4, messages, keys: 100, slowKey: false, valueBytes: 100 };
const spec: TopicSpec = { ...base, name: topicName(base) };
await ensureTopic(brokers, spec, log);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** How a run handles messages: a per-message handler (`batch` undefined) or a batch handler, `ms` of work per call. */
interface Handling {
  readonly batch: number | undefined;
  readonly ms: number;
}

/**
 * One run over the whole topic in a fresh group, both kinds measured the same way: from start()
 * resolving to the last message counted.
 */
async function runConsumer(name: string, { batch, ms }: Handling): Promise<RunResult> {
  let done = 0;
  let firstAt = 0;
  let endAt = 0;
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const counted = (count: number) => {
    if (firstAt === 0) firstAt = performance.now();
    done += count;
    if (done >= messages && endAt === 0) {
      endAt = performance.now();
      finish();
    }
  };
  const handlers = batch === undefined
    ? {
      handler: async () => {
        if (ms > 0) await sleep(ms);
        counted(1);
      },
    }
    : {
      batch: { maxMessages: batch, maxWaitMs: 5 },
      batchHandler: async (messages: readonly ConsumerMessage[]) => {
        if (ms > 0) await sleep(ms);
        counted(messages.length);
      },
    };
  const consumer = createParallelConsumer({
    kafka: { bootstrapBrokers: brokers, groupId: `bench-batch-${Date.now()}-${Math.random()}`, topics: [spec.name] },
    logger: { warn: () => {} },
    ...handlers,
  });
  await consumer.start();
  const startedAt = performance.now();
  const progress = setInterval(() => log(`  ${name}: ${int(done)} of ${int(messages)}`), 5_000);
  await finished;
  clearInterval(progress);
  const metrics = consumer.getMetrics();
  await consumer.close();
  const seconds = (endAt - startedAt) / 1000;
  const meanBatch = metrics.batchSize.count > 0 ? metrics.batchSize.sum / metrics.batchSize.count : 0;
  const how = batch === undefined
    ? "handler"
    : `batchHandler, batch { maxMessages: ${batch}, maxWaitMs: 5 }, mean batch ${meanBatch.toFixed(1)}`;
  return {
    name,
    kind: "pyrallel",
    config: `${how}, ${ms > 0 ? `${ms} ms per call` : "no-op"}`,
    messages: done,
    seconds,
    rate: done / seconds,
    steadyRate: done / ((endAt - firstAt) / 1000),
    peakRss: 0,
    notes: [],
  };
}

log(`batch bench on ${runtime} ${runtimeVersion}: ${spec.name}`);
// The raw client's reads vary by up to 2× on a busy machine: one read before every measured run,
// and their median is the baseline, so the baseline sees the same conditions as the runs.
const rawReads: RunResult[] = [];
const measured = async (name: string, handling: Handling): Promise<RunResult> => {
  const read = await runRaw(ctx, "raw-client", spec.name, messages);
  if (read.kind !== "raw") throw new Error(`the raw client's read failed: ${read.notes.join("; ")}`);
  rawReads.push(read);
  return runConsumer(name, handling);
};
await runConsumer("warm-up", { batch: undefined, ms: 0 }); // JIT: the first library run is not reported
const single = await measured("handler", { batch: undefined, ms: 0 });
const singleSlow = await measured(`handler +${SLOW_MS}ms`, { batch: undefined, ms: SLOW_MS });
const batches: [RunResult, RunResult][] = [];
for (const size of sizes) {
  batches.push([
    await measured(`batch ${size}`, { batch: size, ms: 0 }),
    await measured(`batch ${size} +${SLOW_MS}ms`, { batch: size, ms: SLOW_MS }),
  ]);
}
const raw = medianRun(rawReads);
const row = (result: RunResult, versus: RunResult | undefined) => [
  result.name,
  int(result.rate),
  percent(result.rate / raw.rate),
  versus === undefined ? "" : percent(result.rate / versus.rate),
  result.config,
];
const rows = [row(raw, undefined), row(single, undefined), row(singleSlow, undefined)];
for (const [fast, slow] of batches) rows.push(row(fast, single), row(slow, singleSlow));
log("");
log(markdownTable(["run", "msg/s", "of raw client", "of the handler (same work per call)", "config"], rows));
for (const note of raw.notes) log(`raw client: ${note}`);
