// The CPU benchmark's results (what run.ts writes with --json) and their markdown tables (run.ts
// prints them for its runtime; all.ts prints them for every runtime it ran).
import { int, markdownTable } from "../harness/stats.ts";

export type Mode = "async" | "worker" | "pool";

/** One measured run. Consumer runs: from start() to the group's commits at the log end. */
export interface ModeRun {
  mode: Mode;
  /** Pool size (worker engine and plain pool). */
  workers?: number;
  messages: number;
  /** Consumer: start() called → committed offsets at the log end on every partition. Pool: first batch → last reply. */
  seconds: number;
  rate: number;
  /** Consumer: from the first message handled to the same end. */
  steadyRate?: number;
  /** Consumer: from the first message handled to the last one handled (commits not awaited). */
  handledRate?: number;
  /** Consumer: start() called → start() resolved. Pool: spawn → every worker ready (not in `seconds`). */
  startSeconds?: number;
  /** Consumer: start() called → first message handled. */
  firstSeconds?: number;
  /** Consumer: last message handled → commits at the log end. */
  commitLagSeconds?: number;
  /** Consumer: the longest the main thread's event loop did not run a 5 ms timer, ms. */
  maxLoopBlockMs?: number;
  /** Consumer: completions beyond the topic's messages (work done again after a partition was lost). */
  processedAgain?: number;
  /** Process CPU seconds (every thread) over `seconds`. */
  cpuSeconds: number;
  /** cpuSeconds / seconds. */
  cores: number;
  /** Consumer runs on Linux: CPU seconds of the main thread (the consumer's own work). */
  mainThreadSeconds?: number;
  /** Consumer runs with the local broker of scripts/kafka/broker.sh: its CPU seconds over the run. */
  brokerSeconds?: number;
  /** 1-minute load average when the run started. */
  load: number;
  /** Why the run failed (no figures). */
  error?: string;
  /** What went wrong without failing it (error events, a short commit seen by the broker). */
  notes?: string[];
}

export interface LevelResult {
  /** Nominal handler cost, ms. */
  ms: number;
  rounds: number;
  /** rounds × the calibrated time per round, ms. */
  actualMs: number;
  messages: number;
  topic: string;
  /** Every run, in the order measured. */
  runs: ModeRun[];
  /** The median run (by msg/s) of each mode; absent when every run of it failed. */
  async?: ModeRun;
  worker?: ModeRun;
  pool?: ModeRun;
}

export interface SweepRow {
  workers: number;
  runs: ModeRun[];
  worker?: ModeRun;
  pool?: ModeRun;
}

export interface SweepResult {
  ms: number;
  rounds: number;
  messages: number;
  topic: string;
  /** The async engine's median msg/s at this cost (from the main table, or measured with the sweep). */
  asyncRate?: number;
  rows: SweepRow[];
}

export interface CpuFile {
  runtime: string;
  cores: number;
  /** Pool size of the main table's worker engine (its default) and plain pool. */
  workers: number;
  /** The consumer runs' topics and ordering (the plain pool has neither). */
  shape: { partitions: number; keys: number; ordering: string };
  at: string;
  seconds: number;
  loadBefore: number;
  loadAfter: number;
  /** Calibration: ns per mix round over 32 bytes on the main thread. */
  nsPerRound: number;
  repeat: number;
  levels: LevelResult[];
  sweep?: SweepResult;
}

/** Targets of the issue: worker ÷ async ≥ 1.8 at 0.1–1 ms and ≥ 1.0 at 0.05 ms; worker ÷ pool ≥ 0.9. */
export function asyncTarget(ms: number): number | undefined {
  if (ms >= 0.1 && ms <= 1) return 1.8;
  if (ms <= 0.05) return 1.0;
  return undefined;
}
export const POOL_TARGET = 0.9;

const MISS = " ✗";

/** The run with the median msg/s of the successful ones. */
export function medianOf(runs: ModeRun[]): ModeRun | undefined {
  const ok = runs.filter((run) => run.error === undefined).sort((a, b) => a.rate - b.rate);
  return ok[ok.length >> 1];
}

function ratio(value: number | undefined, base: number | undefined, target?: number): string {
  if (value === undefined || base === undefined || !Number.isFinite(value / base)) return "—";
  const r = value / base;
  return `${r.toFixed(2)}×${target !== undefined && r < target ? MISS : ""}`;
}

const rate = (run: ModeRun | undefined) => (run ? int(run.rate) : "—");
const cores = (run: ModeRun | undefined) => (run ? run.cores.toFixed(2) : "—");
/** CPU µs per message, or "—" when not measured. */
const perMessage = (seconds: number | undefined, messages: number) =>
  seconds === undefined || !Number.isFinite(seconds) ? "—" : ((seconds * 1e6) / messages).toFixed(0);
const loads = (runs: ModeRun[]) => {
  const values = runs.map((run) => run.load);
  return values.length === 0 ? "—" : `${Math.min(...values).toFixed(1)}–${Math.max(...values).toFixed(1)}`;
};

/** The tables of one runtime's run: per cost level, the worker sweep, and the details of every median run. */
export function renderFile(file: CpuFile): string {
  const out: string[] = [];
  out.push(
    `### ${file.runtime}: ${file.cores} cores, ${file.workers} workers (engine default and pool), ` +
      `${file.shape.partitions} partitions, ${file.shape.keys} keys, ${file.shape.ordering} ordering, median of ${file.repeat}, ` +
      `load ${file.loadBefore.toFixed(2)} before → ${file.loadAfter.toFixed(2)} after (${file.at.slice(0, 16)}Z, ` +
      `${Math.round(file.seconds)} s; mix ${file.nsPerRound.toFixed(1)} ns/round)`,
  );
  out.push("");
  out.push(markdownTable(
    [
      "cost ms:",
      "messages:",
      "async msg/s:",
      "worker msg/s:",
      "pool msg/s:",
      "worker ÷ async:",
      "worker ÷ pool:",
      "CPU cores (worker run):",
      "load:",
    ],
    file.levels.map((level) => [
      String(level.ms),
      int(level.messages),
      rate(level.async),
      rate(level.worker),
      rate(level.pool),
      ratio(level.worker?.rate, level.async?.rate, asyncTarget(level.ms)),
      ratio(level.worker?.rate, level.pool?.rate, POOL_TARGET),
      cores(level.worker),
      loads(level.runs),
    ]),
  ));
  const sweep = file.sweep;
  if (sweep) {
    out.push("");
    out.push(
      `Workers at ${sweep.ms} ms (${int(sweep.messages)} messages; async engine ${
        sweep.asyncRate === undefined ? "—" : int(sweep.asyncRate)
      } msg/s):`,
    );
    out.push("");
    out.push(markdownTable(
      [
        "workers:",
        "worker msg/s:",
        "pool msg/s:",
        "worker ÷ async:",
        "worker ÷ pool:",
        "CPU cores (worker run):",
        "load:",
      ],
      sweep.rows.map((row) => [
        String(row.workers),
        rate(row.worker),
        rate(row.pool),
        ratio(row.worker?.rate, sweep.asyncRate),
        ratio(row.worker?.rate, row.pool?.rate, POOL_TARGET),
        cores(row.worker),
        loads(row.runs),
      ]),
    ));
  }
  out.push("");
  out.push("<details><summary>Where the time goes (median runs)</summary>");
  out.push("");
  const detailRows: string[][] = [];
  const detail = (label: string, ms: number, handlerMs: number, run: ModeRun | undefined) => {
    if (!run) return;
    const consumer = run.mode !== "pool";
    const seconds = (value: number | undefined) => (value === undefined ? "—" : value.toFixed(2));
    detailRows.push([
      String(ms),
      label,
      int(run.rate),
      consumer ? int(run.steadyRate ?? NaN) : "—",
      consumer ? int(run.handledRate ?? NaN) : int(run.rate),
      seconds(run.seconds),
      consumer ? seconds(run.firstSeconds) : `(${seconds(run.startSeconds)})`,
      consumer ? seconds(run.commitLagSeconds) : "—",
      run.maxLoopBlockMs === undefined ? "—" : run.maxLoopBlockMs.toFixed(0),
      ((run.messages * handlerMs) / 1000 / run.seconds).toFixed(2),
      run.cores.toFixed(2),
      perMessage(run.cpuSeconds, run.messages),
      perMessage(run.mainThreadSeconds, run.messages),
      perMessage(run.brokerSeconds, run.messages),
    ]);
  };
  for (const level of file.levels) {
    detail(`async`, level.ms, level.actualMs, level.async);
    detail(`worker ×${level.worker?.workers ?? file.workers}`, level.ms, level.actualMs, level.worker);
    detail(`pool ×${level.pool?.workers ?? file.workers}`, level.ms, level.actualMs, level.pool);
  }
  for (const row of sweep?.rows ?? []) {
    const handlerMs = (sweep!.rounds * file.nsPerRound) / 1e6;
    detail(`sweep: worker ×${row.workers}`, sweep!.ms, handlerMs, row.worker);
    detail(`sweep: pool ×${row.workers}`, sweep!.ms, handlerMs, row.pool);
  }
  out.push(markdownTable(
    [
      "cost ms:",
      "mode",
      "msg/s:",
      "steady:",
      "handled:",
      "total s:",
      "start → first s:",
      "last → committed s:",
      "loop block ms:",
      "handler cores:",
      "CPU cores:",
      "CPU µs/msg:",
      "main thread µs/msg:",
      "broker µs/msg:",
    ],
    detailRows,
  ));
  out.push("");
  out.push("</details>");
  const troubles = [...file.levels.flatMap((l) => l.runs), ...(sweep?.rows.flatMap((r) => r.runs) ?? [])]
    .filter((run) => run.error !== undefined || run.notes !== undefined);
  if (troubles.length > 0) out.push("");
  for (const run of troubles) {
    out.push(
      `- ${run.error === undefined ? "note" : "failed"}: ${run.mode}${run.workers ? ` ×${run.workers}` : ""}: ${
        run.error ?? run.notes!.join("; ")
      }`,
    );
  }
  const rounds = file.levels.map((l) => `${l.ms} ms = ${int(l.rounds)} rounds (${l.actualMs.toFixed(3)} ms)`);
  out.push("");
  out.push(`Calibration on the main thread: ${rounds.join(", ")}.`);
  return out.join("\n");
}

export const LEGEND: string = [
  "msg/s: messages ÷ time from `start()` until the group's committed offsets reach the log end on every partition " +
  "(joining the group, the first fetch and the last commit included; a consumer that caught up commits at once, or a quarter of `commitIntervalMs` after its previous early commit); " +
  "pool: first batch posted → last result (workers started and ready before). " +
  "✗: misses a target (worker ÷ async ≥ 1.8× at 0.1–1 ms, ≥ 1.0× at 0.05 ms; worker ÷ pool ≥ 0.9 at every cost). " +
  "CPU cores: process CPU time (every thread) ÷ wall time of the run. load: 1-minute load average at the start of the runs.",
  "Details: steady = messages ÷ (first message handled → commits at the log end); handled = messages ÷ (first → last " +
  "message handled); start → first: `start()` called → first message handled (pool: spawn → ready, not counted); " +
  "last → committed: last message handled → commits at the log end; loop block: the longest the main thread's " +
  "event loop went without running a 5 ms timer (handlers on the event loop, or the consumer's own work); handler " +
  "cores: messages × the calibrated handler time ÷ wall time (threads busy in the handler itself; the rest of the CPU " +
  "cores is overhead: dispatch, messaging, Kafka); CPU µs/msg: process CPU per message (the handler " +
  "itself costs the cost level); main thread µs/msg: the consumer's own thread (fetching, the control plane, " +
  "posting to workers; Linux only); broker µs/msg: the local broker's process over the run (when it is the one " +
  "`scripts/kafka/broker.sh` started). With the workers on every core, those two are what a plain pool does not pay.",
].join("\n\n");
