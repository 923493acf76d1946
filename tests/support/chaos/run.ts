// The chaos run: consumer processes (tests/support/chaos/child.ts) in one group on one topic, a
// producer writing throughout, SIGKILLs and restarts of consumer processes at seeded random
// times, optionally broker stops/starts that keep the data; then a clean final consumer drains
// everything and tests/support/chaos/verify.ts checks what happened.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { ChaosKafka, chaosProducer, type Committed } from "./kafka.ts";
import {
  type AttemptRecord,
  type CloseEvent,
  type CommitSample,
  type KillEvent,
  type ProcessSample,
  verify,
  type VerifyReport,
} from "./verify.ts";

export interface ChaosConfig {
  seed: number;
  brokers: string[];
  /** Port of the local broker (scripts/kafka/broker.sh), for broker restarts. */
  brokerPort: number;
  partitions: number;
  processes: number;
  messages: number;
  /** Production spreads the messages evenly over this long. */
  produceMs: number;
  keys: number;
  /** SIGKILLs, at random times within [killFrom, killTo] × produceMs. */
  kills: number;
  killFrom: number;
  killTo: number;
  /** A killed process comes back after a random delay in this range. */
  restartDelayMs: [number, number];
  /** Broker stop/start cycles (data kept), at random times within the kill window. */
  brokerRestarts: number;
  /** How long the broker stays down. */
  brokerDownMs: number;
  commitIntervalMs: number;
  sampleMs: number;
  /** Handler time range per message. */
  handlerDelayMs: [number, number];
  /** Share of slow messages, and their mean handler time. */
  slowShare: number;
  slowDelayMs: number;
  concurrency: number;
  maxInFlight: number;
  sessionTimeoutMs: number;
  /** The final consumer must reach the log end within this long. */
  finalDrainTimeoutMs: number;
  log: (line: string) => void;
}

export interface ProcessExit {
  id: string;
  pid: number;
  code: number | null;
  signal: string | null;
  at: number;
  /** The start of its stderr (a crash's stack trace) and its last consumer errors. */
  stderr: string;
  errors: string[];
}

export interface ChaosEvent {
  at: number;
  what: string;
}

export interface ChaosResult {
  config: Omit<ChaosConfig, "log">;
  topic: string;
  groupId: string;
  /** Messages acknowledged to the test's producer (sends), and resent batches after a failed send. */
  producedAcked: number;
  producerResends: number;
  report: VerifyReport;
  kills: number;
  restarts: number;
  /** Processes that exited without being asked to (e.g. the consumer failed and closed itself). */
  unexpectedExits: ProcessExit[];
  /** Graceful closes (chaos members at the end, the final consumer) that did not exit with code 0. */
  closeFailures: ProcessExit[];
  brokerRestarts: number;
  /** Distinct consumer error messages (normalised) with counts. */
  childErrors: Map<string, number>;
  events: ChaosEvent[];
  timings: Record<string, number>;
}

// ---------------------------------------------------------------------------------------------
// Seeded randomness
// ---------------------------------------------------------------------------------------------

/** mulberry32: a small seeded PRNG, enough for schedules. Returns [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Consumer processes
// ---------------------------------------------------------------------------------------------

interface DenoLike {
  execPath(): string;
}

const CHILD_SCRIPT = fileURLToPath(new URL("./child.ts", import.meta.url));
const BROKER_RESTART_SCRIPT = fileURLToPath(new URL("./broker-restart.sh", import.meta.url));

/** The command running a TypeScript script on the runtime running this test. */
export function runtimeCommand(script: string): [string, string[]] {
  const deno = (globalThis as unknown as { Deno?: DenoLike }).Deno;
  if (deno) return [deno.execPath(), ["run", "-A", script]];
  // Node 22.18+ strips types by default; Bun runs TypeScript natively.
  return [process.execPath, [script]];
}

interface ChildLine {
  event: string;
  t: number;
  [field: string]: unknown;
}

class ConsumerProcess {
  readonly id: string;
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  readonly errors: string[] = [];
  lastSample: ChildLine | undefined;
  started = false;
  runtime = "?";
  killedByTest = false;
  closeRequested = false;
  stderr = "";
  #partial = "";
  #onStarted: (() => void) | undefined;

  constructor(id: string, env: Record<string, string>, onLine: (process: ConsumerProcess, line: ChildLine) => void) {
    this.id = id;
    const [command, args] = runtimeCommand(CHILD_SCRIPT);
    this.child = spawn(command, args, {
      env: { ...process.env, DENO_NO_UPDATE_CHECK: "1", DENO_NO_PROMPT: "1", NODE_NO_WARNINGS: "1", ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    // A closed pipe to a killed child must not crash the test.
    this.child.stdin!.on("error", () => {});
    this.child.stdout!.setEncoding("utf8");
    this.child.stdout!.on("data", (chunk: string) => {
      const lines = (this.#partial + chunk).split("\n");
      this.#partial = lines.pop()!;
      for (const text of lines) {
        if (!text.trim()) continue;
        let line: ChildLine;
        try {
          line = JSON.parse(text) as ChildLine;
        } catch {
          this.stderr += `[stdout] ${text}\n`;
          continue;
        }
        if (line.event === "m") this.lastSample = line;
        if (line.event === "started") {
          this.started = true;
          this.runtime = String(line.runtime);
          this.#onStarted?.();
        }
        if (line.event === "error") this.errors.push(String(line.message));
        onLine(this, line);
      }
    });
    this.child.stderr!.setEncoding("utf8");
    this.child.stderr!.on("data", (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-20_000);
    });
    this.exited = new Promise((resolve) => this.child.on("exit", (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  waitStarted(timeoutMs: number): Promise<void> {
    if (this.started) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.id} not started after ${timeoutMs} ms; stderr:\n${this.stderr}`)),
        timeoutMs,
      );
      this.#onStarted = () => {
        clearTimeout(timer);
        resolve();
      };
      void this.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        if (!this.started) {
          reject(new Error(`${this.id} exited (${code ?? signal}) before it started; stderr:\n${this.stderr}`));
        }
      });
    });
  }

  /** Asks for a graceful close (the child closes the consumer and exits); SIGKILL after `timeoutMs`. */
  async close(timeoutMs: number): Promise<boolean> {
    if (!this.alive) return true;
    this.closeRequested = true;
    this.child.stdin!.write("close\n");
    const timer = setTimeout(() => this.kill(), timeoutMs);
    const { code } = await this.exited;
    clearTimeout(timer);
    return code === 0;
  }

  kill(): void {
    if (!this.alive) return;
    this.killedByTest = true;
    this.child.kill("SIGKILL");
  }
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

function brokerRestart(port: number, command: "stop" | "start"): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      "bash",
      [BROKER_RESTART_SCRIPT, command],
      { env: { ...process.env, PYRALLEL_KAFKA_PORT: String(port) } },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`broker-restart.sh ${command} failed: ${stderr || error.message}`));
        else resolve(stdout.trim());
      },
    );
  });
}

/** Error messages without the numbers that make each one unique, for counting. */
function normalise(message: string): string {
  return message.replace(/\d+/g, "N").slice(0, 200);
}

export async function runChaos(config: ChaosConfig): Promise<ChaosResult> {
  const { log } = config;
  const t0 = Date.now();
  const elapsed = () => ((Date.now() - t0) / 1000).toFixed(1).padStart(6);
  const events: ChaosEvent[] = [];
  const note = (what: string) => {
    events.push({ at: Date.now(), what });
    log(`[${elapsed()}s] ${what}`);
  };
  const timings: Record<string, number> = {};
  const random = seededRandom(config.seed);
  const tag = `${Date.now().toString(36)}-${config.seed.toString(36)}`;
  const topic = `chaos-${tag}`;
  const groupId = `chaos-group-${tag}`;
  const poisonKey = "poison";
  const recordsDir = mkdtempSync(join(tmpdir(), "pyrallel-chaos-"));
  const kafka = new ChaosKafka(config.brokers);
  const processes = new Map<number, ConsumerProcess>(); // slot -> current process
  const all: ConsumerProcess[] = [];
  const kills: KillEvent[] = [];
  const closes: CloseEvent[] = [];
  const processSamples: ProcessSample[] = [];
  const unexpectedExits: ProcessExit[] = [];
  const closeFailures: ProcessExit[] = [];
  const exitOf = (child: ConsumerProcess, code: number | null, signal: string | null): ProcessExit => ({
    id: child.id,
    pid: child.pid,
    code,
    signal,
    at: Date.now(),
    stderr: child.stderr.slice(0, 3000),
    errors: child.errors.slice(-5),
  });
  const childErrors = new Map<string, number>();
  let restarts = 0;
  let brokerRestarts = 0;
  let chaosActive = true;
  const generation = new Map<number, number>();
  const pendingRestarts = new Set<Promise<void>>();

  const childEnv = (id: string): Record<string, string> => ({
    CHAOS_ID: id,
    CHAOS_TOPIC: topic,
    CHAOS_GROUP: groupId,
    CHAOS_BROKERS: config.brokers.join(","),
    CHAOS_RECORDS: join(recordsDir, `${id}.jsonl`),
    CHAOS_POISON_KEY: poisonKey,
    CHAOS_MIN_DELAY_MS: String(config.handlerDelayMs[0]),
    CHAOS_MAX_DELAY_MS: String(config.handlerDelayMs[1]),
    CHAOS_SLOW_SHARE: String(config.slowShare),
    CHAOS_SLOW_DELAY_MS: String(config.slowDelayMs),
    CHAOS_SAMPLE_MS: String(config.sampleMs),
    CHAOS_COMMIT_INTERVAL_MS: String(config.commitIntervalMs),
    CHAOS_CONCURRENCY: String(config.concurrency),
    CHAOS_MAX_IN_FLIGHT: String(config.maxInFlight),
    CHAOS_SESSION_TIMEOUT_MS: String(config.sessionTimeoutMs),
  });

  const onLine = (child: ConsumerProcess, line: ChildLine) => {
    if (line.event === "m") {
      processSamples.push({
        pid: child.pid,
        t: line.t,
        inFlight: Number(line.inFlight),
        commits: Number(line.commits),
        owned: (line.owned as number[] | undefined) ?? [],
      });
    } else if (line.event === "error") {
      const key = normalise(String(line.message));
      childErrors.set(key, (childErrors.get(key) ?? 0) + 1);
    } else if (line.event === "fatal") {
      note(`${child.id} (pid ${child.pid}): the consumer failed and is closing itself`);
    } else if (line.event === "warn") {
      log(`[${elapsed()}s] ${child.id} warn: ${String(line.message)}`);
    }
  };

  const launch = (slot: number): ConsumerProcess => {
    const gen = (generation.get(slot) ?? 0) + 1;
    generation.set(slot, gen);
    // Slot 0 is the final clean consumer; slots 1..n are the chaos members.
    const id = slot === 0 ? `final.${gen}` : `c${slot}.${gen}`;
    const child = new ConsumerProcess(id, childEnv(id), onLine);
    all.push(child);
    processes.set(slot, child);
    void child.exited.then(({ code, signal }) => {
      if (child.killedByTest || child.closeRequested) return;
      unexpectedExits.push(exitOf(child, code, signal));
      note(
        `${child.id} (pid ${child.pid}) exited unexpectedly (${code ?? signal}); stderr: ${
          firstLines(child.stderr, 8)
        }`,
      );
      // Keep the group populated while the chaos lasts.
      if (chaosActive && slot !== 0) scheduleRestart(slot, 1000);
    });
    return child;
  };

  const scheduleRestart = (slot: number, delayMs: number) => {
    const restart = (async () => {
      await sleep(delayMs);
      if (!chaosActive) return;
      const child = launch(slot);
      restarts++;
      const launched = Date.now();
      note(`restarted slot ${slot} as ${child.id} (pid ${child.pid})`);
      child.waitStarted(120_000).then(
        () => note(`${child.id} joined the group ${Date.now() - launched} ms after its launch`),
        () => {},
      );
    })();
    pendingRestarts.add(restart);
    void restart.finally(() => pendingRestarts.delete(restart));
  };

  let producer: ReturnType<typeof chaosProducer> | undefined;
  /** Set when the run fails: the producer and the chaos loops stop at their next step. */
  let aborted = false;

  // ---- committed-offset sampler ----
  const samples: CommitSample[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const tReq = Date.now();
      try {
        const committed = await kafka.committed(groupId, topic, config.partitions);
        samples.push({ tReq, tRes: Date.now(), committed });
      } catch {
        // Broker down or restarting: no sample this time.
      }
      await sleep(Math.max(0, 150 - (Date.now() - tReq)));
    }
  })();

  try {
    await kafka.createTopic(topic, config.partitions);
    // One partition, so the dead letters are read back in order (auto-creation would use the broker's default).
    await kafka.createTopic(`${topic}.dlq`, 1);
    note(`topic ${topic} (${config.partitions} partitions), group ${groupId}, records in ${recordsDir}`);

    // ---- consumers ----
    const startT = Date.now();
    for (let slot = 1; slot <= config.processes; slot++) launch(slot);
    await Promise.all([...processes.values()].map((child) => child.waitStarted(60_000)));
    timings.consumersStartedMs = Date.now() - startT;
    note(
      `${config.processes} consumer processes (${
        processes.get(1)!.runtime
      }) started in ${timings.consumersStartedMs} ms`,
    );

    // ---- the schedule ----
    const brokerTimes = Array.from({ length: config.brokerRestarts }, (_, i) =>
      // Spread evenly inside the kill window, with a little jitter.
      (config.killFrom +
        ((i + 0.5 + (random() - 0.5) * 0.3) / config.brokerRestarts) * (config.killTo - config.killFrom)) *
      config.produceMs);
    // Kills keep away from broker restarts, so that a broker restart hits established members
    // (not only processes still joining) and its effects are not mixed up with a kill's.
    const nearBrokerRestart = (at: number) =>
      brokerTimes.some((b) => at > b - 5000 && at < b + config.brokerDownMs + 10_000);
    const killTimes = Array.from({ length: config.kills }, () => {
      let at = 0;
      for (let tries = 0; tries < 100; tries++) {
        at = (config.killFrom + random() * (config.killTo - config.killFrom)) * config.produceMs;
        if (!nearBrokerRestart(at)) break;
      }
      return at;
    }).sort((a, b) => a - b);
    const poisonIndex = Math.floor(config.messages * (0.3 + random() * 0.2));
    const keys = Array.from(
      { length: config.messages },
      (_, i) => i === poisonIndex ? poisonKey : `k-${Math.floor(random() * config.keys)}`,
    );

    // ---- producer ----
    producer = chaosProducer(config.brokers);
    let producedAcked = 0;
    let producerResends = 0;
    const produceStart = Date.now();
    const batchEveryMs = 50;
    const batches = Math.max(1, Math.round(config.produceMs / batchEveryMs));
    const perBatch = Math.ceil(config.messages / batches);
    const producing = (async () => {
      for (let sent = 0, batch = 0; sent < config.messages && !aborted; batch++) {
        const due = produceStart + batch * batchEveryMs;
        if (Date.now() < due) await sleep(due - Date.now());
        const count = Math.min(perBatch, config.messages - sent);
        const messages = Array.from({ length: count }, (_, j) => {
          const index = sent + j;
          const key = keys[index]!;
          return {
            topic,
            key: Buffer.from(key),
            value: Buffer.from(key === poisonKey ? "poison" : JSON.stringify({ seq: index })),
          };
        });
        for (let attempt = 1;; attempt++) {
          try {
            await producer!.send({ messages });
            break;
          } catch (error) {
            producerResends++;
            if (attempt === 1) note(`producer: send failed (${String(error).slice(0, 160)}); retrying`);
            if (attempt > 600) throw error;
            await sleep(250);
          }
        }
        if (keys.slice(sent, sent + count).includes(poisonKey)) {
          note(`produced the poison message (#${poisonIndex})`);
        }
        sent += count;
        producedAcked += count;
      }
    })();

    // ---- chaos ----
    const chaos = (async () => {
      const steps = [
        ...killTimes.map((at) => ({ at, kind: "kill" as const })),
        ...brokerTimes.map((at) => ({ at, kind: "broker" as const })),
      ].sort((a, b) => a.at - b.at);
      for (const step of steps) {
        const due = produceStart + step.at;
        if (Date.now() < due) await sleep(due - Date.now());
        if (aborted) return;
        if (step.kind === "broker") {
          note(`broker: stopping (data kept)`);
          const stopped = Date.now();
          note(await brokerRestart(config.brokerPort, "stop"));
          await sleep(Math.max(0, config.brokerDownMs - (Date.now() - stopped)));
          note("broker: starting");
          note(await brokerRestart(config.brokerPort, "start"));
          brokerRestarts++;
          note(`broker: back after ${Date.now() - stopped} ms down`);
          continue;
        }
        let alive = [...processes.entries()].filter(([slot, child]) => slot !== 0 && child.alive);
        // Everyone is dead already: the kill waits for the next restart.
        for (let waited = 0; alive.length === 0 && waited < 30_000; waited += 50) {
          await sleep(50);
          alive = [...processes.entries()].filter(([slot, child]) => slot !== 0 && child.alive);
        }
        if (alive.length === 0) throw new Error("no consumer process came back within 30 s");
        const [slot, victim] = alive[Math.floor(random() * alive.length)]!;
        const restartDelay = config.restartDelayMs[0] +
          random() * (config.restartDelayMs[1] - config.restartDelayMs[0]);
        const sample = victim.lastSample;
        const at = Date.now();
        victim.kill();
        await victim.exited;
        const inFlight = Number(sample?.inFlight ?? 0);
        kills.push({ id: victim.id, pid: victim.pid, at, inFlight, sampleAgeMs: sample ? at - sample.t : -1 });
        note(
          `SIGKILL ${victim.id} (pid ${victim.pid}): in flight ${inFlight} (sample ${
            sample ? at - sample.t : "-"
          } ms old), ` +
            `processed ${sample?.processed ?? "?"}, owned [${
              (sample?.owned as number[] | undefined)?.join(",") ?? ""
            }]; ` +
            `restart in ${Math.round(restartDelay)} ms`,
        );
        scheduleRestart(slot, restartDelay);
      }
    })();

    await Promise.all([producing, chaos]);
    timings.produceMs = Date.now() - produceStart;
    await producer.close();
    producer = undefined;
    note(`produced ${producedAcked} messages (${producerResends} resent batches) in ${timings.produceMs} ms`);
    while (pendingRestarts.size > 0) await Promise.all(pendingRestarts);
    chaosActive = false;

    // ---- graceful close of the chaos members, then a clean final consumer ----
    const closeT = Date.now();
    const live = [...processes.entries()].filter(([slot, child]) => slot !== 0 && child.alive).map(([, child]) =>
      child
    );
    for (const child of live) closes.push({ pid: child.pid, at: Date.now() });
    const closed = await Promise.all(live.map((child) => child.close(30_000)));
    timings.closeMs = Date.now() - closeT;
    note(
      `closed ${live.length} consumer processes gracefully in ${timings.closeMs} ms (${
        closed.filter(Boolean).length
      } exit 0)`,
    );
    live.forEach((child, i) => {
      if (closed[i]) return;
      closeFailures.push(exitOf(child, child.child.exitCode, child.child.signalCode));
      note(
        `${child.id} (pid ${child.pid}) did not close cleanly: exit ${
          child.child.exitCode ?? child.child.signalCode
        }; stderr: ${firstLines(child.stderr, 8)}`,
      );
    });

    const ends = await kafka.endOffsets(topic, config.partitions);
    const drainT = Date.now();
    const final = launch(0);
    await final.waitStarted(60_000);
    let committed: Committed[] = [];
    const deadline = Date.now() + config.finalDrainTimeoutMs;
    for (;;) {
      try {
        committed = await kafka.committed(groupId, topic, config.partitions);
        if (ends.every((end, partition) => committed[partition]?.offset === end)) break;
      } catch {
        // retried below
      }
      if (Date.now() > deadline) {
        note(
          `final consumer: committed ${committed.map((c) => c.offset).join(",")} != end ${
            ends.join(",")
          } after ${config.finalDrainTimeoutMs} ms`,
        );
        break;
      }
      await sleep(100);
    }
    closes.push({ pid: final.pid, at: Date.now() });
    const finalClosed = await final.close(30_000);
    timings.finalDrainMs = Date.now() - drainT;
    if (!finalClosed) closeFailures.push(exitOf(final, final.child.exitCode, final.child.signalCode));
    note(`final consumer ${final.id} drained and closed (exit 0: ${finalClosed}) in ${timings.finalDrainMs} ms`);

    // ---- collect ----
    sampling = false;
    await sampler;
    const collectT = Date.now();
    const endOffsets = await kafka.endOffsets(topic, config.partitions);
    const finalCommitted = await kafka.committed(groupId, topic, config.partitions);
    const inLog = endOffsets.reduce((sum, end) => sum + end, 0);
    const logRecords = await kafka.readAll(topic, inLog);
    const [dlqEnd] = await kafka.endOffsets(`${topic}.dlq`, 1);
    const dlq = await kafka.readAll(`${topic}.dlq`, dlqEnd ?? 0);
    const records = readRecords(recordsDir);
    const report = verify({
      log: logRecords,
      dlq,
      records,
      kills,
      closes,
      processSamples,
      samples,
      endOffsets,
      finalCommitted,
      poisonKey,
      commitIntervalMs: config.commitIntervalMs,
      sampleMs: config.sampleMs,
    });
    timings.collectMs = Date.now() - collectT;
    if (process.env.CHAOS_KEEP_RECORDS) {
      // For post-mortems: everything verify() saw besides the record files.
      writeFileSync(
        join(recordsDir, "run.json"),
        JSON.stringify({
          topic,
          groupId,
          kills,
          closes,
          processSamples,
          samples,
          endOffsets,
          finalCommitted,
          events,
          poison: report.poison,
          dlq: dlq.map(({ headers, ...rest }) => ({ ...rest, headers: Object.fromEntries(headers) })),
        }),
      );
    }
    timings.totalMs = Date.now() - t0;
    const { log: _log, ...printable } = config;
    return {
      config: printable,
      topic,
      groupId,
      producedAcked,
      producerResends,
      report,
      kills: kills.length,
      restarts,
      unexpectedExits,
      closeFailures,
      brokerRestarts,
      childErrors,
      events,
      timings,
    };
  } catch (error) {
    aborted = true;
    throw error;
  } finally {
    chaosActive = false;
    sampling = false;
    await producer?.close().catch(() => {});
    for (const child of all) child.kill();
    await Promise.all(all.map((child) => child.exited));
    await sampler.catch(() => {});
    await kafka.close().catch(() => {});
    if (!process.env.CHAOS_KEEP_RECORDS) rmSync(recordsDir, { recursive: true, force: true });
    else log(`records kept in ${recordsDir}`);
  }
}

function since(from: number | null, to: number | null): string {
  return from === null || to === null ? "?" : `${to - from} ms`;
}

function firstLines(text: string, count: number): string {
  return text.split("\n").filter((line) => line.trim()).slice(0, count).join(" ⏎ ");
}

function readRecords(dir: string): AttemptRecord[] {
  const records: AttemptRecord[] = [];
  for (const file of readdirSync(dir)) {
    if (!file.endsWith(".jsonl")) continue;
    for (const line of readFileSync(join(dir, file), "utf8").split("\n")) {
      if (!line) continue;
      try {
        records.push(JSON.parse(line) as AttemptRecord);
      } catch {
        // A torn last line cannot happen with one write(2) per record, but would only lose that record.
      }
    }
  }
  return records;
}

/** The printed summary of a run. */
export function summarise(result: ChaosResult): string {
  const { report } = result;
  const lines = [
    `chaos summary (seed ${result.config.seed}, ${result.config.processes} processes, ${result.config.partitions} partitions, topic ${result.topic})`,
    `  produced        ${result.producedAcked} acknowledged, ${report.inLog} in the log (${result.producerResends} resent batches)`,
    `  processed       ${report.processed} distinct offsets + poison; ${report.executions} successful executions`,
    `  lost            ${report.lost.length}${report.lost.length ? ` (${report.lost.slice(0, 10).join(" ")})` : ""}`,
    `  duplicated      ${report.duplicatedOffsets} offsets, ${report.extraExecutions} extra executions ` +
    `(${report.duplicatesFromKills} at kills, ${report.duplicatesFromHandovers} at graceful handovers)`,
    `  dup bound       kills: ${report.duplicateBound} = Σ (in flight at kill + completions in the commit window before it): ` +
    (report.kills.map((k) =>
      `${k.id} ${k.inFlight}+${k.commitAllowance} [${
        k.windowMs === null ? "no commit yet" : `${k.windowMs} ms`
      }] (dups ${k.duplicates})`
    ).join(", ") || "no kills"),
    `                  hand-overs: ${report.handoverBound} over ${report.handovers} partitions given up gracefully (in flight + completions on them in the window)`,
    `  order violations ${report.orderViolations.length} within one ownership (${report.ownerships} ownerships checked); ` +
    `${report.orderViolationsPerPid} per pid across re-assignments, ${report.crossOwnerOverlaps} same-key overlaps across processes at hand-overs (informational)`,
    `  in flight at kills ${report.kills.map((k) => k.inFlight).join(", ") || "-"}`,
    `  kills ${result.kills}, restarts ${result.restarts}, broker restarts ${result.brokerRestarts}, unexpected exits ${result.unexpectedExits.length}, ` +
    `graceful closes not exiting 0: ${result.closeFailures.length}${
      result.closeFailures.length
        ? ` (${result.closeFailures.map((f) => `${f.id} exit ${f.code ?? f.signal}`).join(", ")})`
        : ""
    }`,
    `  poison          ${
      report.poison ? `${report.poison.partition}@${report.poison.offset}` : "not found"
    }; dead letters ${report.dlq.records}` +
    `, the first written ${since(report.dlq.poisonTimestamp, report.dlq.firstTimestamp)} after the poison message; ` +
    `first commit past it seen ${
      since(report.dlq.firstTimestamp, report.dlq.firstPassingSample?.tRes ?? null)
    } after the dead letter` +
    `${
      report.dlq.firstPassingSample?.byMap ? " (via the offset map)" : ""
    }; ${report.dlq.samplesWhileDeadLettering} commit samples in between held; ` +
    `committed before the dead letter: ${report.dlq.committedBeforeDeadLetter ? "YES" : "no"}`,
    `  final committed = end offsets: ${
      report.finalCommittedEqualsEnd ? "yes" : "NO"
    }; committed offset moved backwards ${report.committedBackwards} times`,
    `  timings         ${
      Object.entries(result.timings).map(([name, ms]) => `${name} ${(ms / 1000).toFixed(1)}s`).join(", ")
    }`,
  ];
  if (result.childErrors.size > 0) {
    lines.push(`  consumer errors:`);
    for (const [message, count] of [...result.childErrors].sort((a, b) => b[1] - a[1]).slice(0, 12)) {
      lines.push(`    ${count}× ${message}`);
    }
  }
  if (report.orderViolations.length > 0) {
    lines.push(
      `  first order violations:`,
      ...report.orderViolations.slice(0, 10).map((v) => `    ${v}`),
    );
  }
  if (report.mismatchedKeys.length > 0) lines.push(`  key mismatches: ${report.mismatchedKeys.slice(0, 5).join("; ")}`);
  return lines.join("\n");
}
