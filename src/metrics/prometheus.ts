import { escapeHelp } from "./exposition.ts";
import { FAMILIES } from "./families.ts";
import { familySamples, type Snapshot } from "./samples.ts";
import type { ParallelConsumerLike } from "./types.ts";

export { escapeLabelValue } from "./exposition.ts";

/** Content type of the text exposition format {@link formatPrometheus} writes. */
export const PROMETHEUS_CONTENT_TYPE: string = "text/plain; version=0.0.4; charset=utf-8";

/**
 * Renders the consumers' metrics in the Prometheus text exposition format 0.0.4. Each family gets
 * its HELP and TYPE lines once, then its series consumer by consumer: one per consumer (label
 * `consumer`), one per owned partition (labels `consumer`, `topic`, `partition`), or a histogram's
 * `_bucket{le=...}`, `_sum` and `_count`. Offset series whose value is unknown are omitted, and so
 * is `pyrallel_system_pause_reason_info` while fetching runs. Consumer ids should be distinct:
 * equal ids give duplicate series.
 *
 * @example
 * ```ts
 * const body = formatPrometheus([consumer]);
 * ```
 */
export function formatPrometheus(consumers: readonly ParallelConsumerLike[]): string {
  // One snapshot per consumer so every family reads the same moment.
  const snapshots: Snapshot[] = consumers.map((c) => ({ id: c.id, metrics: c.getMetrics() }));
  const lines: string[] = [];
  for (const family of FAMILIES) {
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`);
    lines.push(...familySamples(family, snapshots));
  }
  return `${lines.join("\n")}\n`;
}
