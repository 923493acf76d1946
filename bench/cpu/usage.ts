// CPU time, the same way on every runtime (node:process and node:fs: Deno and Bun implement them).
import { readFileSync } from "node:fs";
import process from "node:process";
import { brokerRunDir } from "../../tests/support/kafka.ts";

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
 * User + system CPU seconds of the broker at `address` when `scripts/kafka/broker.sh` runs it on
 * this machine (its pid file), or `undefined` (a remote broker, or no /proc).
 */
export function brokerSeconds(address: string): number | undefined {
  const [host, port] = address.split(":");
  if (host !== "127.0.0.1" && host !== "localhost") return undefined;
  let pid: string;
  try {
    pid = readFileSync(`${brokerRunDir(Number(port))}/broker.pid`, "utf8").trim();
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
