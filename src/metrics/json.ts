import type { ParallelConsumerLike } from "./types.ts";

/** JSON.stringify throws on bigint; offsets become decimal strings so no precision is lost. */
const bigintAsString = (_key: string, value: unknown): unknown => typeof value === "bigint" ? value.toString() : value;

/**
 * Serializes the consumers' metrics as `{ "consumers": [{ "id": ..., ...metrics }] }`. Bigint
 * offsets are written as decimal strings, so the result parses with plain `JSON.parse`.
 */
export function metricsToJson(consumers: readonly ParallelConsumerLike[]): string {
  return JSON.stringify({ consumers: consumers.map((c) => ({ id: c.id, ...c.getMetrics() })) }, bigintAsString);
}
