// The markdown report of one or more runs of the same runtime (e.g. a run and its repeat):
// values of several runs are shown side by side ("a / b"), so the noise is visible.
//
//   node bench/harness/run.ts --json /tmp/node-1.json ; node bench/harness/run.ts --json /tmp/node-2.json
//   node bench/harness/report.ts /tmp/node-1.json /tmp/node-2.json
import { readFileSync } from "node:fs";
import type { RunResult } from "./runners.ts";
import { int, latency, markdownTable, mib, percent } from "./stats.ts";

/** What run.ts writes with --json. */
export interface RunFile {
  runtime: string;
  size: "quick" | "full";
  at: string;
  /** e.g. ", what-if fetch sizes 65536/16384 B" */
  variant: string;
  loadAtStart: number;
  loadAtEnd: number;
  cores: number;
  cpuRounds: number;
  results: RunResult[];
}

const usable = (r: RunResult | undefined): r is RunResult =>
  r !== undefined && r.kind !== "failed" && r.kind !== "skipped";

/** "a / b" of one value over the runs ("—" where a run lacks it). */
function each(runs: (RunResult | undefined)[], value: (r: RunResult) => string): string {
  const values = runs.map((r) => (usable(r) ? value(r) : "—"));
  return values.every((v) => v === values[0]) ? values[0]! : values.join(" / ");
}

export function renderReport(files: RunFile[]): string {
  const first = files[0]!;
  const byRun = files.map((file) => new Map(file.results.map((r) => [r.name, r])));
  const names = [...new Set(files.flatMap((file) => file.results.map((r) => r.name)))];
  const ratio = (run: Map<string, RunResult>, r: RunResult, base: string | undefined) => {
    const baseline = base ? run.get(base) : undefined;
    return usable(baseline) ? percent(r.rate / baseline.rate) : "—";
  };
  const throughputRows: string[][] = [];
  const memoryRows: string[][] = [];
  for (const name of names) {
    const runs = byRun.map((run) => run.get(name));
    const r = runs.find(usable) ?? runs.find((x) => x !== undefined)!;
    if (r.kind === "memory") {
      memoryRows.push([
        name,
        r.config,
        each(runs, (x) => int(x.heapPerMessage!)),
        each(runs, (x) => int(x.rssPerMessage!)),
        each(runs, (x) => int(x.externalPerMessage!)),
      ]);
      continue;
    }
    if (r.kind === "failed" || r.kind === "skipped") {
      throughputRows.push([name, r.config, "—", "—", "—", "—", "—", "—", "—", "—", "—", "—", r.notes.join("; ")]);
      continue;
    }
    const notes: string[] = [...r.notes];
    if (r.meanProcessing !== undefined && !/noop/.test(name)) {
      notes.push(`avg running ${each(runs, (x) => (x.meanProcessing ?? 0).toFixed(0))}`);
    }
    if (r.handlerMean !== undefined && r.littleBound !== undefined) notes.push(`handler ${latency(r.handlerMean)}`);
    if (r.firstMessageSeconds !== undefined) {
      notes.push(`1st msg ${each(runs, (x) => latency(x.firstMessageSeconds ?? Number.NaN))}`);
    }
    notes.push(`load ${each(runs, (x) => (x.load ?? Number.NaN).toFixed(1))}`);
    throughputRows.push([
      name,
      r.config,
      int(r.messages),
      each(runs, (x) => int(x.rate)),
      each(runs, (x) => int(x.steadyRate)),
      each(runs, (x) => (x.p50 === undefined ? "—" : latency(x.p50))),
      each(runs, (x) => (x.p99 === undefined ? "—" : latency(x.p99))),
      each(runs, (x) => mib(x.peakRss)),
      // Against raw consumption only where the handler does nothing (elsewhere it is not informative).
      r.kind === "raw" ? "100%" : /noop/.test(name) ? each(runs, (x) => ratio(byRun[runs.indexOf(x)]!, x, "raw")) : "—",
      r.sequential ? each(runs, (x) => ratio(byRun[runs.indexOf(x)]!, x, r.sequential)) : "—",
      r.littleBound === undefined ? "—" : each(runs, (x) => percent(x.rate / x.littleBound!)),
      r.littleBoundMeasured === undefined
        ? "—"
        : each(runs, (x) => percent(x.rate / (x.littleBoundMeasured ?? Number.NaN))),
      notes.join("; "),
    ]);
  }
  const runsText = files.length > 1
    ? ` — ${files.length} runs, shown as run 1 / run 2${files.length > 2 ? " / …" : ""}`
    : "";
  const loads = files.map((f) => `${f.loadAtStart.toFixed(1)}→${f.loadAtEnd.toFixed(1)}`).join(", ");
  const lines = [
    `### ${first.runtime} — ${first.size} size${first.variant}${runsText}`,
    "",
    `${
      files.map((f) => f.at.slice(0, 16) + "Z").join(", ")
    }; load average (start→end) ${loads} on ${first.cores} cores; ` +
    `CPU workload: ${first.cpuRounds} SHA-256 rounds per message.`,
    "",
    markdownTable(
      [
        "workload",
        "config",
        "msgs:",
        "msg/s:",
        "steady:",
        "p50:",
        "p99:",
        "peak RSS MiB:",
        "vs raw:",
        "vs seq:",
        "vs Little:",
        "(measured):",
        "notes",
      ],
      throughputRows,
    ),
  ];
  if (memoryRows.length > 0) {
    lines.push("", markdownTable(["memory run", "config", "heap B/msg:", "RSS B/msg:", "external B/msg:"], memoryRows));
  }
  // Targets, per run.
  const targets: string[] = [];
  const per = (fn: (run: Map<string, RunResult>) => string | undefined) => {
    const values = byRun.map(fn);
    return values.some((v) => v !== undefined) ? values.map((v) => v ?? "—").join(" / ") : undefined;
  };
  const noop = per((run) => {
    const n = run.get("noop");
    const raw = run.get("raw");
    return usable(n) && usable(raw) ? percent(n.rate / raw.rate) : undefined;
  });
  if (noop) targets.push(`- no-op ≥ 75% of raw consumption: **${noop}**`);
  const io5 = per((run) => {
    const r = run.get("io-5ms");
    return usable(r) && r.littleBound ? percent(r.rate / r.littleBound) : undefined;
  });
  if (io5) targets.push(`- 5 ms I/O, 100 keys, 4 partitions ≥ 90% of Little's bound (20,000 msg/s): **${io5}**`);
  const slow = per((run) => {
    const s = run.get("slowkey");
    const c = run.get("slowkey-control");
    return usable(s) && usable(c) ? `${((1 - s.rate / c.rate) * 100).toFixed(1)}%` : undefined;
  });
  if (slow) {
    targets.push(
      `- a 1 s key costs the other keys < 5%: **${slow}** (fast-key msg/s lost vs the control run; negative: noise)`,
    );
  }
  for (const name of ["mem-queued", "mem-running"]) {
    const mem = per((run) => {
      const m = run.get(name);
      return m?.kind === "memory" ? `${int(m.heapPerMessage!)} B` : undefined;
    });
    if (mem) targets.push(`- memory per in-flight message ≤ 1 KB (${name}, heap, everything included): **${mem}**`);
  }
  if (targets.length > 0) lines.push("", "Targets (reported, not asserted):", "", ...targets);
  return lines.join("\n");
}

export const LEGEND: string =
  "msg/s: messages / time from `start()`/`consume()` resolving to the last message counted (joining " +
  "the group and the first fetch included); steady: from the first message received instead. vs raw / vs seq: msg/s " +
  "against the raw stream / the sequential baseline with the same handler. p50/p99: fetch → completion; for the " +
  "library estimated from `getMetrics().fetchToCompletionSeconds` (bucket interpolation), for seq-* measured per " +
  "message from the stream's `data` event. vs Little: msg/s as a share of min(maxInFlight, keys, concurrency) / " +
  "nominal latency; (measured): with the mean handler time measured by the library instead.";

const isMain = (() => {
  try {
    return import.meta.url.endsWith("/report.ts") && process.argv.slice(1).some((arg) => arg.endsWith("report.ts"));
  } catch {
    return false;
  }
})();
if (isMain) {
  const paths = process.argv.slice(2).filter((arg) => !arg.endsWith("report.ts"));
  if (paths.length === 0) {
    console.error("usage: report.ts RUN.json [RUN2.json ...]   (files written by run.ts --json, same runtime)");
    process.exit(2);
  }
  console.log(renderReport(paths.map((path) => JSON.parse(readFileSync(path, "utf8")) as RunFile)));
  console.log(`\n${LEGEND}`);
}
