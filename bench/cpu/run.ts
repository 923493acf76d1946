// CPU-bound handlers through the consumer: the async engine (handlers on the event loop), the worker
// engine (handlers in a pool of workers) and a plain pool of the same size running the same function
// outside the consumer (the physical reference), measured in the same run, interleaved per repeat.
// The handler is pure JS (bench/cpu/mix.ts), calibrated on this runtime to 0.05, 0.1, 0.3, 1 and 3 ms
// per message. Consumer runs: 4 partitions (--partitions), 100 keys (--keys), key ordering (--ordering), a fresh group reading
// from the earliest offset, timed from start() until the group's committed offsets reach the log
// end. Then the worker engine and the plain pool with 1, 2 and 4 workers at 0.3 ms. See the
// "CPU-bound (workers)" section of bench/README.md. Same file on every runtime:
//
//   node bench/cpu/run.ts | deno run -A bench/cpu/run.ts | bun bench/cpu/run.ts
//   node bench/cpu/all.ts                     the three runtimes one after the other (npm run bench:cpu)
//
// Options: --costs 0.05,0.1,0.3,1,3 (ms per message)  --messages N (per cost; default ≈ 8 s of
// single-thread work, within 2,000–80,000)  --repeat K (default 3, the median is reported)
// --workers W (main table's pool size; default: the worker engine's default, one per core)
// --sweep 1,2,4|none  --sweep-cost 0.3  --json FILE  --brokers host:port (BENCH_BROKERS)
// --stall-timeout S (default 60)  --wait-load L[,S] (before each cost level, wait up to S s (120)
// for the 1-minute load average to drop below L)  --no-warm-up  --keys N (default 100)  --partitions N (default 4)
// --ordering key|partition|unordered (default key): other topic shapes, the same measurement
// --ns-per-round X (skip the calibration: the same rounds per message in every run, to compare commits)
// --modes async,worker,pool (default all three; e.g. `--modes worker` repeats the worker runs alone)
import { loadavg } from "node:os";
import { writeFileSync } from "node:fs";
import { type ConsumerMessage, createParallelConsumer, type Ordering, type ParallelConsumer } from "../../mod.ts";
import { DEFAULTS } from "../../src/config/defaults.ts";
import { cpuCores } from "../../src/runtime.ts";
import { withAdmin } from "../../tests/support/kafka.ts";
import { env, optionValue, runtimeVersion, scriptArgs, waitForLoad } from "../harness/runtime.ts";
import { int } from "../harness/stats.ts";
import { mix, nsPerRound } from "./mix.ts";
import { runPlainPool } from "./plain-pool.ts";
import { roundsHeader, valueOf } from "./records.ts";
import {
  type CpuFile,
  LEGEND,
  type LevelResult,
  medianOf,
  type Mode,
  type ModeRun,
  renderFile,
  type SweepResult,
  type SweepRow,
} from "./report.ts";
import { brokerSeconds, cpuSeconds, mainThreadSeconds } from "./usage.ts";
import { type CpuTopic, cpuTopic, ensureCpuTopic, KEYS, PARTITIONS } from "./topic.ts";

// ---------------------------------------------------------------------------------------------
// Options

const ORDERINGS: readonly Ordering[] = ["key", "partition", "unordered"];
/** Every mode, in the order each repeat runs them. */
const MODES: readonly Mode[] = ["async", "worker", "pool"];
const args = scriptArgs();
const value = (flag: string, envName?: string) => optionValue(args, flag, envName);
const numbers = (text: string) => text.split(",").map((s) => Number(s.trim())).filter((n) => n > 0);
if (args.includes("--help") || args.includes("-h")) {
  console.log(
    "usage: bench/cpu/run.ts [--costs 0.05,0.1,0.3,1,3] [--messages N] [--repeat K] [--workers W]\n" +
      "         [--sweep 1,2,4|none] [--sweep-cost 0.3] [--json FILE] [--brokers host:port]\n" +
      "         [--stall-timeout S] [--wait-load L[,S]] [--no-warm-up] [--keys N] [--partitions N]\n" +
      "         [--ordering key|partition|unordered] [--ns-per-round X]\n" +
      "         [--modes async,worker,pool]",
  );
  process.exit(0);
}
const port = env("PYRALLEL_KAFKA_PORT") ?? "9092";
const defaultWorkers = cpuCores() ?? DEFAULTS.workerEngine.workersWhenCoresUnknown;
const waitLoadText = value("--wait-load", "BENCH_WAIT_LOAD");
const options = {
  costs: numbers(value("--costs") ?? "0.05,0.1,0.3,1,3"),
  messages: value("--messages") === undefined ? undefined : Number(value("--messages")),
  repeat: Number(value("--repeat") ?? 3),
  /** Undefined: the worker engine's default (not passed), which is one worker per core. */
  workers: value("--workers") === undefined ? undefined : Number(value("--workers")),
  sweep: value("--sweep") === "none" ? [] : numbers(value("--sweep") ?? "1,2,4"),
  sweepCost: Number(value("--sweep-cost") ?? 0.3),
  json: value("--json", "BENCH_JSON"),
  brokers: (value("--brokers", "BENCH_BROKERS") ?? `127.0.0.1:${port}`).split(","),
  stallTimeoutMs: Number(value("--stall-timeout", "BENCH_STALL_TIMEOUT_S") ?? 60) * 1000,
  waitLoad: waitLoadText ? Number(waitLoadText.split(",")[0]) : undefined,
  waitLoadSeconds: Number(waitLoadText?.split(",")[1] ?? 120),
  warmUp: !args.includes("--no-warm-up"),
  /** Keys of the topics: with key ordering, at most this many messages are in the engine at once. */
  keys: Number(value("--keys") ?? KEYS),
  partitions: Number(value("--partitions") ?? PARTITIONS),
  ordering: (value("--ordering") ?? "key") as Ordering,
  nsPerRound: value("--ns-per-round") === undefined ? undefined : Number(value("--ns-per-round")),
  modes: (value("--modes") ?? MODES.join(",")).split(",").map((mode) => mode.trim()),
};
const poolWorkers = options.workers ?? defaultWorkers;
if (!ORDERINGS.includes(options.ordering)) {
  console.error(`--ordering: unknown ${options.ordering}; use ${ORDERINGS.join(", ")}`);
  process.exit(2);
}
const unknownModes = options.modes.filter((mode) => !(MODES as readonly string[]).includes(mode));
if (unknownModes.length > 0) {
  console.error(`--modes: unknown ${unknownModes.join(", ")}; use ${MODES.join(", ")}`);
  process.exit(2);
}

const started = performance.now();
const log = (line: string) =>
  console.log(`[${runtimeVersion} ${((performance.now() - started) / 1000).toFixed(1).padStart(6)}s] ${line}`);
const load1 = () => loadavg()[0]!;

/** About 8 s of single-thread work, within [2,000, 80,000] messages, in hundreds: the last commit tick (up to 1 s) stays a small share. */
function messagesFor(ms: number): number {
  if (options.messages !== undefined) return options.messages;
  return Math.min(80_000, Math.max(2_000, Math.round(8000 / ms / 100) * 100));
}

/** Two significant digits: nearby calibrations share a topic (the cost is then within ±5%). */
function roundTwoDigits(n: number): number {
  const scale = 10 ** Math.max(0, Math.floor(Math.log10(n)) - 1);
  return Math.max(1, Math.round(n / scale) * scale);
}

// ---------------------------------------------------------------------------------------------
// One consumer run

const WORKER_MODULE = new URL("./mix-worker.ts", import.meta.url);
let sink = 0;

interface Level {
  topic: CpuTopic;
  ends: bigint[];
  values: Uint8Array[];
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.split("\n")[0]!.slice(0, 300);
}

const failedRun = (mode: Mode, messages: number, error: unknown, workers?: number): ModeRun => ({
  mode,
  ...(workers === undefined ? {} : { workers }),
  messages,
  seconds: NaN,
  rate: NaN,
  cpuSeconds: NaN,
  cores: NaN,
  load: load1(),
  error: firstLine(error),
});

/**
 * Reads the whole topic in a fresh group with the async engine (handler on the event loop) or the
 * worker engine (mix-worker.ts); ends when the group's commits reach the log end of every partition.
 */
async function runConsumer(level: Level, mode: "async" | "worker", workers?: number): Promise<ModeRun> {
  const { spec } = level.topic;
  const load = load1();
  const groupId = `pyrallel-bench-cpu-${mode}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
  let firstAt = 0;
  let handledAt = 0;
  let handled = 0;
  const handler = (message: ConsumerMessage): void => {
    if (firstAt === 0) firstAt = performance.now();
    sink ^= mix(message.value!, roundsHeader(message.headers));
    if (++handled === spec.messages) handledAt = performance.now();
  };
  const kafka = { bootstrapBrokers: options.brokers, groupId, topics: [spec.name] };
  let consumer: ParallelConsumer;
  try {
    const { ordering } = options;
    consumer = mode === "async" ? createParallelConsumer({ kafka, ordering, handler }) : createParallelConsumer({
      kafka,
      ordering,
      engine: { kind: "worker", module: WORKER_MODULE, ...(workers === undefined ? {} : { workers }) },
    });
  } catch (error) {
    return failedRun(mode, spec.messages, error, workers);
  }
  const errors: string[] = [];
  consumer.on("error", (error) => {
    if (errors.length < 3) errors.push(firstLine(error));
  });
  let poll: ReturnType<typeof setInterval> | undefined;
  try {
    const cpuBefore = cpuSeconds();
    const mainBefore = mainThreadSeconds();
    const brokerBefore = brokerSeconds(options.brokers[0]!);
    const startAt = performance.now();
    await consumer.start();
    const startedAt = performance.now();
    // Every 5 ms: the first and the last message handled (the async engine's handler notes both
    // itself; the worker engine's from the metrics) and the committed offsets, as the broker
    // acknowledged them.
    let lastTick = performance.now();
    let maxGap = 0;
    let processed = 0;
    const endAt = await new Promise<number>((resolve, reject) => {
      let progress = "";
      let movedAt = performance.now();
      poll = setInterval(() => {
        const now = performance.now();
        // The longest the event loop went without running this 5 ms timer: handlers (async engine)
        // or the consumer blocking the main thread.
        maxGap = Math.max(maxGap, now - lastTick);
        lastTick = now;
        const m = consumer.getMetrics();
        processed = m.processedTotal;
        if (firstAt === 0 && (m.processing > 0 || m.processedTotal > 0)) firstAt = now;
        if (handledAt === 0 && m.processedTotal >= spec.messages) handledAt = now;
        let atEnd = 0;
        let committed = 0n;
        for (const p of m.partitions) {
          if (p.topic !== spec.name || p.committedOffset === null) continue;
          committed += p.committedOffset;
          if (p.committedOffset >= level.ends[p.partition]!) atEnd++;
        }
        if (atEnd === level.ends.length) return resolve(now);
        const state = `${m.processedTotal}/${committed}`;
        if (state !== progress) {
          progress = state;
          movedAt = now;
        } else if (now - movedAt > options.stallTimeoutMs) {
          reject(new Error(`no progress for ${options.stallTimeoutMs / 1000} s (${state}; ${errors.join("; ")})`));
        }
      }, 5);
    });
    clearInterval(poll);
    const cpu = cpuSeconds() - cpuBefore;
    const mainCpu = since(mainBefore, mainThreadSeconds());
    const brokerCpu = since(brokerBefore, brokerSeconds(options.brokers[0]!));
    await consumer.close();
    // The broker's view, once (not timed): the group's committed offsets are the log end.
    const broker = await withAdmin(async (admin) => {
      const [group] = await admin.listConsumerGroupOffsets({ groups: [groupId] });
      return group?.topics.find((t) => t.name === spec.name)?.partitions ?? [];
    }, options.brokers);
    const short = level.ends.filter((end, p) =>
      (broker.find((b) => b.partitionIndex === p)?.committedOffset ?? -1n) < end
    );
    const seconds = (endAt - startAt) / 1000;
    // Completions beyond the topic's messages: work done again after a partition was lost.
    const again = processed - spec.messages;
    return {
      mode,
      ...(mode === "worker" ? { workers: workers ?? defaultWorkers } : {}),
      messages: spec.messages,
      seconds,
      rate: spec.messages / seconds,
      steadyRate: spec.messages / ((endAt - firstAt) / 1000),
      handledRate: spec.messages / ((handledAt - firstAt) / 1000),
      startSeconds: (startedAt - startAt) / 1000,
      firstSeconds: (firstAt - startAt) / 1000,
      commitLagSeconds: (endAt - handledAt) / 1000,
      maxLoopBlockMs: maxGap,
      ...(again > 0 ? { processedAgain: again } : {}),
      cpuSeconds: cpu,
      cores: cpu / seconds,
      ...(mainCpu === undefined ? {} : { mainThreadSeconds: mainCpu }),
      ...(brokerCpu === undefined ? {} : { brokerSeconds: brokerCpu }),
      load,
      ...(short.length > 0 || errors.length > 0 || again > 0
        ? {
          notes: [
            ...(short.length > 0 ? [`the broker has ${short.length} partition(s) committed short of the log end`] : []),
            ...(again > 0 ? [`${again} messages processed again (a partition was lost and read again)`] : []),
            ...errors.map((e) => `error event: ${e}`),
          ],
        }
        : {}),
    };
  } catch (error) {
    clearInterval(poll);
    await consumer.close().catch(() => {});
    return failedRun(mode, spec.messages, error, workers);
  }
}

async function runPool(level: Level, workers: number): Promise<ModeRun> {
  const load = load1();
  try {
    const result = await runPlainPool(level.values, level.topic.rounds, workers);
    return {
      mode: "pool",
      workers,
      messages: result.messages,
      seconds: result.seconds,
      rate: result.messages / result.seconds,
      startSeconds: result.startSeconds,
      cpuSeconds: result.cpuSeconds,
      cores: result.cpuSeconds / result.seconds,
      load,
    };
  } catch (error) {
    return failedRun("pool", level.values.length, error, workers);
  }
}

/** CPU seconds between two readings, when both were possible. */
function since(before: number | undefined, after: number | undefined): number | undefined {
  return before === undefined || after === undefined ? undefined : after - before;
}

function logRun(label: string, run: ModeRun): void {
  if (run.error !== undefined) {
    log(`  ${label}: FAILED ${run.error}`);
    return;
  }
  const extra = run.mode === "pool"
    ? `(spawn → ready ${run.startSeconds?.toFixed(2)} s)`
    : `steady ${int(run.steadyRate!)}, handled ${int(run.handledRate!)} msg/s; first after ${
      run.firstSeconds!.toFixed(2)
    } s, committed ${run.commitLagSeconds!.toFixed(2)} s after the last`;
  log(
    `  ${label}: ${int(run.rate)} msg/s in ${run.seconds.toFixed(2)} s, ${run.cores.toFixed(2)} cores; ${extra}${
      run.notes ? ` [${run.notes.join("; ")}]` : ""
    }`,
  );
}

// ---------------------------------------------------------------------------------------------
// Main

const loadBefore = load1();
log(
  `${navigator.hardwareConcurrency} cores, load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}; ` +
    `costs ${options.costs.join(", ")} ms, median of ${options.repeat}, ${poolWorkers} workers; brokers ${
      options.brokers.join(",")
    }`,
);
// A fixed calibration (--ns-per-round) gives the same rounds in every run: for comparing two commits.
const ns = options.nsPerRound ?? nsPerRound();
log(`calibration: mix takes ${ns.toFixed(2)} ns per round over 32 bytes on the main thread`);

const levels = new Map<number, Level>();
async function prepare(ms: number): Promise<Level> {
  const known = levels.get(ms);
  if (known) return known;
  const topic = cpuTopic(messagesFor(ms), roundTwoDigits((ms * 1e6) / ns), options.keys, options.partitions);
  const ends = await ensureCpuTopic(options.brokers, topic, log);
  const level = { topic, ends, values: Array.from({ length: topic.spec.messages }, (_, i) => valueOf(i)) };
  levels.set(ms, level);
  return level;
}

if (options.warmUp) {
  // The first consumer of a process pays for loading and compiling the client: not in a measurement.
  // A small topic of 0.05 ms messages: a second or two.
  const topic = cpuTopic(2000, roundTwoDigits((0.05 * 1e6) / ns), options.keys, options.partitions);
  const ends = await ensureCpuTopic(options.brokers, topic, log);
  const level = { topic, ends, values: Array.from({ length: topic.spec.messages }, (_, i) => valueOf(i)) };
  log(`warm-up on ${topic.spec.name} (not measured)`);
  for (const run of [await runConsumer(level, "async"), await runConsumer(level, "worker", options.workers)]) {
    if (run.error !== undefined) log(`  warm-up ${run.mode}: FAILED ${run.error}`);
  }
  await runPool(level, poolWorkers);
}

const results: LevelResult[] = [];
for (const ms of options.costs) {
  if (options.waitLoad !== undefined) await waitForLoad(options.waitLoad, options.waitLoadSeconds, log);
  const level = await prepare(ms);
  const { spec, rounds } = level.topic;
  log(
    `${ms} ms: ${int(rounds)} rounds (${((rounds * ns) / 1e6).toFixed(3)} ms), ${int(spec.messages)} messages, load ${
      load1().toFixed(2)
    }`,
  );
  const runs: ModeRun[] = [];
  for (let repeat = 1; repeat <= options.repeat; repeat++) {
    for (const mode of MODES) {
      if (!options.modes.includes(mode)) continue;
      const run = mode === "pool"
        ? await runPool(level, poolWorkers)
        : await runConsumer(level, mode, mode === "worker" ? options.workers : undefined);
      logRun(`#${repeat} ${mode}${mode === "async" ? "" : ` ×${run.workers ?? poolWorkers}`}`, run);
      runs.push(run);
    }
  }
  const result: LevelResult = {
    ms,
    rounds,
    actualMs: (rounds * ns) / 1e6,
    messages: spec.messages,
    topic: spec.name,
    runs,
  };
  for (const mode of MODES) {
    const median = medianOf(runs.filter((run) => run.mode === mode));
    if (median) result[mode] = median;
  }
  results.push(result);
}

let sweep: SweepResult | undefined;
if (options.sweep.length > 0) {
  if (options.waitLoad !== undefined) await waitForLoad(options.waitLoad, options.waitLoadSeconds, log);
  const ms = options.sweepCost;
  const level = await prepare(ms);
  const { spec, rounds } = level.topic;
  log(`sweep at ${ms} ms: workers ${options.sweep.join(", ")}, ${int(spec.messages)} messages`);
  // The async engine's figure comes from the main table; measured here too when that cost was not.
  let asyncRate = results.find((r) => r.ms === ms)?.async?.rate;
  const asyncRuns: ModeRun[] = [];
  const rows: SweepRow[] = options.sweep.map((workers) => ({ workers, runs: [] }));
  for (let repeat = 1; repeat <= options.repeat; repeat++) {
    if (!results.some((r) => r.ms === ms)) {
      const async = await runConsumer(level, "async");
      logRun(`#${repeat} async`, async);
      asyncRuns.push(async);
    }
    for (const row of rows) {
      const worker = await runConsumer(level, "worker", row.workers);
      logRun(`#${repeat} worker ×${row.workers}`, worker);
      const pool = await runPool(level, row.workers);
      logRun(`#${repeat} pool ×${row.workers}`, pool);
      row.runs.push(worker, pool);
    }
  }
  asyncRate ??= medianOf(asyncRuns)?.rate;
  for (const row of rows) {
    const worker = medianOf(row.runs.filter((run) => run.mode === "worker"));
    const pool = medianOf(row.runs.filter((run) => run.mode === "pool"));
    if (worker) row.worker = worker;
    if (pool) row.pool = pool;
  }
  sweep = { ms, rounds, messages: spec.messages, topic: spec.name, ...(asyncRate ? { asyncRate } : {}), rows };
}

const file: CpuFile = {
  runtime: runtimeVersion,
  cores: navigator.hardwareConcurrency,
  workers: poolWorkers,
  shape: { partitions: options.partitions, keys: options.keys, ordering: options.ordering },
  at: new Date().toISOString(),
  seconds: (performance.now() - started) / 1000,
  loadBefore,
  loadAfter: load1(),
  nsPerRound: ns,
  repeat: options.repeat,
  levels: results,
  ...(sweep ? { sweep } : {}),
};
console.log(`\n${renderFile(file)}\n\n${LEGEND}\n`);
if (options.json) {
  writeFileSync(options.json, JSON.stringify(file, null, 2));
  log(`results written to ${options.json}`);
}
log(`done in ${Math.round(file.seconds)} s, load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
if (sink === -1) console.log(sink);
process.exit(0);
