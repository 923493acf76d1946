// Runs the CPU benchmark (run.ts) on Node, Deno and Bun one after the other, each in its own child
// process with the runtime from node_modules/.bin, waiting for a quieter machine before each; then
// prints every runtime's tables together.
//
//   npm run bench:cpu                         (= node bench/cpu/all.ts, the broker started first)
//   node bench/cpu/all.ts --runtimes node,bun --repeat 1 --costs 0.1,0.3
//
// Options: --runtimes node,deno,bun (default all three)  --json FILE (every runtime's results)
// --wait-load L[,S] (before each runtime, wait up to S s for the 1-minute load average to drop
// below L; default 1,120; "none" to skip). Every other option goes to run.ts (see there).
import { spawn } from "node:child_process";
import { existsSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { optionValue, waitForLoad } from "../harness/runtime.ts";
import { type CpuFile, LEGEND, renderFile } from "./report.ts";

const RUNTIMES = ["node", "deno", "bun"] as const;
type Runtime = (typeof RUNTIMES)[number];

const args = process.argv.slice(2);
const own = new Set(["--runtimes", "--json", "--wait-load"]);
const value = (flag: string) => optionValue(args, flag);
/** The arguments for run.ts: everything but this script's own options. */
const passed: string[] = [];
for (let i = 0; i < args.length; i++) {
  const arg = args[i]!;
  if (own.has(arg)) i++;
  else if (![...own].some((flag) => arg.startsWith(`${flag}=`))) passed.push(arg);
}
const runtimes = (value("--runtimes") ?? RUNTIMES.join(",")).split(",").map((r) => r.trim()) as Runtime[];
const unknown = runtimes.filter((r) => !RUNTIMES.includes(r));
if (unknown.length > 0) throw new Error(`--runtimes: ${unknown.join(",")} not in ${RUNTIMES.join(",")}`);
const waitLoadText = value("--wait-load") ?? "1,120";
const json = value("--json");

const script = fileURLToPath(new URL("./run.ts", import.meta.url));
const bin = (name: string) => fileURLToPath(new URL(`../../node_modules/.bin/${name}`, import.meta.url));
function command(runtime: Runtime): { command: string; args: string[] } {
  if (runtime === "node") return { command: existsSync(bin("node")) ? bin("node") : process.execPath, args: [script] };
  if (runtime === "deno") return { command: bin("deno"), args: ["run", "-A", script] };
  return { command: bin("bun"), args: [script] };
}

const started = performance.now();
const log = (line: string) =>
  console.log(`[all ${((performance.now() - started) / 1000).toFixed(1).padStart(6)}s] ${line}`);
const loads = () => loadavg().map((l) => l.toFixed(2)).join(" ");

const files: CpuFile[] = [];
const failures: string[] = [];
for (const runtime of runtimes) {
  if (waitLoadText !== "none") {
    const [limit, seconds] = waitLoadText.split(",");
    await waitForLoad(Number(limit), Number(seconds ?? 120), log);
  }
  const out = join(tmpdir(), `pyrallel-cpu-${runtime}-${process.pid}-${Date.now()}.json`);
  const { command: cmd, args: cmdArgs } = command(runtime);
  log(`${runtime}: ${[cmd, ...cmdArgs, ...passed].join(" ")} (load average ${loads()})`);
  const child = spawn(cmd, [...cmdArgs, ...passed, "--json", out], { stdio: ["ignore", "inherit", "inherit"] });
  const code = await new Promise<number>((resolve) => {
    child.on("exit", (exitCode) => resolve(exitCode ?? 1));
    child.on("error", () => resolve(1));
  });
  log(`${runtime}: exit code ${code} (load average ${loads()})`);
  if (code !== 0 || !existsSync(out)) {
    failures.push(`${runtime}: exit code ${code}, no results`);
    continue;
  }
  files.push(JSON.parse(readFileSync(out, "utf8")) as CpuFile);
  unlinkSync(out);
}

console.log(`\n## CPU-bound (workers): ${files.map((f) => f.runtime).join(", ")}\n`);
for (const file of files) console.log(`${renderFile(file)}\n`);
console.log(`${LEGEND}\n`);
for (const failure of failures) console.log(`- ${failure}`);
if (json) {
  writeFileSync(json, JSON.stringify(files, null, 2));
  log(`results written to ${json}`);
}
log(`done in ${Math.round((performance.now() - started) / 1000)} s`);
process.exit(failures.length > 0 ? 1 : 0);
