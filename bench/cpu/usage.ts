// Process CPU time, the same way on every runtime (node:process: Deno and Bun implement it).
import process from "node:process";

/** User + system CPU seconds of the whole process (every thread) so far. */
export function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}
