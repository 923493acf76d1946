// CPU-bound throughput: sequential baseline vs async engine vs worker engine, in one run, plus the
// cost of one batch round trip to a worker. Same file on every runtime:
//   node bench/cpu/cpu-bench.ts | deno run -A bench/cpu/cpu-bench.ts | bun bench/cpu/cpu-bench.ts
// Options: --messages N (default 8000)  --rounds R (SHA-256 rounds per message, default 500)
//          --workers W (default 2)  --repeat K (measurements per mode, median reported; default 5)
// Other processes on the machine skew any CPU benchmark: the "ceiling" line runs the same total
// work as W messages (one per worker, no per-message traffic), so it shows what the machine gave
// to W threads during this run; compare the worker engine with it as well as with the baseline.
// "CPU µs/msg" is process CPU time (all threads, main-thread dispatch included) per message: on a
// quiet machine it shows what the engine adds to the handler's own cost. (On a busy VM it varies
// too: sibling hyperthreads and steal time change how much work a CPU second does.)
import { Attempt } from "../../src/core/attempt.ts";
import type { ConsumerMessage } from "../../src/core/message.ts";
import { AsyncEngine } from "../../src/engines/async-engine.ts";
import type { ExecutionEngine } from "../../src/core/ports/execution-engine.ts";
import { WorkerEngine } from "../../src/engines/worker/worker-engine.ts";
import { DEFAULTS } from "../../src/config/defaults.ts";
import { loadavg } from "node:os";
import { makeMessages } from "./messages.ts";
import { shaRounds } from "./sha256.ts";

const args = (globalThis as unknown as { process: { argv: string[] } }).process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
/** The pool sizes a consumer gets by default. */
const workerDefaults = {
  concurrencyPerWorker: DEFAULTS.workerEngine.concurrencyPerWorker,
  maxBatchSize: DEFAULTS.workerEngine.maxBatchSize,
};
const MESSAGES = option("messages", 8000);
const ROUNDS = option("rounds", 500);
const WORKERS = option("workers", 2);
const REPEAT = option("repeat", 5);
let sink = 0;

const handler = (message: ConsumerMessage): void => {
  sink ^= shaRounds(message.value!, ROUNDS)[0]!;
};

/** Keeps the engine's slots full until every message completed, like the control plane does. */
function drive(engine: ExecutionEngine, messages: readonly ConsumerMessage[]): Promise<void> {
  let next = 0;
  let done = 0;
  return new Promise((resolve, reject) => {
    const pump = () => {
      while (engine.idleSlots > 0 && next < messages.length) {
        engine.execute(messages[next++]!, new Attempt(1, 0)).then(() => {
          if (++done === messages.length) resolve();
          else pump();
        }, reject);
      }
    };
    pump();
  });
}

async function timed(body: () => Promise<void> | void): Promise<number> {
  const started = performance.now();
  await body();
  return performance.now() - started;
}

/** Process CPU time (user + system, all threads) in ms. */
const cpuMs = (): number => {
  const usage = (globalThis as unknown as { process: { cpuUsage(): { user: number; system: number } } }).process
    .cpuUsage();
  return (usage.user + usage.system) / 1000;
};

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const runtime = (() => {
  const g = globalThis as unknown as {
    Deno?: { version: { deno: string } };
    Bun?: { version: string };
    process?: { version: string };
  };
  if (g.Deno) return `Deno ${g.Deno.version.deno}`;
  if (g.Bun) return `Bun ${g.Bun.version}`;
  return `Node ${g.process?.version}`;
})();
const load = () => loadavg().map((value) => value.toFixed(2)).join(" ");
console.log(
  `${runtime}, ${navigator.hardwareConcurrency} cores, load ${load()}: ${MESSAGES} messages × ${ROUNDS} SHA-256 rounds, ${WORKERS} workers, median of ${REPEAT}`,
);

const messages = makeMessages(MESSAGES, ROUNDS);
const workerModule = new URL("./sha-worker.ts", import.meta.url);
const modes: { name: string; engine?: ExecutionEngine; run: () => Promise<void> | void }[] = [
  { name: "sequential (1 thread)", run: () => messages.forEach(handler) },
  ...[100].map((concurrency) => {
    const engine = new AsyncEngine(handler, { concurrency });
    return { name: `async engine (concurrency ${concurrency})`, engine, run: () => drive(engine, messages) };
  }),
  (() => {
    const engine = new WorkerEngine({ ...workerDefaults, module: workerModule, workers: WORKERS });
    const bulk = makeMessages(WORKERS, ROUNDS, MESSAGES / WORKERS);
    return { name: `ceiling (${WORKERS} workers, 1 message each)`, engine, run: () => drive(engine, bulk) };
  })(),
  ...[1, 2, 4, 8].map((perWorker) => {
    const engine = new WorkerEngine({
      ...workerDefaults,
      module: workerModule,
      workers: WORKERS,
      concurrencyPerWorker: perWorker,
    });
    return { name: `worker engine (${WORKERS} workers × ${perWorker})`, engine, run: () => drive(engine, messages) };
  }),
];

// Warm-up: JIT in the main thread and in every worker, and the workers' start.
for (const mode of modes) {
  await (mode.engine ? drive(mode.engine, messages.slice(0, 400)) : messages.slice(0, 400).forEach(handler));
}

const times = new Map(modes.map((mode) => [mode.name, [] as number[]]));
const cpu = new Map(modes.map((mode) => [mode.name, [] as number[]]));
for (let round = 0; round < REPEAT; round++) {
  for (const mode of modes) {
    const cpuBefore = cpuMs();
    times.get(mode.name)!.push(await timed(mode.run));
    cpu.get(mode.name)!.push(cpuMs() - cpuBefore);
  }
}
const baseline = median(times.get(modes[0]!.name)!);
console.log(`  ${"mode".padEnd(34)} ${"msg/s".padStart(7)}  ${"vs seq".padStart(6)}  ${"CPU µs/msg".padStart(10)}`);
for (const mode of modes) {
  const ms = median(times.get(mode.name)!);
  const cpuPerMessage = (median(cpu.get(mode.name)!) * 1000) / MESSAGES;
  console.log(
    `  ${mode.name.padEnd(34)} ${(MESSAGES / (ms / 1000)).toFixed(0).padStart(7)}  ${
      (baseline / ms).toFixed(2).padStart(5)
    }×` +
      `  ${cpuPerMessage.toFixed(0).padStart(10)}`,
  );
}
for (const mode of modes) await mode.engine?.close();
console.log(`  (load afterwards: ${load()})`);

// Round trip of one batch to a worker running a no-op handler (payload: one 32-byte value).
const noop = new URL("./noop-worker.ts", import.meta.url);
for (const batch of [1, 64]) {
  const engine = new WorkerEngine({ module: noop, workers: 1, concurrencyPerWorker: batch, maxBatchSize: batch });
  const sample = makeMessages(batch, 0);
  const trips = batch === 1 ? 20_000 : 2_000;
  const once = () => Promise.all(sample.map((message) => engine.execute(message, new Attempt(1, 0))));
  for (let i = 0; i < trips / 4; i++) await once(); // warm-up
  const ms = await timed(async () => {
    for (let i = 0; i < trips; i++) await once();
  });
  const perTrip = (ms * 1000) / trips;
  console.log(
    `  round trip, batch of ${String(batch).padEnd(2)}: ${perTrip.toFixed(1).padStart(6)} µs per batch, ${
      (perTrip / batch).toFixed(2).padStart(6)
    } µs per message`,
  );
  await engine.close();
}
if (sink === -1) console.log(sink);
