// A tiny shim over what differs between Node, Deno and Bun for benchmarks: the runtime's name,
// memory usage, forcing a garbage collection, and the resources that keep the event loop alive.
import { loadavg } from "node:os";
import v8 from "node:v8";
import vm from "node:vm";

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

export type RuntimeName = "node" | "deno" | "bun";

export const runtime: RuntimeName = g.Bun ? "bun" : g.Deno ? "deno" : "node";

/** e.g. "node 22.23.3", "deno 2.9.6", "bun 1.4.5". */
export const runtimeVersion: string = runtime === "bun"
  ? `bun ${g.Bun.version}`
  : runtime === "deno"
  ? `deno ${g.Deno.version.deno}`
  : `node ${process.versions.node}`;

export interface MemorySample {
  /** Resident set size of the process, bytes. */
  rss: number;
  /** JS heap in use, bytes (V8 `heapUsed`; on Bun, JavaScriptCore's heap size). */
  heapUsed: number;
  /** Memory of ArrayBuffers/Buffers outside the JS heap, bytes (0 where the runtime does not say). */
  external: number;
}

/** Memory of this process, the runtime's own way: `Deno.memoryUsage()` or `process.memoryUsage()`. */
export function memory(): MemorySample {
  const usage = runtime === "deno" ? g.Deno.memoryUsage() : process.memoryUsage();
  return { rss: usage.rss, heapUsed: usage.heapUsed, external: usage.external ?? 0 };
}

/** RSS only: cheap enough to sample often. */
export function rss(): number {
  if (runtime === "deno") return g.Deno.memoryUsage().rss;
  // process.memoryUsage.rss() skips the heap statistics on Node.
  return typeof process.memoryUsage.rss === "function" ? process.memoryUsage.rss() : process.memoryUsage().rss;
}

let gcFunction: (() => void) | undefined;

/** A full garbage collection, where the runtime allows one (without command-line flags). */
export function collectGarbage(): boolean {
  if (runtime === "bun") {
    g.Bun.gc(true);
    return true;
  }
  if (!gcFunction) {
    if (typeof g.gc === "function") {
      gcFunction = g.gc;
    } else {
      try {
        v8.setFlagsFromString("--expose-gc");
        gcFunction = vm.runInNewContext("gc") as () => void;
      } catch {
        return false;
      }
    }
  }
  gcFunction!();
  return true;
}

/** Collects twice with a macrotask between (weak refs and finalizers get their turn). */
export async function settleGarbage(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    collectGarbage();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * What keeps the event loop alive, by kind (e.g. { Timeout: 3, TCPSocketWrap: 2 }), where the
 * runtime says (`process.getActiveResourcesInfo()`: Node and Deno); `undefined` where it does not.
 */
export function activeResources(): Record<string, number> | undefined {
  // Bun has the function but it always answers [].
  if (runtime === "bun") return undefined;
  const info = (process as unknown as { getActiveResourcesInfo?: () => string[] }).getActiveResourcesInfo;
  if (typeof info !== "function") return undefined;
  const counts: Record<string, number> = {};
  for (const kind of info.call(process)) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

/**
 * The command line that runs `script` on this runtime with these arguments (Deno needs `run -A`,
 * Node keeps its own flags): for benchmarks that run each measurement in a child process.
 */
export function selfCommand(script: string, args: readonly string[]): { command: string; args: string[] } {
  const runtimeArgs = runtime === "deno" ? ["run", "-A"] : runtime === "node" ? process.execArgv : [];
  return { command: process.execPath, args: [...runtimeArgs, script, ...args] };
}

/**
 * On a busy machine: waits (up to `maxSeconds`) until the 1-minute load average is below `limit`.
 * Returns the load average it ends with.
 */
export async function waitForLoad(limit: number, maxSeconds: number, log: (line: string) => void): Promise<number> {
  const deadline = performance.now() + maxSeconds * 1000;
  let load = loadavg()[0]!;
  if (load >= limit) log(`load average ${load.toFixed(1)} ≥ ${limit}: waiting up to ${maxSeconds} s for it to drop`);
  while (load >= limit && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    load = loadavg()[0]!;
  }
  return load;
}

/** Command-line arguments after the script. */
export function scriptArgs(): string[] {
  return runtime === "deno" ? [...g.Deno.args] : process.argv.slice(2);
}

export function env(name: string): string | undefined {
  return process.env[name];
}

/**
 * The value of option `flag` in `args` (`--flag value` or `--flag=value`), else of the
 * environment variable `envName` when given.
 */
export function optionValue(args: readonly string[], flag: string, envName?: string): string | undefined {
  const index = args.indexOf(flag);
  if (index >= 0) return args[index + 1];
  const inline = args.find((arg) => arg.startsWith(`${flag}=`));
  if (inline) return inline.slice(flag.length + 1);
  return envName ? env(envName) : undefined;
}
