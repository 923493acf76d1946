import type { HistogramSnapshot } from "../core/histogram.ts";
import type { ConsumerMetrics, PartitionMetrics } from "../core/metrics-snapshot.ts";

/** A metric family with one series per consumer. */
export interface ConsumerFamily {
  readonly scope: "consumer";
  readonly name: string;
  readonly type: "gauge" | "counter";
  readonly help: string;
  readonly value: (metrics: ConsumerMetrics) => number;
}

/** A metric family with one series per owned partition; `null` omits the series. */
export interface PartitionFamily {
  readonly scope: "partition";
  readonly name: string;
  readonly type: "gauge";
  readonly help: string;
  readonly value: (partition: PartitionMetrics) => number | bigint | null;
}

/**
 * An info-style gauge: per consumer, one series with value 1 whose extra label `label` carries a
 * state (e.g. the pause reason); no series while the state is `null`.
 */
export interface InfoFamily {
  readonly scope: "info";
  readonly name: string;
  readonly type: "gauge";
  readonly help: string;
  readonly label: string;
  readonly value: (metrics: ConsumerMetrics) => string | null;
}

/** An info-style gauge per owned partition: value 1 with the state in label `label`, no series while `null`. */
export interface PartitionInfoFamily {
  readonly scope: "partitionInfo";
  readonly name: string;
  readonly type: "gauge";
  readonly help: string;
  readonly label: string;
  readonly value: (partition: PartitionMetrics) => string | null;
}

/** A histogram per consumer: `_bucket{le=...}` (cumulative, ending at `+Inf`), `_sum`, `_count`. */
export interface HistogramFamily {
  readonly scope: "histogram";
  readonly name: string;
  readonly type: "histogram";
  readonly help: string;
  readonly value: (metrics: ConsumerMetrics) => HistogramSnapshot;
}

/** One Prometheus metric family: name, type, help and how to read it from a snapshot. */
export type Family = ConsumerFamily | PartitionFamily | InfoFamily | PartitionInfoFamily | HistogramFamily;

/** A gauge with one series per consumer. */
export const consumerGauge = (name: string, help: string, value: ConsumerFamily["value"]): ConsumerFamily => ({
  scope: "consumer",
  name,
  type: "gauge",
  help,
  value,
});

/** A counter with one series per consumer; `name` should end in `_total`. */
export const counter = (name: string, help: string, value: ConsumerFamily["value"]): ConsumerFamily => ({
  scope: "consumer",
  name,
  type: "counter",
  help,
  value,
});

/** A gauge with one series per owned partition. */
export const partitionGauge = (name: string, help: string, value: PartitionFamily["value"]): PartitionFamily => ({
  scope: "partition",
  name,
  type: "gauge",
  help,
  value,
});

/** An info gauge: value 1 with the state in label `label`, no series while the state is `null`. */
export const infoGauge = (name: string, help: string, label: string, value: InfoFamily["value"]): InfoFamily => ({
  scope: "info",
  name,
  type: "gauge",
  help,
  label,
  value,
});

/** A partition info gauge: value 1 with the state in label `label`, no series while the state is `null`. */
export const partitionInfoGauge = (
  name: string,
  help: string,
  label: string,
  value: PartitionInfoFamily["value"],
): PartitionInfoFamily => ({ scope: "partitionInfo", name, type: "gauge", help, label, value });

/** A latency histogram with one set of series per consumer. */
export const histogram = (name: string, help: string, value: HistogramFamily["value"]): HistogramFamily => ({
  scope: "histogram",
  name,
  type: "histogram",
  help,
  value,
});
