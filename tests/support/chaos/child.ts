// A consumer process of the chaos suite (tests/chaos/chaos.test.ts): one member of the group,
// started, SIGKILLed and restarted by tests/support/chaos/run.ts on the test's own runtime.
//
// What it processed goes to its records file (CHAOS_RECORDS), one JSON line per finished attempt,
// appended with a synchronous write(2) before the handler returns: a SIGKILL can lose only the
// attempts still running, never a line of a completed one.
//   {"c":"c1.2","pid":123,"p":3,"o":17,"k":"k-12","a":1,"ep":2,"s":40,"ts":...,"e":41,"te":...,"ok":true}
//   c: consumer id, p/o: partition/offset, k: key, a: attempt, ep: ownership epoch (see below),
//   s/e: start/end sequence numbers of this process (one counter for both), ts/te: Date.now(),
//   ok: false for a failed attempt (the poison message, or an attempt given up after an abort).
//
// Ownership epoch: the handler's `signal` belongs to the partition's state for one assignment (it
// is aborted when that assignment is revoked); each distinct signal seen gets a number. "Within
// one ownership" means same pid and same epoch.
//
// On stdout, one JSON object per line (written synchronously):
//   {"event":"started","t":...,"pid":...}
//   {"event":"m","t":...,"inFlight":N,"processed":N,"commits":N,"deadLettered":N,"paused":"...","owned":[...],
//    "parts":[[partition,lastFetchedOffset,committedOffset],...],"held":[[partition,pauseReason,buffered,inFlight],...]}
//        every CHAOS_SAMPLE_MS (200): getMetrics().totalInFlight and friends (offsets -1 while null);
//        `held`: the partitions paused, for post-mortems of a stall (CHAOS_KEEP_RECORDS keeps the logs)
//   {"event":"error","t":...,"message":"..."}     every `error` event of the consumer
//   {"event":"fatal","t":...}                      the consumer stopped itself (failed client)
//   {"event":"closed","t":...,"ok":true|false}     after close(); the process then exits
// stdin: the line "close" (or end of input) closes the consumer gracefully and exits.
import { openSync, writeSync } from "node:fs";
import process from "node:process";
import { createParallelConsumer } from "../../../mod.ts";

const env = process.env;
const required = (name: string): string => {
  const value = env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const id = required("CHAOS_ID");
const topic = required("CHAOS_TOPIC");
const groupId = required("CHAOS_GROUP");
const brokers = required("CHAOS_BROKERS").split(",");
const recordsFile = required("CHAOS_RECORDS");
const poisonKey = env.CHAOS_POISON_KEY ?? "poison";
const minDelayMs = Number(env.CHAOS_MIN_DELAY_MS ?? 1);
const maxDelayMs = Number(env.CHAOS_MAX_DELAY_MS ?? 8);
const sampleMs = Number(env.CHAOS_SAMPLE_MS ?? 200);
// A share of slow messages holds its key and its partition's commit back for a while: gaps,
// offset maps in the commits and queued work behind slow keys, i.e. more at stake at a kill.
const slowShare = Number(env.CHAOS_SLOW_SHARE ?? 0);
const slowDelayMs = Number(env.CHAOS_SLOW_DELAY_MS ?? 300);
const pid = process.pid;

const records = openSync(recordsFile, "a");
const decoder = new TextDecoder();
const epochs = new WeakMap<AbortSignal, number>();
let epochCount = 0;
let seq = 0;

function report(event: Record<string, unknown>): void {
  writeSync(1, `${JSON.stringify({ ...event, t: Date.now() })}\n`);
}

function epochOf(signal: AbortSignal): number {
  let epoch = epochs.get(signal);
  if (epoch === undefined) epochs.set(signal, epoch = ++epochCount);
  return epoch;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const consumer = createParallelConsumer({
  kafka: {
    bootstrapBrokers: brokers,
    groupId,
    topics: [topic],
    clientId: `chaos-${id}`,
    // CHAOS_GROUP_PROTOCOL=classic runs the eager protocol, for comparison (default: the consumer's).
    ...(env.CHAOS_GROUP_PROTOCOL ? { groupProtocol: env.CHAOS_GROUP_PROTOCOL as "consumer" | "classic" } : {}),
    // Killed members do not leave the group: a short session hands their partitions over quickly
    // (classic protocol; under the consumer protocol the group's configuration sets it, see run.ts).
    sessionTimeoutMs: Number(env.CHAOS_SESSION_TIMEOUT_MS ?? 3000),
    heartbeatIntervalMs: Number(env.CHAOS_HEARTBEAT_MS ?? 500),
    rebalanceTimeoutMs: Number(env.CHAOS_REBALANCE_TIMEOUT_MS ?? 5000),
  },
  ordering: "key",
  maxInFlight: Number(env.CHAOS_MAX_IN_FLIGHT ?? 500),
  engine: { kind: "async", concurrency: Number(env.CHAOS_CONCURRENCY ?? 64) },
  retry: { maxRetries: 2, initialBackoffMs: 20, maxBackoffMs: 200 },
  deadLetter: {},
  commitIntervalMs: Number(env.CHAOS_COMMIT_INTERVAL_MS ?? 1000),
  drainTimeoutMs: Number(env.CHAOS_DRAIN_TIMEOUT_MS ?? 10_000),
  maxRevokeGraceMs: Number(env.CHAOS_REVOKE_GRACE_MS ?? 5000),
  logger: { warn: (message: string) => report({ event: "warn", message }) },
  handler: async (message, { signal, attempt }) => {
    const s = ++seq;
    const ts = Date.now();
    const key = message.key === null ? null : decoder.decode(message.key);
    const line = {
      c: id,
      pid,
      p: message.partition,
      o: Number(message.offset),
      k: key,
      a: attempt,
      ep: epochOf(signal),
      s,
      ts,
    };
    const slow = Math.random() < slowShare;
    await sleep(slow ? slowDelayMs * (0.5 + Math.random()) : minDelayMs + Math.random() * (maxDelayMs - minDelayMs));
    if (key === poisonKey || signal.aborted) {
      writeSync(records, `${JSON.stringify({ ...line, e: ++seq, te: Date.now(), ok: false })}\n`);
      throw key === poisonKey ? new Error(`poison message at ${message.partition}@${message.offset}`) : signal.reason;
    }
    writeSync(records, `${JSON.stringify({ ...line, e: ++seq, te: Date.now(), ok: true })}\n`);
  },
});

consumer.on("error", (error) => {
  const cause = (error as { cause?: unknown }).cause;
  report({ event: "error", message: `${error.name}: ${error.message}${cause ? ` (cause: ${String(cause)})` : ""}` });
});

let closing: Promise<void> | undefined;
function closeAndExit(reason: string, code = 0): Promise<void> {
  closing ??= (async () => {
    let ok = true;
    try {
      await consumer.close();
    } catch (error) {
      ok = false;
      report({ event: "error", message: `close (${reason}): ${String(error)}` });
    }
    report({ event: "closed", ok, reason, epochs: epochCount });
    process.exit(code);
  })();
  return closing;
}

let stdinBuffer = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk: string) => {
  stdinBuffer += chunk;
  if (stdinBuffer.split("\n").some((line) => line.trim() === "close")) void closeAndExit("asked");
});
// The test process is gone: do not linger as an orphan in the group.
process.stdin.on("end", () => void closeAndExit("stdin closed"));

try {
  await consumer.start();
} catch (error) {
  // close() while start() was still joining makes start() fail: that is the asked-for close.
  if (closing) await closing;
  report({ event: "error", message: `start: ${String(error)}` });
  process.exit(2);
}
const g = globalThis as { Deno?: unknown; Bun?: unknown };
report({ event: "started", pid, runtime: g.Deno ? "deno" : g.Bun ? "bun" : `node ${process.version}` });

const offset = (value: bigint | null) => value === null ? -1 : Number(value);
setInterval(() => {
  const m = consumer.getMetrics();
  report({
    event: "m",
    inFlight: m.totalInFlight,
    processed: m.processedTotal,
    commits: m.commitsTotal,
    commitFailures: m.commitFailuresTotal,
    deadLettered: m.deadLetteredTotal,
    paused: m.pauseReason,
    owned: m.partitions.map((partition) => partition.partition),
    parts: m.partitions.map((p) => [p.partition, offset(p.lastFetchedOffset), offset(p.committedOffset)]),
    held: m.partitions.filter((p) => p.pauseReason !== null).map((p) => [
      p.partition,
      p.pauseReason,
      p.bufferedCount,
      p.inFlight,
    ]),
  });
  if (m.pauseReason === "failed" && !closing) {
    report({ event: "fatal" });
    void closeAndExit("failed", 3);
  }
}, sampleMs);
