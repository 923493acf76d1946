import type { HistogramSnapshot } from "../core/histogram.ts";
import type { ConsumerMetrics } from "../core/metrics-snapshot.ts";
import { type LabelPairs, sampleLine } from "./exposition.ts";
import type { Family } from "./family-types.ts";

/** One consumer's state at one moment, under its `consumer` label. */
export interface Snapshot {
  readonly id: string;
  readonly metrics: ConsumerMetrics;
}

/**
 * Histogram series: one cumulative `_bucket` per finite bound, then `le="+Inf"` (the count),
 * `_sum` and `_count`.
 */
function histogramLines(name: string, base: LabelPairs, h: HistogramSnapshot): string[] {
  const lines: string[] = [];
  const buckets = Math.min(h.bounds.length, h.cumulativeCounts.length);
  for (let i = 0; i < buckets; i++) {
    const bound = h.bounds[i]!;
    if (!Number.isFinite(bound)) continue; // +Inf is written from `count` below
    lines.push(sampleLine(`${name}_bucket`, [...base, ["le", String(bound)]], h.cumulativeCounts[i]!));
  }
  lines.push(sampleLine(`${name}_bucket`, [...base, ["le", "+Inf"]], h.count));
  lines.push(sampleLine(`${name}_sum`, base, h.sum));
  lines.push(sampleLine(`${name}_count`, base, h.count));
  return lines;
}

/** The sample lines of one family over all snapshots, consumer by consumer. */
export function familySamples(family: Family, snapshots: readonly Snapshot[]): string[] {
  const lines: string[] = [];
  for (const { id, metrics } of snapshots) {
    const consumer: LabelPairs = [["consumer", id]];
    switch (family.scope) {
      case "consumer":
        lines.push(sampleLine(family.name, consumer, family.value(metrics)));
        break;
      case "info": {
        const state = family.value(metrics);
        if (state !== null) lines.push(sampleLine(family.name, [...consumer, [family.label, state]], 1));
        break;
      }
      case "histogram":
        lines.push(...histogramLines(family.name, consumer, family.value(metrics)));
        break;
      case "partition":
        for (const p of metrics.partitions) {
          const value = family.value(p);
          if (value === null) continue; // an unknown offset is no series, not a fake 0
          const labels: LabelPairs = [...consumer, ["topic", p.topic], ["partition", String(p.partition)]];
          lines.push(sampleLine(family.name, labels, value));
        }
        break;
      case "partitionInfo":
        for (const p of metrics.partitions) {
          const state = family.value(p);
          if (state === null) continue;
          const labels: LabelPairs = [...consumer, ["topic", p.topic], ["partition", String(p.partition)], [
            family.label,
            state,
          ]];
          lines.push(sampleLine(family.name, labels, 1));
        }
        break;
    }
  }
  return lines;
}
