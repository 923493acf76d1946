import type { ConsumerMetrics } from "../core/metrics.ts";
import { FAMILIES, type Family } from "./families.ts";
import type { ParallelConsumerLike } from "./types.ts";

/** Content type of the text exposition format {@link formatPrometheus} writes. */
export const PROMETHEUS_CONTENT_TYPE: string = "text/plain; version=0.0.4; charset=utf-8";

interface Snapshot {
  readonly id: string;
  readonly metrics: ConsumerMetrics;
}

/** Escapes a label value: backslash, double quote and newline. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === "\\" ? "\\\\" : c === '"' ? '\\"' : "\\n"));
}

/** HELP text escapes backslash and newline only. */
function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => (c === "\\" ? "\\\\" : "\\n"));
}

/** Go-style float spelling; bigints print exactly (offsets can pass 2^53). */
function formatValue(value: number | bigint): string {
  if (typeof value === "bigint") return value.toString();
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function labels(pairs: readonly (readonly [string, string])[]): string {
  return `{${pairs.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",")}}`;
}

function samples(family: Family, snapshots: readonly Snapshot[]): string[] {
  const lines: string[] = [];
  for (const { id, metrics } of snapshots) {
    if (family.scope === "consumer") {
      lines.push(`${family.name}${labels([["consumer", id]])} ${formatValue(family.value(metrics))}`);
      continue;
    }
    for (const p of metrics.partitions) {
      const value = family.value(p);
      if (value === null) continue; // an unknown offset is no series, not a fake 0
      const set = labels([["consumer", id], ["topic", p.topic], ["partition", String(p.partition)]]);
      lines.push(`${family.name}${set} ${formatValue(value)}`);
    }
  }
  return lines;
}

/**
 * Renders the consumers' metrics in the Prometheus text exposition format 0.0.4. Each family gets
 * its HELP and TYPE lines once, then one series per consumer (label `consumer`) or per owned
 * partition (labels `consumer`, `topic`, `partition`). Offset series whose value is unknown are
 * omitted. Consumer ids should be distinct: equal ids give duplicate series.
 *
 * @example
 * ```ts
 * const body = formatPrometheus([consumer]);
 * ```
 */
export function formatPrometheus(consumers: readonly ParallelConsumerLike[]): string {
  // One snapshot per consumer so every family reads the same moment.
  const snapshots = consumers.map((c) => ({ id: c.id, metrics: c.getMetrics() }));
  const lines: string[] = [];
  for (const family of FAMILIES) {
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`);
    lines.push(...samples(family, snapshots));
  }
  return `${lines.join("\n")}\n`;
}
