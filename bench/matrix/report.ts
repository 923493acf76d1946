// Tables of the shape matrix: one per consumer (the runtime's library run, each peer), the no-op vs
// raw table, and for several files a summary of the ratios side by side.
//
//   node bench/matrix/report.ts /tmp/matrix-node.json /tmp/matrix-bun.json …
import { readFileSync } from "node:fs";
import { int, markdownTable, percent } from "../harness/stats.ts";

/** A consumer measured in a run: the library on this runtime, or a peer. */
export interface ConsumerInfo {
  /** e.g. "node 22.23.3", "confluent-pc 0.5.3.3" */
  label: string;
  kind: "library" | "peer";
  config: string;
  rawConfig: string;
  /** Handlers at once (the Little's-law slots before the key limit). */
  concurrency: number;
  /** Messages held at once, where the consumer has such a limit. */
  maxInFlight?: number;
}

export interface CellInfo {
  id: string;
  topic: string;
  handlerMs: number;
  /** Share of the topic's messages with its most frequent key. */
  hotShare: number;
  /** Zipf cells read the whole topic; the others a target or a window. */
  readsWholeTopic: boolean;
}

/** Raw and no-op rates of one consumer on one topic (steady: first message to last). */
export interface TopicMeasure {
  topic: string;
  consumer: string;
  raw?: number;
  rawNotes: string[];
  noop?: number;
  noopNotes?: string[];
  /** 1-minute load average when the raw reads started. */
  load?: number;
}

export interface CellMeasure {
  cell: string;
  consumer: string;
  /** Messages counted, and the target. */
  messages: number;
  target: number;
  /** Messages / time from the first handler call to the end (target reached or window closed). */
  rate: number;
  /** Mean handler time measured around the handler's timer, ms. */
  handlerMs?: number;
  /** The same over the hottest key's messages only (Zipf cells). */
  hotHandlerMs?: number;
  /** 1-minute load average when the run started. */
  load?: number;
  /** Mean handlers running (library only). */
  running?: number;
  notes: string[];
  error?: string;
}

/**
 * The cells' handler alone on this runtime, no Kafka: `concurrency` of them awaiting the timer in
 * loops. Its rate is what the runtime's timers allow; its `measuredMs` the timer's own overshoot.
 */
export interface AloneMeasure {
  handlerMs: number;
  concurrency: number;
  /** Calls per second. */
  rate: number;
  /** Mean time measured around the timer, ms. */
  measuredMs: number;
  load?: number;
}

/** "1 ms: 83,351 calls/s = 83% of Little, t 1.20 ms" */
export function describeAlone(a: AloneMeasure): string {
  const little = a.concurrency / (a.handlerMs / 1000);
  return `${a.handlerMs} ms: ${int(a.rate)} calls/s = ${percent(a.rate / little)} of Little, t ${
    a.measuredMs.toFixed(2)
  } ms`;
}

export interface MatrixFile {
  runtime: string;
  preset: string;
  selection: string;
  at: string;
  loadAtStart: number;
  loadAtEnd: number;
  cores: number;
  windowSeconds: number;
  seconds: number;
  consumers: ConsumerInfo[];
  cells: CellInfo[];
  topics: TopicMeasure[];
  runs: CellMeasure[];
  /** The handler alone, per handler time (files written before 2026-11-29 have none). */
  alone?: AloneMeasure[];
}

/** The no-op target of the issue: no-op ≥ 75% of the raw client's rate on the same topic. */
export const NOOP_TARGET = 0.75;

export interface Bounds {
  raw?: number;
  little: number;
  bound: number;
  boundBy: "Little" | "raw";
  littleMeasured?: number;
  boundMeasured?: number;
  /** With the handler's time when it runs alone (no Kafka), for the library on this runtime. */
  boundAlone?: number;
}

/** The alone handler time for `consumer`'s rows: the library's only (peers run other timers). */
export function aloneMs(
  alone: readonly AloneMeasure[] | undefined,
  consumer: ConsumerInfo,
  handlerMs: number,
): number | undefined {
  if (consumer.kind !== "library") return undefined;
  return alone?.find((a) => a.handlerMs === handlerMs)?.measuredMs;
}

/**
 * The cell's bounds for one consumer, each capped by that consumer's raw rate on the topic.
 * Little's law: handlers at once / handler time t, where handlers at once is at most
 * min(concurrency, maxInFlight), and under key ordering the hottest key (share p) runs one message
 * at a time, so the whole topic takes at least p·n·t: at most 1/(p·t) msg/s. Hence
 * min(concurrency, maxInFlight, 1/p) / t (uniform keys: 1/p is the key count). With measured times:
 * min(concurrency, maxInFlight) / t_mean and 1/(p · t_hot), t_hot measured on the hottest key's
 * messages where it was (Zipf cells), else t_mean. With the handler's time alone (`aloneMs`: the
 * timer's overshoot on this runtime without any consumer): the nominal formula at that time.
 */
export function bounds(
  cell: CellInfo,
  consumer: ConsumerInfo,
  raw: number | undefined,
  handlerMs?: number,
  hotHandlerMs?: number,
  aloneMs?: number,
): Bounds {
  const concurrencySlots = Math.min(consumer.concurrency, consumer.maxInFlight ?? Infinity);
  const keySlots = 1 / cell.hotShare;
  /** Little's law with a handler time of `t` ms (`hot`: the hottest key's). */
  const littleAt = (t: number, hot: number) => Math.min(concurrencySlots / (t / 1000), keySlots / (hot / 1000));
  const little = littleAt(cell.handlerMs, cell.handlerMs);
  const rawCap = raw !== undefined && Number.isFinite(raw) ? raw : Infinity;
  const result: Bounds = {
    ...(raw === undefined ? {} : { raw }),
    little,
    bound: Math.min(little, rawCap),
    boundBy: rawCap < little ? "raw" : "Little",
  };
  if (handlerMs !== undefined && handlerMs > 0) {
    result.littleMeasured = littleAt(handlerMs, hotHandlerMs ?? handlerMs);
    result.boundMeasured = Math.min(result.littleMeasured, rawCap);
  }
  if (aloneMs !== undefined && aloneMs > 0) result.boundAlone = Math.min(littleAt(aloneMs, aloneMs), rawCap);
  return result;
}

const ms = (value: number | undefined) => (value === undefined ? "—" : value.toFixed(2));

function consumerTable(file: MatrixFile, consumer: ConsumerInfo): string {
  const cells = new Map(file.cells.map((c) => [c.id, c]));
  const raw = new Map(file.topics.filter((t) => t.consumer === consumer.label).map((t) => [t.topic, t]));
  const rows: string[][] = [];
  for (const run of file.runs.filter((r) => r.consumer === consumer.label)) {
    const cell = cells.get(run.cell)!;
    const b = bounds(
      cell,
      consumer,
      raw.get(cell.topic)?.raw,
      run.handlerMs,
      run.hotHandlerMs,
      aloneMs(file.alone, consumer, cell.handlerMs),
    );
    if (run.error) {
      rows.push([
        run.cell,
        "—",
        "—",
        int(b.raw ?? NaN),
        int(b.little),
        int(b.bound),
        "—",
        "—",
        "—",
        "—",
        "—",
        "—",
        run.error,
      ]);
      continue;
    }
    const notes = [...run.notes];
    if (cell.hotShare > 0.02) notes.unshift(`hot key ${(cell.hotShare * 100).toFixed(1)}%`);
    if (b.boundBy === "raw") notes.unshift("bound: raw");
    if (run.load !== undefined) notes.push(`load ${run.load.toFixed(1)}`);
    rows.push([
      run.cell,
      int(run.messages),
      int(run.rate),
      int(b.raw ?? NaN),
      int(b.little),
      int(b.bound),
      `**${percent(run.rate / b.bound)}**`,
      run.hotHandlerMs === undefined ? ms(run.handlerMs) : `${ms(run.handlerMs)} (hot ${ms(run.hotHandlerMs)})`,
      int(b.boundMeasured ?? NaN),
      percent(b.boundMeasured ? run.rate / b.boundMeasured : undefined),
      percent(b.boundAlone ? run.rate / b.boundAlone : undefined),
      run.running === undefined ? "—" : run.running.toFixed(0),
      notes.join("; "),
    ]);
  }
  return markdownTable(
    [
      "cell",
      "msgs:",
      "msg/s:",
      "raw msg/s:",
      "Little:",
      "bound:",
      "ratio:",
      "t ms:",
      "bound (t):",
      "ratio (t):",
      "ratio (alone):",
      "running:",
      "notes",
    ],
    rows,
  );
}

function noopTable(file: MatrixFile, consumer: ConsumerInfo): string | undefined {
  const rows = file.topics.filter((t) => t.consumer === consumer.label && t.noop !== undefined).map((t) => {
    const ratio = t.raw ? t.noop! / t.raw : undefined;
    return [
      t.topic,
      int(t.raw ?? NaN),
      int(t.noop!),
      `**${percent(ratio)}**`,
      ratio === undefined ? "—" : ratio >= NOOP_TARGET ? "yes" : "no",
      [...t.rawNotes, ...(t.noopNotes ?? []), ...(t.load === undefined ? [] : [`load ${t.load.toFixed(1)}`])].join(
        "; ",
      ),
    ];
  });
  if (rows.length === 0) return undefined;
  return markdownTable(["topic", "raw msg/s:", "no-op msg/s:", "no-op / raw:", "≥ 75%", "notes"], rows);
}

export function renderMatrix(file: MatrixFile): string {
  const lines = [
    `### Shape matrix — ${file.runtime} — preset ${file.preset}${file.selection ? ` (${file.selection})` : ""}`,
    "",
    `${file.at.slice(0, 16)}Z; ${file.runs.length} runs over ${file.cells.length} cells in ${
      Math.round(file.seconds)
    } s; load average (start→end) ${file.loadAtStart.toFixed(1)}→${
      file.loadAtEnd.toFixed(1)
    } on ${file.cores} cores; ` +
    `uniform cells count ${file.windowSeconds} s at their bound (at most ${
      2 * file.windowSeconds
    } s), Zipf cells the whole topic.`,
  ];
  if (file.alone?.length) {
    lines.push(
      "",
      `The handler alone (no Kafka, ${
        file.alone[0]!.concurrency
      } at once, ${file.windowSeconds} s; ${file.runtime}): ` +
        file.alone.map(describeAlone).join("; ") + ".",
    );
  }
  for (const consumer of file.consumers) {
    if (!file.runs.some((r) => r.consumer === consumer.label)) continue;
    lines.push(
      "",
      `#### ${consumer.label} (${consumer.kind === "library" ? "Pyrallel Consumer" : "peer"}): ${consumer.config}`,
      "",
      `raw: ${consumer.rawConfig}`,
      "",
      consumerTable(file, consumer),
    );
  }
  for (const consumer of file.consumers) {
    const table = noopTable(file, consumer);
    if (table) lines.push("", `#### No-op handler vs raw client — ${consumer.label}`, "", table);
  }
  return lines.join("\n");
}

/** Ratios of several files (runtimes, peers) side by side, one row per cell. */
export function renderSummary(files: MatrixFile[]): string {
  const columns: { file: MatrixFile; consumer: ConsumerInfo }[] = [];
  const seen = new Set<string>();
  for (const file of files) {
    for (const consumer of file.consumers) {
      if (seen.has(consumer.label) || !file.runs.some((r) => r.consumer === consumer.label)) continue;
      seen.add(consumer.label);
      columns.push({ file, consumer });
    }
  }
  // The library on each runtime first, then the peers.
  columns.sort((a, b) => Number(a.consumer.kind === "peer") - Number(b.consumer.kind === "peer"));
  const cellIds = [...new Set(files.flatMap((f) => f.runs.map((r) => r.cell)))];
  const rows = cellIds.map((id) => [
    id,
    ...columns.map(({ file, consumer }) => {
      const run = file.runs.find((r) => r.cell === id && r.consumer === consumer.label);
      const cell = file.cells.find((c) => c.id === id);
      if (!run || !cell || run.error) return "—";
      const raw = file.topics.find((t) => t.topic === cell.topic && t.consumer === consumer.label)?.raw;
      const b = bounds(cell, consumer, raw, run.handlerMs, run.hotHandlerMs);
      return `${percent(run.rate / b.bound)} (${int(run.rate)})`;
    }),
  ]);
  return markdownTable(["cell", ...columns.map((c) => `${c.consumer.label}:`)], rows);
}

/** No-op / raw of several files side by side, one row per topic. */
export function renderNoopSummary(files: MatrixFile[]): string | undefined {
  const withNoop = files.filter((f) => f.topics.some((t) => t.noop !== undefined));
  if (withNoop.length === 0) return undefined;
  const topics = [
    ...new Set(withNoop.flatMap((f) => f.topics.filter((t) => t.noop !== undefined).map((t) => t.topic))),
  ];
  const rows = topics.map((topic) => [
    topic,
    ...withNoop.map((file) => {
      const t = file.topics.find((x) => x.topic === topic && x.noop !== undefined);
      return t?.raw ? `${percent(t.noop! / t.raw)} (${int(t.noop!)} / ${int(t.raw)})` : "—";
    }),
  ]);
  return markdownTable(["topic", ...withNoop.map((f) => `${f.runtime}:`)], rows);
}

export const MATRIX_LEGEND: string =
  "msg/s: messages counted / time from the first handler call to the last one counted (uniform keys: a target " +
  "of about the window at the bound, or the window's end; Zipf: the whole topic). raw msg/s: that consumer's " +
  "plain client on the same topic, counting only, first message to last (median of the reads). Little: " +
  "min(concurrency, maxInFlight, 1/p) / t with p the hottest key's share and t the nominal handler time " +
  "(uniform keys: 1/p = the key count; Zipf s = 1 over 1,000 keys: p ≈ 0.134, so 1/(p·t)). bound = min(Little, " +
  "raw); ratio = msg/s / bound. t ms: mean handler time measured around the timer (hot: over the hottest key's " +
  "messages); bound (t), ratio (t): the same with min(concurrency, maxInFlight) / t and 1/(p · t hot). ratio " +
  "(alone): msg/s / min(raw, Little at the time the handler takes alone on this runtime, no Kafka, the same " +
  "concurrency: what its timers allow any consumer). running: " +
  "mean handlers running, sampled every 100 ms. load: 1-minute load average when the run started.";

const isMain = (() => {
  try {
    return import.meta.url.endsWith("/matrix/report.ts") &&
      process.argv.slice(1).some((arg) => arg.endsWith("report.ts"));
  } catch {
    return false;
  }
})();
if (isMain) {
  const paths = process.argv.slice(2).filter((arg) => !arg.endsWith("report.ts"));
  if (paths.length === 0) {
    console.error("usage: bench/matrix/report.ts MATRIX.json [MORE.json …]   (files written by run.ts --json)");
    process.exit(2);
  }
  const files = paths.map((path) => JSON.parse(readFileSync(path, "utf8")) as MatrixFile);
  for (const file of files) console.log(`${renderMatrix(file)}\n`);
  if (files.length > 1) {
    console.log(`### Ratio to the bound (msg/s), side by side\n\n${renderSummary(files)}\n`);
    const noop = renderNoopSummary(files);
    if (noop) console.log(`### No-op / raw (no-op msg/s / raw msg/s), side by side\n\n${noop}\n`);
  }
  console.log(MATRIX_LEGEND);
}
