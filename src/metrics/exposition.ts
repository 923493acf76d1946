/** Building blocks of the Prometheus text exposition format 0.0.4. */

/** Label name and value pairs, in output order. */
export type LabelPairs = readonly (readonly [string, string])[];

/** Escapes a label value: backslash, double quote and newline. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === "\\" ? "\\\\" : c === '"' ? '\\"' : "\\n"));
}

/** HELP text escapes backslash and newline only. */
export function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => (c === "\\" ? "\\\\" : "\\n"));
}

/** Go-style float spelling; bigints print exactly (offsets can pass 2^53). */
export function formatValue(value: number | bigint): string {
  if (typeof value === "bigint") return value.toString();
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

/** One sample line: `name{k="v",...} value`. */
export function sampleLine(name: string, labels: LabelPairs, value: number | bigint): string {
  const set = labels.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",");
  return `${name}{${set}} ${formatValue(value)}`;
}
