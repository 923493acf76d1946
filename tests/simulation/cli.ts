// Runs the seeded simulation from the command line.
//
//   node tests/simulation/cli.ts                    seeds 0..999
//   node tests/simulation/cli.ts --seeds 0..2999    a range of seeds (the CI set)
//   node tests/simulation/cli.ts --random 20        plus 20 seeds drawn at random (printed, so they replay)
//   node tests/simulation/cli.ts --seed 123 --trace one seed, with the cluster's event trace
//   node tests/simulation/cli.ts --first-failure    stop at the first failing seed (mutation checks)
//
// Prints each failing seed with its violations and the command that replays it; exits 1 if any failed.
import { simulate } from "./simulate.ts";

const args = (globalThis as { process?: { argv: string[] } }).process?.argv.slice(2) ??
  (globalThis as unknown as { Deno: { args: string[] } }).Deno.args;
const option = (name: string): string | undefined => {
  const index = args.indexOf(`--${name}`);
  return index < 0 ? undefined : args[index + 1];
};
const trace = args.includes("--trace");
const verbose = args.includes("--verbose");
const firstFailure = args.includes("--first-failure");

const seeds: number[] = [];
const single = option("seed");
if (single !== undefined) seeds.push(Number(single));
else {
  const [from, to] = (option("seeds") ?? "0..999").split("..").map(Number);
  for (let seed = from!; seed <= to!; seed++) seeds.push(seed);
  const extra = Number(option("random") ?? 0);
  for (let i = 0; i < extra; i++) seeds.push(1_000_000 + Math.floor(Math.random() * 1_000_000_000));
}

const started = performance.now();
let failed = 0;
let steps = 0;
let calls = 0;
let virtualMs = 0;
let handovers = 0;
for (const seed of seeds) {
  const result = await simulate(seed, { trace });
  steps += result.stats.steps;
  calls += result.stats.calls;
  virtualMs += result.stats.virtualMs;
  handovers += result.stats.handovers;
  if (verbose || seeds.length === 1) {
    console.log(
      `seed ${seed}: ${result.description}; ${result.stats.steps} steps, ${result.stats.calls} handler calls, ${result.stats.commits} commits checked, ${
        (result.stats.virtualMs / 1000).toFixed(1)
      } s virtual`,
    );
  }
  if (result.trace) console.log(result.trace.join("\n"));
  if (result.violations.length === 0) continue;
  failed++;
  console.log(`\nFAILED seed ${seed} (${result.description}):`);
  for (const violation of result.violations) console.log(`  - ${violation}`);
  console.log(`  replay: node tests/simulation/cli.ts --seed ${seed} --trace`);
  if (firstFailure) {
    console.log(`first failure at seed ${seed}, after ${seeds.indexOf(seed) + 1} seed(s)`);
    break;
  }
}
const seconds = (performance.now() - started) / 1000;
console.log(
  `\nsimulation: ${seeds.length} seed(s), ${failed} failed, ${seconds.toFixed(1)} s ` +
    `(${steps} steps, ${calls} handler calls, ${handovers} graceful hand-overs checked, ` +
    `${(virtualMs / 3_600_000).toFixed(1)} h of virtual time)`,
);
if (failed > 0) (globalThis as { process?: { exitCode?: number } }).process!.exitCode = 1;
