// Reads the log of tests/support/workers/batch-worker.ts and checks it: per key, values in order
// across batches (each value is the key's sequence number), a key's messages consecutive within a
// batch, and no key in two batches whose runs overlap.
import { readFileSync } from "node:fs";

export interface BatchLog {
  readonly batches: number;
  readonly messages: number;
  /** The most messages of one key in a row in one batch. */
  readonly longestRun: number;
  readonly violations: readonly string[];
}

/** `deadLettered`: the `key:value` pairs of dead-lettered messages, which never succeed: the order skips them. */
export function checkBatchLog(path: string, deadLettered: ReadonlySet<string> = new Set()): BatchLog {
  const lines = readFileSync(path, "utf8").split("\n").filter((line) => line.length > 0);
  const violations: string[] = [];
  const lastSeq = new Map<string, number>();
  const lastEnd = new Map<string, number>();
  let messages = 0;
  let longestRun = 0;
  for (const line of lines) {
    const [start, end, pairs] = line.split(" ");
    const startedAt = Number(start);
    const seen = new Set<string>();
    let previous: string | undefined;
    let run = 0;
    for (const pair of pairs!.split(",")) {
      const [key, value] = pair.split(":") as [string, string];
      messages++;
      if (key !== previous) {
        if (seen.has(key)) violations.push(`${key}: not consecutive in its batch`);
        if ((lastEnd.get(key) ?? -Infinity) > startedAt) violations.push(`${key}: in two overlapping batches`);
        seen.add(key);
        run = 0;
      }
      run++;
      longestRun = Math.max(longestRun, run);
      previous = key;
      let expected = (lastSeq.get(key) ?? -1) + 1;
      while (deadLettered.has(`${key}:${expected}`)) expected++;
      if (Number(value) !== expected) violations.push(`${key}: got ${value}, expected ${expected}`);
      lastSeq.set(key, Number(value));
    }
    for (const key of seen) lastEnd.set(key, Number(end));
  }
  return { batches: lines.length, messages, longestRun, violations };
}
