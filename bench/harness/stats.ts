// Numbers for the report: quantiles from histograms or samples, and formatting.
import type { HistogramSnapshot } from "../../mod.ts";

/**
 * Estimates a quantile (0..1) from a cumulative bucket histogram, interpolating linearly inside
 * the bucket (the lower edge of the first bucket is 0). `Infinity` when it lies above the last
 * bound. Accuracy is limited by the bucket widths (…, 1, 2.5, 5, 10, 25 ms, …).
 */
export function histogramQuantile(histogram: HistogramSnapshot, q: number): number {
  const { bounds, cumulativeCounts, count } = histogram;
  if (count === 0) return Number.NaN;
  const rank = q * count;
  let previousCount = 0;
  let previousBound = 0;
  for (let i = 0; i < bounds.length; i++) {
    const cumulative = cumulativeCounts[i]!;
    if (cumulative >= rank) {
      const inBucket = cumulative - previousCount;
      const share = inBucket === 0 ? 0 : (rank - previousCount) / inBucket;
      return previousBound + (bounds[i]! - previousBound) * share;
    }
    previousCount = cumulative;
    previousBound = bounds[i]!;
  }
  return Number.POSITIVE_INFINITY;
}

/** Exact quantile (0..1) of samples; sorts them in place. */
export function sampleQuantile(samples: number[] | Float64Array, q: number): number {
  if (samples.length === 0) return Number.NaN;
  samples.sort((a, b) => a - b);
  const index = Math.min(samples.length - 1, Math.max(0, Math.ceil(q * samples.length) - 1));
  return samples[index]!;
}

/**
 * Theil–Sen slope of y over x: the median of the slopes between every pair of points. Unlike a
 * least-squares fit it ignores a few outliers and a sawtooth (e.g. RSS while workers are recycled).
 */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const slopes: number[] = [];
  for (let i = 0; i < xs.length; i++) {
    for (let j = i + 1; j < xs.length; j++) {
      if (xs[j] !== xs[i]) slopes.push((ys[j]! - ys[i]!) / (xs[j]! - xs[i]!));
    }
  }
  if (slopes.length === 0) return 0;
  slopes.sort((a, b) => a - b);
  const middle = slopes.length >> 1;
  return slopes.length % 2 === 1 ? slopes[middle]! : (slopes[middle - 1]! + slopes[middle]!) / 2;
}

export const int = (value: number): string => Number.isFinite(value) ? Math.round(value).toLocaleString("en-US") : "—";

export const mib = (bytes: number): string => Number.isFinite(bytes) ? (bytes / 1048576).toFixed(0) : "—";

/** Seconds as a short latency: "0.8 ms", "12 ms", "1.02 s", "> 60 s". */
export function latency(seconds: number): string {
  if (Number.isNaN(seconds)) return "—";
  if (!Number.isFinite(seconds)) return "> 60 s";
  const ms = seconds * 1000;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${ms.toFixed(0)} ms`;
  return `${seconds.toFixed(2)} s`;
}

export const percent = (ratio: number | undefined): string =>
  ratio === undefined || !Number.isFinite(ratio) ? "—" : `${(ratio * 100).toFixed(0)}%`;

/** A markdown table; numbers are right-aligned where the header asks (a trailing ":"). */
export function markdownTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const names = headers.map((h) => h.replace(/:$/, ""));
  const right = headers.map((h) => h.endsWith(":"));
  const widths = names.map((name, i) => Math.max(name.length, 3, ...rows.map((row) => (row[i] ?? "").length)));
  const cell = (text: string, i: number) => (right[i] ? text.padStart(widths[i]!) : text.padEnd(widths[i]!));
  const lines = [
    `| ${names.map(cell).join(" | ")} |`,
    `| ${widths.map((w, i) => (right[i] ? "-".repeat(w - 1) + ":" : "-".repeat(w))).join(" | ")} |`,
    ...rows.map((row) => `| ${row.map(cell).join(" | ")} |`),
  ];
  return lines.join("\n");
}
