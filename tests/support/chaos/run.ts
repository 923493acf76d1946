// The chaos run: consumer processes (tests/support/chaos/child.ts) in one group on one topic, a
// producer writing throughout, SIGKILLs and restarts of consumer processes at seeded random
// times, optionally faults of the cluster (broker stops/starts that keep the data; in the failover
// run, brokers of a 3-node cluster killed and restarted, see ./failover.ts); then a clean final
// consumer drains everything and tests/support/chaos/verify.ts checks what happened.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import type { MessageToProduce } from "@platformatic/kafka";
import { ChaosKafka, chaosProducer, type Committed } from "./kafka.ts";
import {
  type AttemptRecord,
  type CloseEvent,
  type CommitSample,
  type FaultWindow,
  type KillEvent,
  type PartitionSample,
  type ProcessSample,
  type ProducerAck,
  type StallReport,
  stalls,
  verify,
  type VerifyReport,
} from "./verify.ts";

/** What a cluster fault gets to work with. */
export interface FaultContext {
  topic: string;
  groupId: string;
  kafka: ChaosKafka;
  note(what: string): void;
}

/**
 * A fault of the cluster at a set time: the full run's broker restart, the failover run's broker
 * kills. Consumer kills keep away from it, and its effects are measured over its window.
 */
export interface ClusterFault {
  /** When it starts, in ms after production started. */
  at: number;
  /** It starts no sooner than this long after the previous fault ended (the cluster settles). */
  afterPreviousMs?: number;
  /** About how long it lasts (ms), to keep consumer kills away from it. */
  expectedMs: number;
  /** Does it; resolves once the cluster is whole again, with what happened when. */
  run(context: FaultContext): Promise<FaultWindow>;
}

export interface ChaosConfig {
  seed: number;
  brokers: string[];
  /** Port of the local broker (scripts/kafka/broker.sh), for broker restarts. */
  brokerPort: number;
  /** Replication factor of the topic and its dead-letter topic (default 1). */
  replicas?: number;
  /** Faults of the cluster besides the broker restarts (e.g. broker kills in a cluster). */
  faults?: ClusterFault[];
  /**
   * Before producing, wait (up to 30 s) until every partition is owned and every process owns one,
   * so the first fault hits a settled group rather than its first hand-overs.
   */
  waitForBalance?: boolean;
  /**
   * Keep producing at the same rate (beyond `messages`) until the last cluster fault has ended and
   * this much longer, so that every fault happens, and ends, under load however long it takes.
   */
  produceAfterFaultsMs?: number;
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
  /** Every cluster fault (broker restarts included), in order. */
  faults: FaultWindow[];
  /** How long fetching and committing stalled around each fault, from the consumers' metrics. */
  stalls: StallReport[];
  /** Longest time without an acknowledged send around each fault (the cluster's own stall), ms. */
  produceStallsMs: number[];
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

/** The consumer group protocol's heartbeat interval for the chaos group, where the broker allows it. */
const GROUP_HEARTBEAT_MS = 500;
/** Kafka's default `group.consumer.session.timeout.ms` (and minimum), plus slack. */
const BROKER_SESSION_TIMEOUT_MS = 50_000;

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

  /** `logFile`: where its whole stdout and stderr also go (CHAOS_KEEP_RECORDS), or undefined. */
  constructor(
    id: string,
    env: Record<string, string>,
    onLine: (process: ConsumerProcess, line: ChildLine) => void,
    logFile?: string,
  ) {
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
      if (logFile) appendFileSync(logFile, chunk);
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
      if (logFile) appendFileSync(logFile, chunk);
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
        partitions: (line.parts as PartitionSample[] | undefined) ?? [],
        held: (line.held as ProcessSample["held"]) ?? [],
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
    const logFile = process.env.CHAOS_KEEP_RECORDS ? join(recordsDir, `${id}.log`) : undefined;
    const child = new ConsumerProcess(id, childEnv(id), onLine, logFile);
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

  const faultWindows: FaultWindow[] = [];
  /** Every acknowledged send: when, its partition and its last offset. */
  const acks: ProducerAck[] = [];

  try {
    const replicas = config.replicas ?? 1;
    await kafka.createTopic(topic, config.partitions, replicas);
    // One partition, so the dead letters are read back in order (auto-creation would use the broker's default).
    await kafka.createTopic(`${topic}.dlq`, 1, replicas);
    note(`topic ${topic} (${config.partitions} partitions), group ${groupId}, records in ${recordsDir}`);
    // The consumer group protocol takes the session timeout from the group's configuration: a killed
    // member's partitions move on once it ends. A broker with higher minimums keeps them longer.
    let finalDrainTimeoutMs = config.finalDrainTimeoutMs;
    if (await kafka.groupTimeouts(groupId, config.sessionTimeoutMs, GROUP_HEARTBEAT_MS)) {
      note(`group session timeout ${config.sessionTimeoutMs} ms, heartbeats every ${GROUP_HEARTBEAT_MS} ms`);
    } else {
      finalDrainTimeoutMs += BROKER_SESSION_TIMEOUT_MS;
      note(
        `the broker refused a ${config.sessionTimeoutMs} ms group session timeout (its group.consumer.min.* ` +
          `settings): killed members keep their partitions for its own (45 s by default)`,
      );
    }

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
    if (config.waitForBalance) {
      const balanceT = Date.now();
      const owners = () =>
        [...processes.values()].map((child) => (child.lastSample?.owned as number[] | undefined) ?? []);
      while (Date.now() - balanceT < 30_000) {
        const owned = owners();
        if (owned.every((list) => list.length > 0) && new Set(owned.flat()).size === config.partitions) break;
        await sleep(100);
      }
      timings.balancedMs = Date.now() - balanceT;
      note(
        `group settled after ${timings.balancedMs} ms: owned ${
          owners().map((list) => `[${list.join(",")}]`).join(" ")
        }`,
      );
    }

    // ---- the schedule ----
    const brokerTimes = Array.from({ length: config.brokerRestarts }, (_, i) =>
      // Spread evenly inside the kill window, with a little jitter.
      (config.killFrom +
        ((i + 0.5 + (random() - 0.5) * 0.3) / config.brokerRestarts) * (config.killTo - config.killFrom)) *
      config.produceMs);
    const faults: ClusterFault[] = [
      ...brokerTimes.map((at) => brokerRestartFault(at, config.brokerPort, config.brokerDownMs)),
      ...(config.faults ?? []),
    ].sort((a, b) => a.at - b.at);
    // Kills keep away from cluster faults, so that a fault hits established members (not only
    // processes still joining) and its effects are not mixed up with a kill's.
    const nearFault = (at: number) => faults.some((f) => at > f.at - 5000 && at < f.at + f.expectedMs + 10_000);
    const killTimes = Array.from({ length: config.kills }, () => {
      let at = 0;
      for (let tries = 0; tries < 100; tries++) {
        at = (config.killFrom + random() * (config.killTo - config.killFrom)) * config.produceMs;
        if (!nearFault(at)) break;
      }
      return at;
    }).sort((a, b) => a - b);
    const poisonIndex = Math.floor(config.messages * (0.3 + random() * 0.2));
    const keys = Array.from(
      { length: config.messages },
      (_, i) => i === poisonIndex ? poisonKey : `k-${Math.floor(random() * config.keys)}`,
    );
    // Keys of messages beyond `messages` (produceAfterFaultsMs), from a generator of their own: the
    // schedule's draws happen while producing, and must not depend on how long faults take.
    const extraRandom = seededRandom(config.seed ^ 0x5bd1e995);
    const keyAt = (index: number) => keys[index] ??= `k-${Math.floor(extraRandom() * config.keys)}`;
    let faultsDone = config.produceAfterFaultsMs === undefined;

    // ---- producer ----
    producer = chaosProducer(config.brokers);
    let producedAcked = 0;
    let producerResends = 0;
    const produceStart = Date.now();
    const batchEveryMs = 50;
    const batches = Math.max(1, Math.round(config.produceMs / batchEveryMs));
    const perBatch = Math.ceil(config.messages / batches);
    const producing = (async () => {
      for (let sent = 0, batch = 0; (sent < config.messages || !faultsDone) && !aborted; batch++) {
        const due = produceStart + batch * batchEveryMs;
        if (Date.now() < due) await sleep(due - Date.now());
        const count = sent < config.messages ? Math.min(perBatch, config.messages - sent) : perBatch;
        // One send per partition: the client retries a send as one request to the leader of its
        // first partition, which fails for good once a leader change split its partitions.
        const byPartition = new Map<number, MessageToProduce<Buffer, Buffer, Buffer, Buffer>[]>();
        for (let j = 0; j < count; j++) {
          const index = sent + j;
          const key = keyAt(index);
          const partition = partitionOf(key, config.partitions);
          let messages = byPartition.get(partition);
          if (!messages) byPartition.set(partition, messages = []);
          messages.push({
            topic,
            partition,
            key: Buffer.from(key),
            value: Buffer.from(key === poisonKey ? "poison" : JSON.stringify({ seq: index })),
          });
        }
        await Promise.all([...byPartition].map(async ([partition, messages]) => {
          for (let attempt = 1;; attempt++) {
            try {
              const { offsets } = await producer!.send({ messages });
              const base = offsets?.find((o) => o.partition === partition)?.offset;
              acks.push({
                t: Date.now(),
                partition,
                offset: base === undefined ? -1 : Number(base) + messages.length - 1,
              });
              return;
            } catch (error) {
              producerResends++;
              if (attempt === 1) note(`producer: send failed (${String(error).slice(0, 160)}); retrying`);
              if (attempt > 600) throw error;
              await sleep(250);
            }
          }
        }));
        if (poisonIndex >= sent && poisonIndex < sent + count) {
          note(`produced the poison message (#${poisonIndex})`);
        }
        sent += count;
        producedAcked += count;
      }
    })();

    // ---- chaos ----
    const chaos = (async () => {
      const steps = [
        ...killTimes.map((at) => ({ at, fault: undefined })),
        ...faults.map((fault) => ({ at: fault.at, fault })),
      ].sort((a, b) => a.at - b.at);
      for (const step of steps) {
        const previousFault = faultWindows.at(-1)?.to ?? 0;
        const due = Math.max(produceStart + step.at, previousFault + (step.fault?.afterPreviousMs ?? 0));
        if (Date.now() < due) await sleep(due - Date.now());
        if (aborted) return;
        if (step.fault) {
          const window = await step.fault.run({ topic, groupId, kafka, note });
          faultWindows.push(window);
          if (window.name === BROKER_RESTART) brokerRestarts++;
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

    void chaos.then(async () => {
      await sleep(config.produceAfterFaultsMs ?? 0);
      faultsDone = true;
    }, () => {});
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
    const deadline = Date.now() + finalDrainTimeoutMs;
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
          } after ${finalDrainTimeoutMs} ms`,
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
    const stallReports = stalls(processSamples, faultWindows, acks);
    const ackTimes = acks.map((ack) => ack.t).sort((a, b) => a - b);
    const produceStallsMs = faultWindows.map((window) => longestGap(ackTimes, window.from, window.to));
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
          faults: faultWindows,
          acks,
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
      faults: faultWindows,
      stalls: stallReports,
      produceStallsMs,
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

const BROKER_RESTART = "broker restart";

/** The single test broker stopped (data kept) and started again after `downMs`. */
function brokerRestartFault(at: number, port: number, downMs: number): ClusterFault {
  return {
    at,
    expectedMs: downMs,
    async run({ note }) {
      note(`broker: stopping (data kept)`);
      const stopped = Date.now();
      note(await brokerRestart(port, "stop"));
      await sleep(Math.max(0, downMs - (Date.now() - stopped)));
      note("broker: starting");
      const starting = Date.now();
      note(await brokerRestart(port, "start"));
      note(`broker: back after ${Date.now() - stopped} ms down`);
      return {
        name: BROKER_RESTART,
        victim: 1,
        from: stopped,
        to: Date.now(),
        marks: { stopped, starting },
        partitions: [],
      };
    },
  };
}

/** The partition of a key: any fixed function keeps each key's messages in one partition, in order. */
function partitionOf(key: string, partitions: number): number {
  let hash = 0;
  for (let i = 0; i < key.length; i++) hash = (Math.imul(hash, 31) + key.charCodeAt(i)) >>> 0;
  return hash % partitions;
}

/** Longest time within [from, to] without a timestamp of `times` (sorted), counting the edges. */
function longestGap(times: readonly number[], from: number, to: number): number {
  let longest = 0;
  let previous = from;
  for (const t of times) {
    if (t < from) continue;
    if (t > to) break;
    longest = Math.max(longest, t - previous);
    previous = t;
  }
  return Math.max(longest, to - previous);
}

function since(from: number | null, to: number | null): string {
  return from === null || to === null ? "?" : `${to - from} ms`;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

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
    `${report.orderViolationsPerPid} per pid across re-assignments, ${report.crossOwnerOverlaps} same-key overlaps across processes at hand-overs`,
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
  result.faults.forEach((fault, i) => {
    const marks = Object.entries(fault.marks).map(([name, at]) => `${name} +${((at - fault.from) / 1000).toFixed(1)}s`);
    const stall = result.stalls[i]!;
    const led = stall.partitions.filter((p) => p.ledByVictim);
    lines.push(
      `  fault ${i + 1}       ${fault.name}, node ${fault.victim}: ${marks.join(", ")}, whole again +${
        ((fault.to - fault.from) / 1000).toFixed(1)
      }s`,
      `                  stalls in the consumers' metrics: fetch ${
        seconds(stall.ledFetchMs)
      } on the ${led.length} partitions it led [${
        led.map((p) => `p${p.partition} ${seconds(p.fetchMs)}`).join(" ")
      }], ${seconds(stall.otherFetchMs)} on the others; commit ${seconds(stall.commitMs)}`,
      `                  the cluster's part: no send acknowledged for ${
        seconds(result.produceStallsMs[i] ?? 0)
      }; the consumers' part: acknowledged → fetched within ${seconds(stall.ledDelayMs)} on its partitions, ${
        seconds(stall.otherDelayMs)
      } on the others`,
    );
  });
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
