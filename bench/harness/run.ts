// Throughput, latency and memory of Pyrallel Consumer against the local broker, on whichever
// runtime runs this file, next to baselines measured in the same run:
//
//   node bench/harness/run.ts                    quick size (about 2 minutes)
//   node_modules/.bin/deno run -A bench/harness/run.ts
//   node_modules/.bin/bun bench/harness/run.ts
//   node bench/harness/run.ts --full             larger topics and counts
//   node bench/harness/run.ts --only noop,raw    some workloads (exact names, or prefixes like "io*", "seq*")
//   node bench/harness/run.ts --list             the workloads
//
// Options (each also as an environment variable): --full (BENCH_FULL=1), --only (BENCH_ONLY),
// --skip (BENCH_SKIP), --brokers (BENCH_BROKERS, default 127.0.0.1:$PYRALLEL_KAFKA_PORT or 9092),
// --repeat N (BENCH_REPEAT), --cpu-rounds N (BENCH_CPU_ROUNDS, default 200), --json FILE
// (BENCH_JSON: also write the results as JSON), --stall-timeout S (BENCH_STALL_TIMEOUT_S, default 60),
// --no-isolate (BENCH_ISOLATE=0: run every workload in this process instead of one child process
// each), --wait-load L[,S] (BENCH_WAIT_LOAD: on a busy machine, wait up to S seconds before each
// workload for the 1-minute load average to drop below L), and the what-if knobs --fetch-max-bytes
// TOTAL[,PER_PARTITION] (BENCH_FETCH_MAX_BYTES), --max-in-flight N, --concurrency N.
//
// The input topics are produced once (their names say what they hold) and reused by later runs;
// every measured run reads from the start in a fresh consumer group, so production is not measured.
// See bench/README.md for what each workload and baseline means.
import { Consumer } from "@platformatic/kafka";
import { createHash } from "node:crypto";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ConsumerMessage } from "../../mod.ts";
import {
  type Context,
  failed,
  memoryPyrallel,
  memoryRaw,
  runPyrallel,
  runRawMedian,
  type RunResult,
  runSequential,
  type Work,
} from "./runners.ts";
import { env, optionValue, runtime, runtimeVersion, scriptArgs, selfCommand, waitForLoad } from "./runtime.ts";
import { LEGEND, renderReport, type RunFile } from "./report.ts";
import { int, latency, mib } from "./stats.ts";
import { ensureTopic, SLOW_KEY_FIRST_BYTE, slowCount, topicName, type TopicSpec } from "./topics.ts";

// ---------------------------------------------------------------------------------------------
// Options

interface Options {
  full: boolean;
  only: string[];
  skip: string[];
  brokers: string[];
  repeat: number;
  cpuRounds: number;
  json: string | undefined;
  list: boolean;
  stallTimeoutS: number;
  /** What-if: fetch sizes forced on every consume() (the library's adapter and the baselines). */
  fetchMaxBytes: number | undefined;
  fetchMaxBytesPerPartition: number | undefined;
  /** Overrides maxInFlight / engine concurrency of the library's runs that use the defaults. */
  maxInFlight: number | undefined;
  concurrency: number | undefined;
  /** Each workload in its own child process (fresh heap: its own peak RSS). */
  isolate: boolean;
  /** Set in the child processes of an isolated run. */
  child: boolean;
  /** Before each workload, wait (up to `waitLoadSeconds`) until the 1-minute load average is below this. */
  waitLoad: number | undefined;
  waitLoadSeconds: number;
  /** The --fetch-max-bytes text, handed on to child processes. */
  fetchText: string | undefined;
}

function parseOptions(): Options {
  const args = scriptArgs();
  const value = (flag: string, envName: string) => optionValue(args, flag, envName);
  const list = (text: string | undefined) => (text ? text.split(",").map((s) => s.trim()).filter(Boolean) : []);
  if (args.includes("--help") || args.includes("-h")) {
    console.log(
      "usage: run.ts [--full] [--only a,b] [--skip a,b] [--repeat N] [--cpu-rounds N] [--brokers host:port] [--json FILE] [--list]\n" +
        "              [--fetch-max-bytes TOTAL[,PER_PARTITION]]  (what-if: e.g. 1m,256k for every consume())\n" +
        "              [--max-in-flight N] [--concurrency N]      (instead of 1000 / 100 in the library's runs)\n" +
        "              [--no-isolate]  (all workloads in this process; default: one child process each)\n" +
        "              [--wait-load L[,S]] (before each workload, wait up to S s (120) for the load average to drop below L)",
    );
    process.exit(0);
  }
  const port = env("PYRALLEL_KAFKA_PORT") ?? "9092";
  return {
    full: args.includes("--full") || env("BENCH_FULL") === "1",
    only: list(value("--only", "BENCH_ONLY")),
    skip: list(value("--skip", "BENCH_SKIP")),
    brokers: list(value("--brokers", "BENCH_BROKERS") ?? `127.0.0.1:${port}`),
    repeat: Number(value("--repeat", "BENCH_REPEAT") ?? 1),
    cpuRounds: Number(value("--cpu-rounds", "BENCH_CPU_ROUNDS") ?? 200),
    json: value("--json", "BENCH_JSON"),
    list: args.includes("--list"),
    stallTimeoutS: Number(value("--stall-timeout", "BENCH_STALL_TIMEOUT_S") ?? 60),
    ...parseFetchBytes(value("--fetch-max-bytes", "BENCH_FETCH_MAX_BYTES")),
    fetchText: value("--fetch-max-bytes", "BENCH_FETCH_MAX_BYTES"),
    isolate: !args.includes("--no-isolate") && env("BENCH_ISOLATE") !== "0",
    child: args.includes("--child"),
    ...parseWaitLoad(value("--wait-load", "BENCH_WAIT_LOAD")),
    maxInFlight: optionalNumber(value("--max-in-flight", "BENCH_MAX_IN_FLIGHT")),
    concurrency: optionalNumber(value("--concurrency", "BENCH_CONCURRENCY")),
  };
}

/** "L[,SECONDS]": wait for a load average below L, at most SECONDS (default 120) per workload. */
function parseWaitLoad(text: string | undefined) {
  if (!text) return { waitLoad: undefined, waitLoadSeconds: 120 };
  const [load, seconds] = text.split(",");
  return { waitLoad: Number(load), waitLoadSeconds: seconds ? Number(seconds) : 120 };
}

function optionalNumber(text: string | undefined): number | undefined {
  return text === undefined ? undefined : Number(text);
}

/** "TOTAL[,PER_PARTITION]" in bytes, with k/m suffixes: "1m,256k". */
function parseFetchBytes(text: string | undefined) {
  if (!text) return { fetchMaxBytes: undefined, fetchMaxBytesPerPartition: undefined };
  const bytes = (part: string) => {
    const match = /^(\d+)([km]?)$/i.exec(part.trim());
    if (!match) throw new Error(`--fetch-max-bytes: cannot read "${part}" (e.g. 1m,256k)`);
    return Number(match[1]) * ({ "": 1, k: 1024, m: 1048576 } as Record<string, number>)[match[2]!.toLowerCase()]!;
  };
  const [total, perPartition] = text.split(",");
  return { fetchMaxBytes: bytes(total!), fetchMaxBytesPerPartition: perPartition ? bytes(perPartition) : undefined };
}

// ---------------------------------------------------------------------------------------------
// Work

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const noop: Work = () => {};
const sleepWork = (ms: number): Work => () => sleep(ms);
let cpuSink = 0;
const cpuWork = (rounds: number): Work => (message) => {
  let digest: Uint8Array = message.value ?? new Uint8Array(0);
  for (let i = 0; i < rounds; i++) digest = createHash("sha256").update(digest).digest();
  cpuSink ^= digest[0]!;
};
const isSlow = (message: { key: Uint8Array | null | undefined }) => message.key?.[0] === SLOW_KEY_FIRST_BYTE;

// ---------------------------------------------------------------------------------------------
// Workloads

interface Plan {
  full: boolean;
  /** 100 keys, 4 partitions: the main input. */
  k100: TopicSpec;
  /** 1,000 keys plus one more ("slow"), 4 partitions. */
  k1000: TopicSpec;
  /** Exactly the messages held by the memory runs. */
  mem: TopicSpec;
  cpuRounds: number;
  maxInFlight: number;
  concurrency: number;
}

interface Workload {
  name: string;
  description: string;
  topics: (plan: Plan) => TopicSpec[];
  run: (ctx: Context, plan: Plan) => Promise<RunResult>;
  /** Baseline of the same work, for the "vs seq" ratio. */
  sequential?: string;
}

function spec(partitions: number, keys: number, slowKey: boolean, messages: number): TopicSpec {
  const base = { partitions, keys, slowKey, messages, valueBytes: 100 };
  return { ...base, name: topicName(base) };
}

function makePlan(options: Options): Plan {
  return {
    full: options.full,
    k100: spec(4, 100, false, options.full ? 1_000_000 : 200_000),
    k1000: spec(4, 1000, true, options.full ? 500_000 : 100_000),
    mem: spec(4, 1000, false, 50_000),
    cpuRounds: options.cpuRounds,
    maxInFlight: options.maxInFlight ?? 1000,
    concurrency: options.concurrency ?? 100,
  };
}

const size = (plan: Plan, quick: number, full: number) => (plan.full ? full : quick);

/** The library's default setup: key ordering, maxInFlight 1000, async engine with concurrency 100. */
function pyrallel(
  name: string,
  description: string,
  options: {
    topic: (plan: Plan) => TopicSpec;
    count: (plan: Plan) => number;
    work: (plan: Plan) => Work;
    ordering?: "key" | "unordered";
    maxInFlight?: number;
    concurrency?: number;
    /** Nominal handler latency (I/O): enables the Little's-law bound. */
    latencyMs?: number;
    sequential?: string;
    engine?: unknown;
  },
): Workload {
  return {
    name,
    description,
    topics: (plan) => [options.topic(plan)],
    ...(options.sequential ? { sequential: options.sequential } : {}),
    run: (ctx, plan) => {
      const topic = options.topic(plan);
      const ordering = options.ordering ?? "key";
      const maxInFlight = options.maxInFlight ?? plan.maxInFlight;
      const concurrency = options.concurrency ?? plan.concurrency;
      const keys = topic.keys + (topic.slowKey ? 1 : 0);
      const slots = Math.min(maxInFlight, concurrency, ordering === "key" ? keys : Infinity);
      const engine = options.engine as { kind?: string; workers?: number } | undefined;
      const engineText = engine ? `${engine.kind} engine, ${engine.workers} workers` : `conc ${concurrency}`;
      return runPyrallel(ctx, {
        name,
        ...(options.sequential ? { sequential: options.sequential } : {}),
        topic: topic.name,
        target: Math.min(options.count(plan), topic.messages),
        work: options.work(plan),
        ordering,
        maxInFlight,
        concurrency,
        ...(options.engine ? { engine: options.engine } : {}),
        ...(options.latencyMs ? { littleBound: { slots, latencySeconds: options.latencyMs / 1000 } } : {}),
        config: `${ordering}, ${topic.keys}${topic.slowKey ? "+1" : ""} keys, mif ${maxInFlight}, ${engineText}`,
      });
    },
  };
}

function sequential(
  name: string,
  description: string,
  count: (plan: Plan) => number,
  work: (plan: Plan) => Work,
): Workload {
  return {
    name,
    description,
    topics: (plan) => [plan.k100],
    run: (ctx, plan) => runSequential(ctx, name, plan.k100.name, Math.min(count(plan), plan.k100.messages), work(plan)),
  };
}

function slowKeyRun(name: string, description: string, slowMs: number): Workload {
  return {
    name,
    description,
    topics: (plan) => [plan.k1000],
    run: (ctx, plan) => {
      const topic = plan.k1000;
      return runPyrallel(ctx, {
        name,
        topic: topic.name,
        target: topic.messages - slowCount(topic),
        work: (message) => (isSlow(message) ? sleep(slowMs) : sleep(1)),
        counts: (message: ConsumerMessage) => !isSlow(message),
        ordering: "key",
        maxInFlight: plan.maxInFlight,
        concurrency: plan.concurrency,
        config:
          `key, 1000 fast keys (1 ms) + key "slow" (${slowMs} ms), mif ${plan.maxInFlight}, conc ${plan.concurrency}; counts fast keys only`,
        // The slow key's queued messages (1 s each) are not waited for at close.
        drainTimeoutMs: 500,
        expectedErrors: /final offset commit failed/,
      });
    },
  };
}

const WORKLOADS: Workload[] = [
  // Memory first: the heap is smallest and least fragmented at the start.
  {
    name: "mem-raw",
    description: "reference: the plain stream's messages kept in an array (the client's own cost per message)",
    topics: (plan) => [plan.mem],
    run: (ctx, plan) => memoryRaw(ctx, "mem-raw", plan.mem.name, plan.mem.messages),
  },
  {
    name: "mem-queued",
    description: "the library holding 50k messages (maxInFlight 50k): 100 handlers blocked, the rest queued",
    topics: (plan) => [plan.mem],
    run: (ctx, plan) => memoryPyrallel(ctx, "mem-queued", plan.mem.name, plan.mem.messages, "key", 100),
  },
  {
    name: "mem-running",
    description: "the library holding 50k messages, all of them in a blocked handler (unordered, concurrency 50k)",
    topics: (plan) => [plan.mem],
    run: (ctx, plan) =>
      memoryPyrallel(ctx, "mem-running", plan.mem.name, plan.mem.messages, "unordered", plan.mem.messages),
  },
  {
    name: "raw",
    description: "baseline (a): plain @platformatic/kafka consume stream, fresh group, autocommit off, counting only",
    topics: (plan) => [plan.k100],
    // Short and noisy (the client decodes ~1M msg/s): the median of 3 reads.
    run: (ctx, plan) => runRawMedian(ctx, "raw", plan.k100.name, plan.k100.messages, 3),
  },
  pyrallel("noop", "handler does nothing; default options (key ordering, maxInFlight 1000, concurrency 100)", {
    topic: (plan) => plan.k100,
    count: (plan) => plan.k100.messages,
    work: () => noop,
    sequential: "seq-noop",
  }),
  pyrallel("noop-unordered", "handler does nothing; unordered (no key lanes)", {
    topic: (plan) => plan.k100,
    count: (plan) => plan.k100.messages,
    work: () => noop,
    ordering: "unordered",
    sequential: "seq-noop",
  }),
  sequential("seq-noop", "baseline (b) with a no-op handler", (plan) => plan.k100.messages, () => noop),
  pyrallel("io-1ms", "await a 1 ms setTimeout", {
    topic: (plan) => plan.k100,
    count: (plan) => size(plan, 100_000, 500_000),
    work: () => sleepWork(1),
    latencyMs: 1,
    sequential: "seq-io-1ms",
  }),
  pyrallel("io-5ms", "await a 5 ms setTimeout (the target case: 100 keys, 4 partitions, concurrency 100)", {
    topic: (plan) => plan.k100,
    count: (plan) => size(plan, 60_000, 300_000),
    work: () => sleepWork(5),
    latencyMs: 5,
    sequential: "seq-io-5ms",
  }),
  pyrallel("io-5ms-k1000", "await 5 ms, 1,000 keys", {
    topic: (plan) => plan.k1000,
    count: (plan) => size(plan, 60_000, 300_000),
    work: () => sleepWork(5),
    latencyMs: 5,
    sequential: "seq-io-5ms",
  }),
  pyrallel("io-5ms-unordered", "await 5 ms, unordered", {
    topic: (plan) => plan.k100,
    count: (plan) => size(plan, 60_000, 300_000),
    work: () => sleepWork(5),
    ordering: "unordered",
    latencyMs: 5,
    sequential: "seq-io-5ms",
  }),
  pyrallel("io-10ms", "await a 10 ms setTimeout", {
    topic: (plan) => plan.k100,
    count: (plan) => size(plan, 30_000, 150_000),
    work: () => sleepWork(10),
    latencyMs: 10,
    sequential: "seq-io-10ms",
  }),
  sequential("seq-io-1ms", "baseline (b), 1 ms", (plan) => size(plan, 10_000, 30_000), () => sleepWork(1)),
  sequential("seq-io-5ms", "baseline (b), 5 ms", (plan) => size(plan, 2_400, 8_000), () => sleepWork(5)),
  sequential("seq-io-10ms", "baseline (b), 10 ms", (plan) => size(plan, 1_200, 4_000), () => sleepWork(10)),
  pyrallel("cpu", "N rounds of SHA-256 (node:crypto) per message on the async engine (event loop)", {
    topic: (plan) => plan.k100,
    count: (plan) => size(plan, 20_000, 100_000),
    work: (plan) => cpuWork(plan.cpuRounds),
    sequential: "seq-cpu",
  }),
  pyrallel("cpu-worker", "the same on the worker engine, if option validation accepts it", {
    topic: (plan) => plan.k100,
    count: (plan) => size(plan, 20_000, 100_000),
    work: (plan) => cpuWork(plan.cpuRounds),
    // The worker engine's options as its tests use them (2 workers: the machine's cores).
    engine: { kind: "worker", workers: 2, module: new URL("./cpu-worker.ts", import.meta.url).href },
    sequential: "seq-cpu",
  }),
  sequential(
    "seq-cpu",
    "baseline (b), SHA-256 rounds",
    (plan) => size(plan, 20_000, 100_000),
    (plan) => cpuWork(plan.cpuRounds),
  ),
  slowKeyRun("slowkey-control", "1,000 fast keys at 1 ms, the 'slow' key also at 1 ms", 1),
  slowKeyRun("slowkey", "1,000 fast keys at 1 ms, the 'slow' key at 1 s", 1000),
];

function selected(options: Options): Workload[] {
  // An exact name, or a prefix ending in "*" ("io*", "seq*", "mem*", "slowkey*").
  const matches = (name: string, patterns: string[]) =>
    patterns.some((pattern) => (pattern.endsWith("*") ? name.startsWith(pattern.slice(0, -1)) : name === pattern));
  return WORKLOADS.filter((w) =>
    (options.only.length === 0 || matches(w.name, options.only)) && !matches(w.name, options.skip)
  );
}

// ---------------------------------------------------------------------------------------------
// Report

function runFile(results: RunResult[]): RunFile {
  return {
    runtime: runtimeVersion,
    size: plan.full ? "full" : "quick",
    at: new Date().toISOString(),
    variant: [
      options.fetchMaxBytes === undefined
        ? ""
        : `, what-if fetch sizes ${options.fetchMaxBytes}/${
          options.fetchMaxBytesPerPartition ?? options.fetchMaxBytes
        } B`,
      options.maxInFlight === undefined ? "" : `, maxInFlight ${options.maxInFlight}`,
      options.concurrency === undefined ? "" : `, concurrency ${options.concurrency}`,
    ].join(""),
    loadAtStart,
    loadAtEnd: loadavg()[0]!,
    cores: cpus().length,
    cpuRounds: options.cpuRounds,
    results,
  };
}

// ---------------------------------------------------------------------------------------------
// Main

const options = parseOptions();
// Read by cpu-worker.ts in the worker threads.
process.env.BENCH_CPU_ROUNDS = String(options.cpuRounds);
const loadAtStart = loadavg()[0]!;
const plan = makePlan(options);
const workloads = selected(options);
const started = performance.now();
const log = (line: string) =>
  console.log(`[${runtime} ${((performance.now() - started) / 1000).toFixed(1).padStart(6)}s] ${line}`);

if (options.list) {
  for (const w of WORKLOADS) console.log(`${w.name.padEnd(18)} ${w.description}`);
  process.exit(0);
}
if (workloads.length === 0) {
  console.error(`no workload matches --only ${options.only.join(",")} (see --list)`);
  process.exit(2);
}

if (!options.child) log(`load average ${loadAtStart.toFixed(1)} (${cpus().length} cores)`);
if (!options.child) {
  log(
    `${runtimeVersion}, brokers ${options.brokers.join(",")}, ${options.full ? "full" : "quick"} size, workloads: ${
      workloads.map((w) => w.name).join(" ")
    }`,
  );
}
if (options.fetchMaxBytes !== undefined) {
  // What-if experiment: force these fetch sizes on every consume() of this process (the
  // baselines', whatever they ask for; the client's defaults are 50 MiB per fetch and per
  // partition) and on the library's consumers, whose fetcher calls the client's fetch() itself.
  const original = Consumer.prototype.consume;
  const maxBytes = options.fetchMaxBytes;
  const perPartition = options.fetchMaxBytesPerPartition ?? maxBytes;
  // deno-lint-ignore no-explicit-any
  (Consumer.prototype as any).consume = function (this: Consumer, consumeOptions: any, ...rest: unknown[]) {
    return (original as (...args: unknown[]) => unknown).call(
      this,
      { ...consumeOptions, maxBytes, maxBytesPerPartition: perPartition },
      ...rest,
    );
  };
  if (!options.child) log(`what-if: every consume() fetches at most ${maxBytes} bytes, ${perPartition} per partition`);
}
const ctx: Context = {
  brokers: options.brokers,
  log,
  stallTimeoutMs: options.stallTimeoutS * 1000,
  fetch: options.fetchMaxBytes === undefined ? undefined : {
    fetchMaxBytes: options.fetchMaxBytes,
    fetchMaxBytesPerPartition: options.fetchMaxBytesPerPartition ?? options.fetchMaxBytes,
  },
};

const topics = new Map<string, TopicSpec>();
for (const w of workloads) for (const topic of w.topics(plan)) topics.set(topic.name, topic);
for (const topic of topics.values()) await ensureTopic(options.brokers, topic, options.child ? () => {} : log);

/** Runs one workload in a child process of this runtime, and reads its result. */
async function runIsolated(w: Workload): Promise<RunResult> {
  const file = join(tmpdir(), `pyrallel-bench-${process.pid}-${w.name}-${Date.now()}.json`);
  const command = selfCommand(fileURLToPath(import.meta.url), [
    "--child",
    "--only",
    w.name,
    "--json",
    file,
    "--brokers",
    options.brokers.join(","),
    "--cpu-rounds",
    String(options.cpuRounds),
    "--stall-timeout",
    String(options.stallTimeoutS),
    ...(options.full ? ["--full"] : []),
    ...(options.fetchText ? ["--fetch-max-bytes", options.fetchText] : []),
    ...(options.maxInFlight ? ["--max-in-flight", String(options.maxInFlight)] : []),
    ...(options.concurrency ? ["--concurrency", String(options.concurrency)] : []),
  ]);
  const child = spawn(command.command, command.args, { stdio: ["ignore", "inherit", "inherit"] });
  const code = await new Promise<number>((resolve) => {
    child.on("exit", (exitCode) => resolve(exitCode ?? 1));
    child.on("error", () => resolve(1));
  });
  if (code !== 0 || !existsSync(file)) return failed(w.name, "child process", `exit code ${code}, no result`);
  const data = JSON.parse(readFileSync(file, "utf8")) as { results: RunResult[] };
  unlinkSync(file);
  // JSON has no NaN: restore the "not applicable" numbers.
  for (const result of data.results) {
    result.rate ??= Number.NaN;
    result.steadyRate ??= Number.NaN;
  }
  return data.results[0]!;
}

const isolated = options.isolate && !options.child && workloads.length > 1;
const results: RunResult[] = [];
for (let round = 1; round <= options.repeat; round++) {
  for (const w of workloads) {
    const load = options.waitLoad === undefined || options.child
      ? loadavg()[0]!
      : await waitForLoad(options.waitLoad, options.waitLoadSeconds, log);
    if (!options.child) log(`${w.name}${options.repeat > 1 ? ` (round ${round})` : ""}: ${w.description}`);
    const result = isolated ? await runIsolated(w) : await w.run(ctx, plan);
    result.load ??= load;
    results.push(result);
    if (isolated) continue;
    if (result.kind === "memory") {
      log(
        `${w.name}: heap ${int(result.heapPerMessage!)} B/msg, RSS ${int(result.rssPerMessage!)} B/msg, external ${
          int(result.externalPerMessage!)
        } B/msg`,
      );
    } else if (result.kind === "skipped" || result.kind === "failed") {
      log(`${w.name}: ${result.kind}: ${result.notes.join("; ")}`);
    } else {
      log(
        `${w.name}: ${int(result.rate)} msg/s (${int(result.messages)} in ${result.seconds.toFixed(2)} s)` +
          (result.p50 === undefined ? "" : `, p50 ${latency(result.p50)}, p99 ${latency(result.p99!)}`) +
          `, peak RSS ${mib(result.peakRss)} MiB`,
      );
    }
  }
  if (options.repeat > 1 && !options.child) {
    console.log(`\n${renderReport([runFile(results.slice((round - 1) * workloads.length))])}\n`);
  }
}

if (options.repeat === 1 && !options.child) console.log(`\n${renderReport([runFile(results)])}\n\n${LEGEND}\n`);
if (options.json) {
  writeFileSync(options.json, JSON.stringify(runFile(results), null, 2));
  if (!options.child) log(`results written to ${options.json}`);
}
if (!options.child) log(`done in ${((performance.now() - started) / 1000).toFixed(0)} s (cpu sink ${cpuSink})`);
// Client sockets and timers of closed consumers may linger a moment: do not wait for them.
process.exit(0);
