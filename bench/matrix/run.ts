// The shape matrix: Pyrallel Consumer's steady rate on topics of every shape (value size, records
// per producer send, key distribution, partitions) with 1 and 5 ms handlers, each cell as a ratio
// to its own bound: min(Little's-law bound, the raw client's rate on that topic), both measured in
// the same run. Peers (Confluent's Parallel Consumer, Pyrallel for Python) as extra rows. See the
// "Shape matrix" section of bench/README.md.
//
//   node bench/matrix/run.ts                              quick preset (12 cells, a few minutes)
//   node_modules/.bin/deno run -A bench/matrix/run.ts
//   node_modules/.bin/bun bench/matrix/run.ts
//   node bench/matrix/run.ts --preset issue|full          46 / 288 cells
//   node bench/matrix/run.ts --preset full --values 10,100 --partitions 4,48 --handlers 5
//   node bench/matrix/run.ts --peers java,python          also the peers, same topics and cells
//   node bench/matrix/run.ts --list                       the selected cells and their topics
//
// Options (each also an environment variable): --preset (MATRIX_PRESET), --values, --batches,
// --keys (u100,u1000,z1000), --partitions, --handlers, --cells ID,… (filters: they narrow the
// preset), --window S (MATRIX_WINDOW_S, default 3), --peers java,python|all|none (MATRIX_PEERS),
// --no-noop (skip the no-op runs), --raw-reads N (raw and no-op reads per topic, default 5), --brokers host:port (BENCH_BROKERS),
// --json FILE, --stall-timeout S (default 60), --no-isolate (every run in this process),
// --wait-load L[,S] (BENCH_WAIT_LOAD: before each run, wait up to S s (120) for the 1-minute load
// average to drop below L).
import { spawn } from "node:child_process";
import { existsSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Context, failed, medianRun, runPyrallel, runRaw, type RunResult, type Work } from "../harness/runners.ts";
import { env, optionValue, runtime, runtimeVersion, scriptArgs, selfCommand, waitForLoad } from "../harness/runtime.ts";
import { int, percent } from "../harness/stats.ts";
import { ensureTopic, hotKeyShare, recordWireBytes, type TopicSpec } from "../harness/topics.ts";
import {
  type Cell,
  cellTarget,
  cellWindowCap,
  DIMENSIONS,
  type Filters,
  hotShare,
  type Preset,
  PRESETS,
  readsWholeTopic,
  selectCells,
  WORKLOAD,
} from "./cells.ts";
import { type Peer, PEER_NAMES, type PeerName, type PeerOutcome, setupPeer } from "./peers.ts";
import {
  type AloneMeasure,
  aloneMs,
  bounds,
  type CellInfo,
  type CellMeasure,
  type ConsumerInfo,
  describeAlone,
  MATRIX_LEGEND,
  type MatrixFile,
  renderMatrix,
  type TopicMeasure,
} from "./report.ts";

// ---------------------------------------------------------------------------------------------
// Options

interface Options {
  preset: Preset;
  filters: Filters;
  selection: string;
  windowSeconds: number;
  peers: PeerName[];
  noop: boolean;
  rawReads: number;
  brokers: string[];
  json: string | undefined;
  list: boolean;
  stallTimeoutS: number;
  isolate: boolean;
  waitLoad: number | undefined;
  waitLoadSeconds: number;
  /** In a child process: the job to run (JSON) and where to write its result. */
  job: string | undefined;
  out: string | undefined;
}

function parseOptions(): Options {
  const args = scriptArgs();
  const value = (flag: string, envName?: string) => optionValue(args, flag, envName);
  const list = (text: string | undefined) => (text ? text.split(",").map((s) => s.trim()).filter(Boolean) : undefined);
  const numbers = (flag: string, allowed: readonly number[]) => {
    const values = list(value(flag))?.map((text) => Number(text.replace(/k$/i, "000")));
    const wrong = values?.filter((v) => !allowed.includes(v));
    if (wrong?.length) throw new Error(`${flag}: ${wrong.join(",")} not in ${allowed.join(",")}`);
    return values;
  };
  if (args.includes("--help") || args.includes("-h")) {
    console.log(
      "usage: bench/matrix/run.ts [--preset quick|issue|full] [--values 10,100,1000,10000] [--batches 1,500,5000]\n" +
        "         [--keys u100,u1000,z1000] [--partitions 1,4,12,48] [--handlers 1,5] [--cells ID,…]\n" +
        "         [--window S] [--peers java,python|all|none] [--no-noop] [--raw-reads N]\n" +
        "         [--brokers host:port] [--json FILE] [--stall-timeout S] [--no-isolate] [--wait-load L[,S]] [--list]",
    );
    process.exit(0);
  }
  const preset = (value("--preset", "MATRIX_PRESET") ?? "quick") as Preset;
  if (!(preset in PRESETS)) throw new Error(`--preset: ${preset} is not one of ${Object.keys(PRESETS).join(", ")}`);
  const keys = list(value("--keys"));
  const wrongKeys = keys?.filter((k) => !(DIMENSIONS.keys as readonly string[]).includes(k));
  if (wrongKeys?.length) throw new Error(`--keys: ${wrongKeys.join(",")} not in ${DIMENSIONS.keys.join(",")}`);
  const filters: Filters = {
    ...optional("values", numbers("--values", DIMENSIONS.values)),
    ...optional("batches", numbers("--batches", DIMENSIONS.batches)),
    ...optional("keys", keys),
    ...optional("partitions", numbers("--partitions", DIMENSIONS.partitions)),
    ...optional("handlers", numbers("--handlers", DIMENSIONS.handlers)),
    ...optional("cells", list(value("--cells"))),
  };
  const peersText = value("--peers", "MATRIX_PEERS") ?? "none";
  const peers = peersText === "all" ? PEER_NAMES : peersText === "none" ? [] : (list(peersText) as PeerName[]);
  const wrongPeers = peers.filter((p) => !PEER_NAMES.includes(p));
  if (wrongPeers.length) throw new Error(`--peers: ${wrongPeers.join(",")} not in ${PEER_NAMES.join(",")}`);
  const port = env("PYRALLEL_KAFKA_PORT") ?? "9092";
  return {
    preset,
    filters,
    selection: Object.entries(filters).map(([name, values]) => `${name} ${values!.join(",")}`).join("; "),
    windowSeconds: Number(value("--window", "MATRIX_WINDOW_S") ?? 3),
    peers,
    noop: !args.includes("--no-noop"),
    rawReads: Number(value("--raw-reads") ?? 5),
    brokers: list(value("--brokers", "BENCH_BROKERS")) ?? [`127.0.0.1:${port}`],
    json: value("--json", "BENCH_JSON"),
    list: args.includes("--list"),
    stallTimeoutS: Number(value("--stall-timeout", "BENCH_STALL_TIMEOUT_S") ?? 60),
    isolate: !args.includes("--no-isolate") && env("BENCH_ISOLATE") !== "0",
    ...parseWaitLoad(value("--wait-load", "BENCH_WAIT_LOAD")),
    job: value("--job"),
    out: value("--out"),
  };
}

/** "L[,SECONDS]": wait for a load average below L, at most SECONDS (default 120) before each run. */
function parseWaitLoad(text: string | undefined) {
  if (!text) return { waitLoad: undefined, waitLoadSeconds: 120 };
  const [load, seconds] = text.split(",");
  return { waitLoad: Number(load), waitLoadSeconds: seconds ? Number(seconds) : 120 };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

// ---------------------------------------------------------------------------------------------
// Jobs: what one (child) process measures

type Job =
  | { kind: "topic"; topic: TopicSpec; noop: boolean; rawReads: number }
  | { kind: "cell"; cell: string; target: number; windowSeconds?: number }
  | { kind: "alone"; handlerMs: number; seconds: number };

interface JobResult {
  raw?: RunResult;
  noop?: RunResult;
  run?: RunResult;
  /** Mean handler time measured around the timer, ms. */
  handlerMs?: number;
  /** The same for the hottest key's messages only (Zipf cells). */
  hotHandlerMs?: number;
  /** The handler alone: its calls per second with `WORKLOAD.concurrency` of them at once. */
  aloneRate?: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const handlerTime = { sum: 0, count: 0, hotSum: 0, hotCount: 0 };
/** Awaits a timer of `ms`; how long it really took (timers overshoot, on Deno most). */
const timedTimer = async (ms: number): Promise<number> => {
  const started = performance.now();
  await sleep(ms);
  return performance.now() - started;
};
/** The cells' handler: {@linkcode timedTimer}, its time summed over every message and over those of `hotKey`. */
const timedSleep = (ms: number, hotKey?: string): Work => {
  const hot = hotKey === undefined ? undefined : new TextEncoder().encode(hotKey);
  const isHot = (key: Uint8Array | null | undefined) =>
    hot !== undefined && key != null && key.length === hot.length && key.every((byte, i) => byte === hot[i]);
  return async (message) => {
    const took = await timedTimer(ms);
    handlerTime.sum += took;
    handlerTime.count++;
    if (isHot(message.key)) {
      handlerTime.hotSum += took;
      handlerTime.hotCount++;
    }
  };
};
const noopWork: Work = () => {};
const steady = (r: RunResult) => r.steadyRate;
const libraryConfig =
  `key ordering, maxInFlight ${WORKLOAD.maxInFlight}, async engine concurrency ${WORKLOAD.concurrency}`;

/**
 * The handler alone, no Kafka: `WORKLOAD.concurrency` loops awaiting the cells' timer for `seconds`.
 * What this runtime's timers allow at that concurrency: the most any consumer could reach with it.
 */
async function runAlone(handlerMs: number, seconds: number): Promise<JobResult> {
  let calls = 0;
  let took = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  const loop = async () => {
    while (performance.now() < end) {
      // Not `took += await …`: that reads `took` before the await, losing the other loops' times.
      const t = await timedTimer(handlerMs);
      took += t;
      calls++;
    }
  };
  await Promise.all(Array.from({ length: WORKLOAD.concurrency }, loop));
  return { aloneRate: calls / ((performance.now() - started) / 1000), handlerMs: took / calls };
}

async function runJob(ctx: Context, job: Job): Promise<JobResult> {
  if (job.kind === "alone") return runAlone(job.handlerMs, job.seconds);
  if (job.kind === "topic") {
    // Raw and no-op reads alternate, each going first in every other pair (raw, no-op, no-op, raw,
    // …), so a change of load, or the first read's cold code, hits both; the median of each
    // (steady rates: first message to last).
    const { topic } = job;
    const raws: RunResult[] = [];
    const noops: RunResult[] = [];
    const readRaw = async (): Promise<RunResult | undefined> => {
      // Responses as large as the library's on these records (about 10,000 of them at most).
      const raw = await runRaw(ctx, "raw", topic.name, topic.messages, recordWireBytes(topic));
      if (raw.kind !== "raw") return raw;
      raws.push(raw);
    };
    for (let i = 0; i < job.rawReads; i++) {
      if (i % 2 === 0 || !job.noop) {
        const failed = await readRaw();
        if (failed) return { raw: failed };
      }
      if (!job.noop) continue;
      const noop = await runPyrallel(ctx, {
        name: "noop",
        topic: topic.name,
        target: topic.messages,
        work: noopWork,
        ordering: "key",
        maxInFlight: WORKLOAD.maxInFlight,
        concurrency: WORKLOAD.concurrency,
        config: libraryConfig,
      });
      if (noop.kind !== "pyrallel") return { raw: medianRun(raws, steady), noop };
      noops.push(noop);
      if (i % 2 === 1) {
        const failed = await readRaw();
        if (failed) return { raw: failed };
      }
    }
    return { raw: medianRun(raws, steady), ...(job.noop ? { noop: medianRun(noops, steady) } : {}) };
  }
  const cell = PRESETS.full().find((c) => c.id === job.cell);
  if (!cell) return { run: failed(job.cell, "", `no cell ${job.cell}`) };
  const hotKey = readsWholeTopic(cell) ? hotKeyShare(cell.topic).key : undefined;
  Object.assign(handlerTime, { sum: 0, count: 0, hotSum: 0, hotCount: 0 });
  const run = await runPyrallel(ctx, {
    name: cell.id,
    topic: cell.topic.name,
    target: job.target,
    work: timedSleep(cell.handlerMs, hotKey),
    ordering: "key",
    maxInFlight: WORKLOAD.maxInFlight,
    concurrency: WORKLOAD.concurrency,
    config: libraryConfig,
    ...(job.windowSeconds === undefined ? {} : { windowSeconds: job.windowSeconds }),
  });
  return {
    run,
    ...(handlerTime.count > 0 ? { handlerMs: handlerTime.sum / handlerTime.count } : {}),
    ...(handlerTime.hotCount > 0 ? { hotHandlerMs: handlerTime.hotSum / handlerTime.hotCount } : {}),
  };
}

/** Runs a job in a child process of this runtime (fresh heap), or here with --no-isolate. */
async function runIsolated(ctx: Context, job: Job): Promise<JobResult> {
  if (!options.isolate) return runJob(ctx, job);
  const file = join(
    tmpdir(),
    `pyrallel-matrix-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.json`,
  );
  const command = selfCommand(fileURLToPath(import.meta.url), [
    "--job",
    JSON.stringify(job),
    "--out",
    file,
    "--brokers",
    options.brokers.join(","),
    "--stall-timeout",
    String(options.stallTimeoutS),
  ]);
  const child = spawn(command.command, command.args, { stdio: ["ignore", "inherit", "inherit"] });
  const code = await new Promise<number>((resolve) => {
    child.on("exit", (exitCode) => resolve(exitCode ?? 1));
    child.on("error", () => resolve(1));
  });
  const name = job.kind === "topic" ? job.topic.name : job.kind === "cell" ? job.cell : `alone-h${job.handlerMs}`;
  if (code !== 0 || !existsSync(file)) return { run: failed(name, "child process", `exit code ${code}, no result`) };
  const result = JSON.parse(readFileSync(file, "utf8")) as JobResult;
  unlinkSync(file);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Main

const options = parseOptions();
const started = performance.now();
const log = (line: string) =>
  console.log(`[${runtime} ${((performance.now() - started) / 1000).toFixed(1).padStart(6)}s] ${line}`);
const ctx: Context = { brokers: options.brokers, log, stallTimeoutMs: options.stallTimeoutS * 1000 };

if (options.job) {
  // A child process: one job, its result to --out.
  const result = await runJob(ctx, JSON.parse(options.job) as Job);
  writeFileSync(options.out!, JSON.stringify(result));
  process.exit(0);
}

const cells = selectCells(options.preset, options.filters);
const topics = new Map<string, { spec: TopicSpec; cells: Cell[] }>();
for (const cell of cells) {
  const entry = topics.get(cell.topic.name) ?? { spec: cell.topic, cells: [] };
  entry.cells.push(cell);
  topics.set(cell.topic.name, entry);
}

if (options.list) {
  for (const cell of cells) console.log(`${cell.id.padEnd(26)} ${cell.topic.name}`);
  console.log(`${cells.length} cells, ${topics.size} topics`);
  process.exit(0);
}
if (cells.length === 0) {
  console.error(`no cell of preset ${options.preset} matches ${options.selection} (see --list)`);
  process.exit(2);
}

const loadAtStart = loadavg()[0]!;
log(
  `${runtimeVersion}, brokers ${options.brokers.join(",")}, load average ${
    loadAtStart.toFixed(1)
  } (${cpus().length} cores)`,
);
log(
  `preset ${options.preset}${
    options.selection ? ` (${options.selection})` : ""
  }: ${cells.length} cells, ${topics.size} topics; window ${options.windowSeconds} s; peers: ${
    options.peers.join(", ") || "none"
  }`,
);
for (const { spec } of topics.values()) await ensureTopic(options.brokers, spec, log);

const peers: Peer[] = [];
for (const name of options.peers) {
  log(`peer ${name}: setting up (first use downloads it)`);
  const peer = await setupPeer(name);
  if (typeof peer === "string") log(`peer ${name} skipped: ${peer}`);
  else {
    log(`peer ${name}: ${peer.label}`);
    peers.push(peer);
  }
}

const library: ConsumerInfo = {
  label: runtimeVersion,
  kind: "library",
  config: libraryConfig,
  rawConfig: "@platformatic/kafka Consumer.consume() stream, count only, the library's fetch sizes",
  concurrency: WORKLOAD.concurrency,
  maxInFlight: WORKLOAD.maxInFlight,
};
const consumers: ConsumerInfo[] = [
  library,
  ...peers.map((peer) => ({
    label: peer.label,
    kind: "peer" as const,
    config: peer.config,
    rawConfig: peer.rawConfig,
    concurrency: WORKLOAD.concurrency,
  })),
];
const cellInfos: CellInfo[] = cells.map((cell) => ({
  id: cell.id,
  topic: cell.topic.name,
  handlerMs: cell.handlerMs,
  hotShare: hotShare(cell.topic),
  readsWholeTopic: readsWholeTopic(cell),
}));
const topicMeasures: TopicMeasure[] = [];
const runs: CellMeasure[] = [];
const alone: AloneMeasure[] = [];

const notesOf = (result: RunResult | undefined, prefix = "") => (result?.notes ?? []).map((note) => prefix + note);
const errorOf = (result: RunResult | undefined) =>
  !result ? "no result" : result.kind === "failed" || result.kind === "skipped" ? result.notes.join("; ") : undefined;

/** Before a run: waits for a quiet machine if asked to; the load average the run starts with. */
const beforeRun = (): Promise<number> =>
  options.waitLoad === undefined
    ? Promise.resolve(loadavg()[0]!)
    : waitForLoad(options.waitLoad, options.waitLoadSeconds, log);

function peerRate(outcome: PeerOutcome): number | undefined {
  return outcome.messages && outcome.steadySeconds ? outcome.messages / outcome.steadySeconds : undefined;
}

function logCell(cell: Cell, consumer: ConsumerInfo, measure: CellMeasure) {
  if (measure.error) {
    log(`${cell.id} ${consumer.label}: FAILED ${measure.error}`);
    return;
  }
  const info = cellInfos.find((c) => c.id === cell.id)!;
  const raw = topicMeasures.find((t) => t.topic === cell.topic.name && t.consumer === consumer.label)?.raw;
  const b = bounds(
    info,
    consumer,
    raw,
    measure.handlerMs,
    measure.hotHandlerMs,
    aloneMs(alone, consumer, cell.handlerMs),
  );
  log(
    `${cell.id} ${consumer.label}: ${int(measure.rate)} msg/s (${int(measure.messages)} msgs), bound ${
      int(b.bound)
    } (${b.boundBy}) → ${percent(measure.rate / b.bound)}; t ${measure.handlerMs?.toFixed(2) ?? "—"} ms${
      measure.hotHandlerMs === undefined ? "" : ` (hot key ${measure.hotHandlerMs.toFixed(2)} ms)`
    } → ${percent(b.boundMeasured ? measure.rate / b.boundMeasured : undefined)}${
      b.boundAlone ? `; alone → ${percent(measure.rate / b.boundAlone)}` : ""
    }`,
  );
}

for (const handlerMs of [...new Set(cells.map((cell) => cell.handlerMs))].sort((a, b) => a - b)) {
  const load = await beforeRun();
  const result = await runIsolated(ctx, { kind: "alone", handlerMs, seconds: options.windowSeconds });
  if (result.aloneRate === undefined || result.handlerMs === undefined) {
    log(`the ${handlerMs} ms handler alone: FAILED ${errorOf(result.run)}`);
    continue;
  }
  const measure: AloneMeasure = {
    handlerMs,
    concurrency: WORKLOAD.concurrency,
    rate: result.aloneRate,
    measuredMs: result.handlerMs,
    load,
  };
  alone.push(measure);
  log(`the handler alone, ${WORKLOAD.concurrency} at once: ${describeAlone(measure)}`);
}

for (const { spec, cells: topicCells } of topics.values()) {
  const noop = options.noop && spec.keyDistribution !== "zipf";
  const topicLoad = await beforeRun();
  log(`topic ${spec.name}: raw${noop ? " and no-op" : ""}, ${runtimeVersion}`);
  const measured = await runIsolated(ctx, { kind: "topic", topic: spec, noop, rawReads: options.rawReads });
  const rawError = errorOf(measured.raw ?? measured.run);
  const topicMeasure: TopicMeasure = {
    topic: spec.name,
    consumer: library.label,
    ...(rawError ? {} : { raw: measured.raw!.steadyRate }),
    rawNotes: rawError ? [`raw failed: ${rawError}`] : notesOf(measured.raw, "raw: "),
    load: topicLoad,
  };
  if (measured.noop) {
    const noopError = errorOf(measured.noop);
    if (noopError) topicMeasure.noopNotes = [`no-op failed: ${noopError}`];
    else {
      topicMeasure.noop = measured.noop.steadyRate;
      topicMeasure.noopNotes = notesOf(measured.noop, "no-op: ");
    }
  }
  topicMeasures.push(topicMeasure);
  log(
    `topic ${spec.name}: raw ${int(topicMeasure.raw ?? NaN)} msg/s${
      topicMeasure.noop === undefined
        ? ""
        : `, no-op ${int(topicMeasure.noop)} msg/s (${
          percent(topicMeasure.raw ? topicMeasure.noop / topicMeasure.raw : undefined)
        })`
    }`,
  );
  for (const peer of peers) {
    const load = await beforeRun();
    const outcome = await peer.run({
      mode: "raw",
      brokers: options.brokers,
      topic: spec.name,
      target: spec.messages,
      handlerMs: 0,
      concurrency: WORKLOAD.concurrency,
      stallSeconds: options.stallTimeoutS,
    });
    const rate = peerRate(outcome);
    topicMeasures.push({
      topic: spec.name,
      consumer: peer.label,
      ...(rate === undefined ? {} : { raw: rate }),
      rawNotes: outcome.error ? [`raw failed: ${outcome.error}`] : [],
      load,
    });
    log(
      `topic ${spec.name}: ${peer.label} raw ${
        outcome.error ? `FAILED ${outcome.error}` : `${int(rate ?? NaN)} msg/s`
      }`,
    );
  }

  for (const cell of topicCells) {
    const windowCap = cellWindowCap(cell, options.windowSeconds);
    const target = cellTarget(cell, topicMeasure.raw, options.windowSeconds);
    const load = await beforeRun();
    log(`${cell.id}: ${runtimeVersion}, ${int(target)} messages${windowCap ? ` or ${windowCap} s` : " (whole topic)"}`);
    const result = await runIsolated(ctx, {
      kind: "cell",
      cell: cell.id,
      target,
      ...(windowCap === undefined ? {} : { windowSeconds: windowCap }),
    });
    const error = errorOf(result.run);
    const measure: CellMeasure = {
      cell: cell.id,
      consumer: library.label,
      messages: error ? 0 : result.run!.messages,
      target,
      rate: error ? NaN : result.run!.steadyRate,
      ...(result.handlerMs === undefined ? {} : { handlerMs: result.handlerMs }),
      ...(result.hotHandlerMs === undefined ? {} : { hotHandlerMs: result.hotHandlerMs }),
      load,
      ...(result.run?.meanProcessing === undefined ? {} : { running: result.run.meanProcessing }),
      notes: error ? [] : notesOf(result.run),
      ...(error ? { error } : {}),
    };
    runs.push(measure);
    logCell(cell, library, measure);
    for (const peer of peers) {
      const consumer = consumers.find((c) => c.label === peer.label)!;
      const peerRaw = topicMeasures.find((t) => t.topic === spec.name && t.consumer === peer.label)?.raw;
      const peerTarget = cellTarget(cell, peerRaw, options.windowSeconds);
      const peerLoad = await beforeRun();
      log(
        `${cell.id}: ${peer.label}, ${int(peerTarget)} messages${windowCap ? ` or ${windowCap} s` : " (whole topic)"}`,
      );
      const outcome = await peer.run({
        mode: "consume",
        brokers: options.brokers,
        topic: spec.name,
        target: peerTarget,
        handlerMs: cell.handlerMs,
        concurrency: WORKLOAD.concurrency,
        ...(windowCap === undefined ? {} : { windowSeconds: windowCap }),
        ...(readsWholeTopic(cell) ? { hotKey: hotKeyShare(cell.topic).key } : {}),
        stallSeconds: options.stallTimeoutS,
      });
      const rate = peerRate(outcome);
      const peerMeasure: CellMeasure = {
        cell: cell.id,
        consumer: peer.label,
        messages: outcome.messages ?? 0,
        target: peerTarget,
        rate: rate ?? NaN,
        ...(outcome.handlerMeanMs ? { handlerMs: outcome.handlerMeanMs } : {}),
        ...(outcome.hotHandlerMeanMs ? { hotHandlerMs: outcome.hotHandlerMeanMs } : {}),
        load: peerLoad,
        notes: outcome.messages !== undefined && outcome.messages < peerTarget
          ? [`window of ${windowCap} s closed at ${int(outcome.messages)} of ${int(peerTarget)} messages`]
          : [],
        ...(outcome.error || rate === undefined ? { error: outcome.error ?? "no rate" } : {}),
      };
      runs.push(peerMeasure);
      logCell(cell, consumer, peerMeasure);
    }
  }
}

const file: MatrixFile = {
  runtime: runtimeVersion,
  preset: options.preset,
  selection: options.selection,
  at: new Date().toISOString(),
  loadAtStart,
  loadAtEnd: loadavg()[0]!,
  cores: cpus().length,
  windowSeconds: options.windowSeconds,
  seconds: (performance.now() - started) / 1000,
  consumers,
  cells: cellInfos,
  topics: topicMeasures,
  runs,
  alone,
};
console.log(`\n${renderMatrix(file)}\n\n${MATRIX_LEGEND}\n`);
if (options.json) {
  writeFileSync(options.json, JSON.stringify(file, null, 2));
  log(`results written to ${options.json}`);
}
log(`done in ${Math.round(file.seconds)} s`);
process.exit(0);
