// Input topics for the benchmarks: produced once, then reused by every workload, run and runtime
// (the name says what is in it; a topic whose log end offsets do not add up is produced again).
// Used by the harness (run.ts) and the shape matrix (../matrix).
import { Producer } from "@platformatic/kafka";
import { endOffsets, withAdmin } from "../../tests/support/kafka.ts";

export interface TopicSpec {
  name: string;
  partitions: number;
  messages: number;
  /** Keys are `k0`..`k<keys-1>`, round-robin over the messages (or drawn, see `keyDistribution`). */
  keys: number;
  /** Every `(keys + 1)`-th message has the key `slow` instead (one more key): 0/false for none. */
  slowKey: boolean;
  /** Bytes of each value. */
  valueBytes: number;
  /**
   * "uniform" (default): round-robin over the keys, every key the same share. "zipf": key `k<r-1>`
   * drawn with probability ∝ 1/r (Zipf, s = 1; `k0` is the hottest) from a seeded generator, so
   * every run and runtime produces the same sequence ({@link keyIndices}).
   */
  keyDistribution?: "uniform" | "zipf";
  /**
   * Records per producer `send()` (default 2000). One send becomes one record batch per partition
   * on the broker, so this sets the record batches a consumer fetches (1: a batch per record).
   */
  sendBatch?: number;
  /** The value of message `index` (default: JSON `{"i":index,"p":"xx…"}` of `valueBytes` bytes). */
  value?: (index: number) => Uint8Array;
  /** Headers on every record (default: none). */
  headers?: ReadonlyMap<string, Uint8Array>;
}

export const SLOW_KEY = "slow";
/** First byte of the slow key: cheap to test in a handler ("k" = 0x6b for the others). */
export const SLOW_KEY_FIRST_BYTE = 0x73;

/**
 * e.g. `pyrallel-bench-p4-k100-n200000-v100` (uniform keys, the default send size) or
 * `pyrallel-bench-p4-z1000-n20000-v100-b500` (Zipf keys, 500 records per send).
 */
export function topicName(spec: Omit<TopicSpec, "name">): string {
  const keys = `${spec.keyDistribution === "zipf" ? "z" : "k"}${spec.keys}${spec.slowKey ? "s" : ""}`;
  const batch = spec.sendBatch === undefined ? "" : `-b${spec.sendBatch}`;
  return `pyrallel-bench-p${spec.partitions}-${keys}-n${spec.messages}-v${spec.valueBytes}${batch}`;
}

/**
 * Bytes per record on the wire, about: the value, a short key and the record's framing (14), and
 * the record batch's header (61) shared by the records of one producer send.
 */
export function recordWireBytes(spec: Pick<TopicSpec, "valueBytes" | "sendBatch">): number {
  return spec.valueBytes + 14 + 61 / (spec.sendBatch ?? 2000);
}

/** The key of message `index`. */
export function keyOf(spec: TopicSpec, index: number): string {
  if (spec.keyDistribution === "zipf") return `k${keyIndices(spec)[index]}`;
  if (!spec.slowKey) return `k${index % spec.keys}`;
  const slot = index % (spec.keys + 1);
  return slot === spec.keys ? SLOW_KEY : `k${slot}`;
}

const zipfCache = new Map<string, Uint32Array>();

/**
 * Key number of every message of a Zipf topic (s = 1): `k<i>` has probability (1/(i+1)) / H(keys).
 * Drawn by inverse CDF from mulberry32 with a fixed seed: the same sequence everywhere.
 */
export function keyIndices(spec: TopicSpec): Uint32Array {
  const cached = zipfCache.get(spec.name);
  if (cached) return cached;
  const cdf = new Float64Array(spec.keys);
  let sum = 0;
  for (let r = 1; r <= spec.keys; r++) cdf[r - 1] = sum += 1 / r;
  for (let i = 0; i < spec.keys; i++) cdf[i]! /= sum;
  let seed = 0x12;
  const random = () => {
    // mulberry32
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const indices = new Uint32Array(spec.messages);
  for (let m = 0; m < spec.messages; m++) {
    const u = random();
    let lo = 0;
    let hi = spec.keys - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    indices[m] = lo;
  }
  zipfCache.set(spec.name, indices);
  return indices;
}

/**
 * Share of the topic's messages that carry its most frequent key (1/keys for uniform keys; for
 * Zipf, counted over the topic's actual sequence). Under key ordering that key's messages run one
 * at a time, so reading the whole topic takes at least `share · messages · handler time`.
 */
export function hotKeyShare(spec: TopicSpec): { key: string; share: number } {
  const counts = new Map<string, number>();
  for (let i = 0; i < spec.messages; i++) {
    const key = keyOf(spec, i);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  let best = { key: "", count: 0 };
  for (const [key, count] of counts) if (count > best.count) best = { key, count };
  return { key: best.key, share: best.count / spec.messages };
}

/** How many messages carry the slow key. */
export function slowCount(spec: TopicSpec): number {
  return spec.slowKey ? Math.floor((spec.messages - spec.keys - 1) / (spec.keys + 1)) + 1 : 0;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Makes sure the topic exists with exactly `spec.messages` messages; produces them if not.
 * Returns the messages per partition.
 */
export async function ensureTopic(
  brokers: string[],
  spec: TopicSpec,
  log: (line: string) => void,
): Promise<number[]> {
  const exists = await withAdmin(async (admin) => (await admin.listTopics()).includes(spec.name), brokers);
  if (exists) {
    const ends = await endOffsets(spec.name, spec.partitions, brokers);
    const total = ends.reduce((sum, end) => sum + Number(end), 0);
    if (total === spec.messages) {
      log(`topic ${spec.name}: reused (${total.toLocaleString("en-US")} messages)`);
      return ends.map(Number);
    }
    log(`topic ${spec.name}: has ${total} messages, not ${spec.messages}: producing it again`);
    await withAdmin((admin) => admin.deleteTopics({ topics: [spec.name] }), brokers);
  }
  for (let attempt = 1;; attempt++) {
    try {
      await withAdmin(
        (admin) =>
          admin.createTopics({
            topics: [spec.name],
            partitions: spec.partitions,
            replicas: 1,
            // A send of 5,000 records of 10 KB is one 50 MB record batch per partition: above the
            // broker's 1 MB default. Only topics that state their send size get the larger limit.
            ...(spec.sendBatch === undefined ? {} : { configs: [{ name: "max.message.bytes", value: "67108864" }] }),
          }),
        brokers,
      );
      break;
    } catch (error) {
      // Right after a delete the broker may still report the topic: wait for it to go away.
      if (attempt >= 30) throw error;
      await sleep(500);
    }
  }
  await produce(brokers, spec, log);
  const ends = await endOffsets(spec.name, spec.partitions, brokers);
  const total = ends.reduce((sum, end) => sum + Number(end), 0);
  if (total !== spec.messages) {
    throw new Error(`topic ${spec.name}: produced ${total} messages, expected ${spec.messages}`);
  }
  return ends.map(Number);
}

async function produce(brokers: string[], spec: TopicSpec, log: (line: string) => void): Promise<void> {
  const batch = spec.sendBatch ?? 2000;
  // Sends of a few records, one at a time, would take minutes (one round trip each): those are
  // pipelined, several sends in flight, without idempotence (which allows only one). A duplicate
  // from a retry then shows as a wrong count, and the topic is produced again on the next run.
  const pipelined = batch < 100;
  const producer = new Producer({
    clientId: "pyrallel-bench-producer",
    bootstrapBrokers: brokers,
    // Idempotent: a batch retried while the new topic elects its leaders must not duplicate.
    ...(pipelined ? { maxInflights: 16 } : { idempotent: true }),
  });
  const started = performance.now();
  const pad = "x".repeat(spec.valueBytes);
  const valueOf = spec.value ?? ((i: number) => {
    const head = `{"i":${i},"p":"`;
    return Buffer.from(head + pad.slice(0, Math.max(0, spec.valueBytes - head.length - 2)) + `"}`);
  });
  // (Header names are bytes too: the client's default serialisers take Buffers only.)
  const headers = spec.headers &&
    new Map([...spec.headers].map(([name, value]) => [Buffer.from(name), Buffer.from(value)]));
  let lastLog = started;
  let next = 0;
  let produced = 0;
  const sendNext = async () => {
    while (next < spec.messages) {
      const start = next;
      const end = Math.min(spec.messages, start + batch);
      next = end;
      const messages = [];
      for (let i = start; i < end; i++) {
        const key = Buffer.from(keyOf(spec, i));
        messages.push({ topic: spec.name, key, value: Buffer.from(valueOf(i)), ...(headers ? { headers } : {}) });
      }
      for (let attempt = 1;; attempt++) {
        try {
          await producer.send({ messages });
          break;
        } catch (error) {
          if (attempt >= 10) throw error;
          await sleep(300 * attempt);
        }
      }
      produced += end - start;
      if (performance.now() - lastLog > 2000) {
        lastLog = performance.now();
        log(
          `topic ${spec.name}: produced ${produced.toLocaleString("en-US")}/${spec.messages.toLocaleString("en-US")}`,
        );
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: pipelined ? 64 : 1 }, sendNext));
  } finally {
    await producer.close();
  }
  log(
    `topic ${spec.name}: produced ${spec.messages.toLocaleString("en-US")} messages in ${
      ((performance.now() - started) / 1000).toFixed(1)
    } s`,
  );
}
