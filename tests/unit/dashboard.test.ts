import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import process from "node:process";
import { describe, test } from "node:test";
import type { ConsumerMetrics, PartitionMetrics } from "../../mod.ts";
import { Histogram } from "../../src/core/histogram.ts";
import { formatPrometheus, type ParallelConsumerLike } from "../../src/metrics/mod.ts";

// The Grafana dashboard (grafana/pyrallel-dashboard.json) against the operations guide, section 4,
// and against what formatPrometheus really writes.

const root = new URL("../../", import.meta.url);
const dashboardFile = new URL("grafana/pyrallel-dashboard.json", root);
const scrapeConfigFile = new URL("grafana/prometheus.yml", root);

interface Target {
  refId: string;
  expr: string;
  datasource?: { type?: string; uid?: string };
}
interface FieldDefaults {
  min?: number;
  thresholds?: { mode: string; steps: { color: string; value: number | null }[] };
  mappings?: { type: string; options: Record<string, { text: string; color: string }> }[];
  custom?: { stacking?: { mode: string } };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  transformations?: { id: string; options: Record<string, unknown> }[];
  fieldConfig?: { defaults: FieldDefaults };
  panels?: Panel[];
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: string }[] };
}

const dashboard = JSON.parse(readFileSync(dashboardFile, "utf8")) as Dashboard;

/** The guide's section 4, as written: row, panel title, panel type, query. */
const GUIDE = [
  { row: "System Overview", title: "Total In-Flight", type: "stat", expr: "sum(pyrallel_system_in_flight)" },
  { row: "System Overview", title: "Consumer Status", type: "state-timeline", expr: "pyrallel_system_paused" },
  { row: "Performance", title: "True Lag by Partition", type: "timeseries", expr: "pyrallel_partition_true_lag" },
  {
    row: "Performance",
    title: "Blocking Duration",
    type: "timeseries",
    expr: "max(pyrallel_partition_blocking_duration_sec)",
  },
  { row: "Internal State", title: "Gap Count", type: "timeseries", expr: "sum(pyrallel_partition_gap_count)" },
  { row: "Internal State", title: "Queued Messages", type: "bargauge", expr: "pyrallel_partition_queued_count" },
] as const;

/** Every non-row panel with the title of the row it sits under (rows are not collapsed). */
function panelsWithRows(): { panel: Panel; row: string | undefined }[] {
  const out: { panel: Panel; row: string | undefined }[] = [];
  let row: Panel | undefined;
  for (const panel of dashboard.panels) {
    if (panel.type === "row") {
      assert.equal(panel.panels?.length ?? 0, 0, `row ${panel.title} is expanded: its panels follow it`);
      row = panel;
      continue;
    }
    if (row) assert.ok(panel.gridPos.y > row.gridPos.y, `${panel.title} lies below its row ${row.title}`);
    out.push({ panel, row: row?.title });
  }
  return out;
}

const panelNamed = (title: string): Panel => {
  const found = dashboard.panels.filter((p) => p.title === title);
  assert.equal(found.length, 1, `exactly one panel titled ${title}`);
  return found[0]!;
};

// ---- PromQL: the metric names an expression selects ----

const PROMQL_KEYWORDS = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "bool",
  "and",
  "or",
  "unless",
  "offset",
]);

/**
 * Metric names in a PromQL expression: identifiers that are not functions or aggregations (those
 * are followed by `(`), not keywords, not label names (inside `{...}` or grouping lists) and not
 * parts of numbers or durations.
 */
function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ")
    .replace(/\[[^\]]*\]/g, " ");
  const names: string[] = [];
  for (const match of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const before = stripped[match.index - 1] ?? " ";
    const after = stripped.slice(match.index + match[0].length).trimStart();
    if (/[0-9.]/.test(before)) continue; // 1e3, 5m
    if (after.startsWith("(") || PROMQL_KEYWORDS.has(match[0])) continue;
    names.push(match[0]);
  }
  return names;
}

// ---- what formatPrometheus emits for a busy sample: every series kind present ----

const partition = (index: number, overrides: Partial<PartitionMetrics> = {}): PartitionMetrics => ({
  topic: "orders",
  partition: index,
  trueLag: 12,
  gapCount: 3,
  blockingOffset: 100n,
  blockingDurationSec: 1.5,
  queuedCount: 7,
  bufferedCount: 40,
  bufferedBytes: 8000,
  inFlight: 5,
  highestContiguousOffset: 99n,
  committedOffset: 100n,
  lastFetchedOffset: 111n,
  commitMetadataBytes: 120,
  uncommittedOffsets: 12,
  pauseReason: null,
  ...overrides,
});

function sampleConsumer(): ParallelConsumerLike {
  const latency = new Histogram();
  for (const seconds of [0.002, 0.02, 0.6]) latency.observe(seconds);
  const metrics: ConsumerMetrics = {
    totalInFlight: 24,
    maxInFlight: 20,
    isPaused: true,
    pauseReason: "maxInFlight",
    startPauseReason: null,
    throttled: 0,
    inFlightBytes: 4096,
    maxInFlightBytes: 65536,
    queued: 14,
    buffered: 80,
    bufferedBytes: 16000,
    processing: 10,
    processedTotal: 1000,
    failedAttemptsTotal: 3,
    commitsTotal: 20,
    commitFailuresTotal: 0,
    retriesTotal: 3,
    deadLetteredTotal: 0,
    deadLetterFailuresTotal: 0,
    skippedTotal: 0,
    stallsTotal: 1,
    handlerSeconds: latency.snapshot(),
    fetchToCompletionSeconds: latency.snapshot(),
    batchesProcessedTotal: 0,
    batchSize: latency.snapshot(),
    partitions: [partition(0), partition(1, { pauseReason: "commitMetadataFull" })],
  };
  return { id: "sample", getMetrics: () => metrics };
}

/** Names of the sample lines (not HELP/TYPE) the formatter writes: the series Prometheus stores. */
function emittedNames(): Set<string> {
  const names = new Set<string>();
  for (const line of formatPrometheus([sampleConsumer()]).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const name = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line)?.[1];
    assert.ok(name, `unparsable sample line: ${line}`);
    names.add(name);
  }
  return names;
}

describe("grafana/pyrallel-dashboard.json", () => {
  test("has every panel of the guide, in its row, with the type and query as written", () => {
    const placed = panelsWithRows();
    for (const want of GUIDE) {
      const entry = placed.find(({ panel }) => panel.title === want.title);
      assert.ok(entry, `panel ${want.title} is missing`);
      assert.equal(entry.row, want.row, `${want.title} row`);
      assert.equal(entry.panel.type, want.type, `${want.title} type`);
      assert.equal(entry.panel.targets?.[0]?.refId, "A");
      assert.equal(entry.panel.targets?.[0]?.expr, want.expr, `${want.title} query`);
    }
    const rows = dashboard.panels.filter((p) => p.type === "row").map((p) => p.title);
    assert.deepEqual(rows, ["System Overview", "Performance", "Internal State"]);
    assert.equal(placed.length, GUIDE.length, "no panels beyond the guide's");
  });

  test("queries go through the Prometheus datasource variable", () => {
    const variable = dashboard.templating.list.find((v) => v.type === "datasource");
    assert.ok(variable, "a datasource variable");
    assert.equal(variable.query, "prometheus");
    for (const { panel } of panelsWithRows()) {
      assert.deepEqual(panel.datasource, { type: "prometheus", uid: `\${${variable.name}}` }, panel.title);
      for (const target of panel.targets ?? []) assert.equal(target.datasource?.uid, `\${${variable.name}}`);
    }
  });

  test("Total In-Flight: yellow above 80% of max_in_flight, red above 100%, max from a second query", () => {
    const panel = panelNamed("Total In-Flight");
    const max = panel.targets?.find((t) => t.refId !== "A");
    assert.equal(max?.expr, "sum(pyrallel_system_max_in_flight)");
    const config = panel.transformations?.find((t) => t.id === "configFromData");
    assert.ok(config, "configFromData transformation");
    assert.equal(config.options.configRefId, max.refId);
    assert.deepEqual(
      (config.options.mappings as { handlerKey: string }[]).map((m) => m.handlerKey),
      ["max"],
    );
    const defaults = panel.fieldConfig!.defaults;
    assert.equal(defaults.min, 0);
    assert.equal(defaults.thresholds?.mode, "percentage");
    assert.deepEqual(
      defaults.thresholds.steps.map((s) => [s.color, s.value]),
      [["green", null], ["yellow", 80], ["red", 100]],
    );
  });

  test("Consumer Status maps 0 to a green Running and 1 to a red Paused", () => {
    const [mapping] = panelNamed("Consumer Status").fieldConfig!.defaults.mappings ?? [];
    assert.equal(mapping?.type, "value");
    const [zero, one] = [mapping.options["0"], mapping.options["1"]];
    assert.deepEqual(
      [zero?.text, zero?.color, one?.text, one?.color],
      ["Running", "green", "Paused", "red"],
    );
  });

  test("True Lag by Partition is stacked", () => {
    assert.equal(panelNamed("True Lag by Partition").fieldConfig!.defaults.custom?.stacking?.mode, "normal");
  });

  test("every metric in every panel query is one formatPrometheus emits", () => {
    const emitted = emittedNames();
    // Sanity: the guide's names are there, and the parse found histogram series too.
    for (const name of ["pyrallel_system_in_flight", "pyrallel_partition_queued_count"]) assert.ok(emitted.has(name));
    assert.ok(emitted.has("pyrallel_handler_duration_seconds_bucket"));
    let checked = 0;
    for (const panel of dashboard.panels) {
      for (const target of panel.targets ?? []) {
        const names = metricNamesIn(target.expr);
        assert.ok(names.length > 0, `${panel.title}: no metric in ${target.expr}`);
        for (const name of names) {
          assert.ok(emitted.has(name), `${panel.title}: ${name} (in ${target.expr}) is not emitted`);
          checked++;
        }
      }
    }
    assert.ok(checked >= GUIDE.length + 1);
  });

  test("panel ids are unique and panels fit the 24-column grid", () => {
    const ids = dashboard.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length);
    for (const p of dashboard.panels) assert.ok(p.gridPos.x + p.gridPos.w <= 24, p.title);
    assert.ok(dashboard.uid.length > 0 && dashboard.uid.length <= 40);
  });
});

describe("metricNamesIn (the PromQL scan the dashboard test relies on)", () => {
  test("finds selectors, skips functions, keywords, labels, numbers and durations", () => {
    assert.deepEqual(metricNamesIn("sum(pyrallel_system_in_flight)"), ["pyrallel_system_in_flight"]);
    assert.deepEqual(
      metricNamesIn(
        'sum by (topic) (rate(pyrallel_messages_processed_total{consumer="a",topic!~"x"}[5m] offset 1h)) / 1e3',
      ),
      ["pyrallel_messages_processed_total"],
    );
    assert.deepEqual(
      metricNamesIn("a_metric / on (consumer) group_left b_metric > bool 0.8 * max without (le) (c_metric)"),
      ["a_metric", "b_metric", "c_metric"],
    );
  });
});

describe("grafana/prometheus.yml", () => {
  test("promtool accepts it and it scrapes 127.0.0.1:9464/metrics", () => {
    const text = readFileSync(scrapeConfigFile, "utf8");
    assert.match(text, /^\s+metrics_path: \/metrics$/m);
    assert.match(text, /^\s+- targets: \["127\.0\.0\.1:9464"\]$/m);
    const tool = process.env.PROMTOOL ?? "promtool";
    const path = decodeURIComponent(scrapeConfigFile.pathname);
    const run = spawnSync(tool, ["check", "config", path], { encoding: "utf8" });
    if (run.error) assert.fail(`cannot run ${tool} (${run.error.message}): install the Debian package \`prometheus\``);
    assert.equal(run.status, 0, `${run.stdout}${run.stderr}`);
  });
});
