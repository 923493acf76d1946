// CPU time, the same way on every runtime (node:process and node:fs: Deno and Bun implement them).
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import process from "node:process";

/** User + system CPU seconds of the whole process (every thread) so far. */
export function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/**
 * User + system CPU seconds of the main thread (the consumer's own: fetching, the control plane,
 * posting to workers), or `undefined` without Linux's /proc.
 */
export function mainThreadSeconds(): number | undefined {
  return statSeconds(`/proc/${process.pid}/task/${process.pid}/stat`);
}

/**
 * User + system CPU seconds of the local broker started by `scripts/kafka/broker.sh` (its pid file),
 * or `undefined` when there is none here (another broker, or no /proc).
 */
export function brokerSeconds(): number | undefined {
  const cache = process.env.PYRALLEL_KAFKA_CACHE ?? join(homedir(), ".cache", "pyrallel-kafka");
  let pid: string;
  try {
    pid = readFileSync(join(cache, "run", "broker.pid"), "utf8").trim();
  } catch {
    return undefined;
  }
  return /^\d+$/.test(pid) ? statSeconds(`/proc/${pid}/stat`) : undefined;
}

/** Clock ticks per second of /proc's times (USER_HZ: 100 on every Linux architecture in use). */
const TICKS_PER_SECOND = 100;

/** utime + stime of a /proc stat file, in seconds. */
function statSeconds(path: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
  // The command name (in parentheses) may hold spaces: fields are counted after it.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? ticks / TICKS_PER_SECOND : undefined;
}
