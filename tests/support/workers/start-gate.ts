// Lets a worker module load only a given number of times, then makes every later load throw,
// like a deploy that breaks the module under a running consumer. Each load claims the next
// number by creating `${PYRALLEL_START_GATE}.<n>` exclusively (atomic across threads); loads
// beyond PYRALLEL_START_GATE_LOADS (default 1) throw. Deterministic for any thread timing.
import { closeSync, openSync } from "node:fs";

const { env } = (globalThis as unknown as { process: { env: Record<string, string | undefined> } }).process;
const base = env.PYRALLEL_START_GATE;
if (base === undefined) throw new Error("start-gate: PYRALLEL_START_GATE is not set");
const allowed = Number(env.PYRALLEL_START_GATE_LOADS ?? "1");

let load = 1;
for (;; load++) {
  try {
    closeSync(openSync(`${base}.${load}`, "wx"));
    break;
  } catch (error) {
    if ((error as { code?: unknown }).code !== "EEXIST") throw error;
  }
}
if (load > allowed) throw new Error(`start-gate: load ${load} refused (${allowed} allowed)`);
