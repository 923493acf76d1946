// Input topics for the benchmarks: produced once, then reused by every workload, run and runtime
// (the name says what is in it; a topic whose log end offsets do not add up is produced again).
import { Producer } from "@platformatic/kafka";
import { endOffsets, withAdmin } from "../../tests/support/kafka.ts";

export interface TopicSpec {
  name: string;
  partitions: number;
  messages: number;
  /** Keys are `k0`..`k<keys-1>`, round-robin over the messages. */
  keys: number;
  /** Every `(keys + 1)`-th message has the key `slow` instead (one more key): 0/false for none. */
  slowKey: boolean;
  /** Bytes of each value. */
  valueBytes: number;
}

export const SLOW_KEY = "slow";
/** First byte of the slow key: cheap to test in a handler ("k" = 0x6b for the others). */
export const SLOW_KEY_FIRST_BYTE = 0x73;

export function topicName(spec: Omit<TopicSpec, "name">): string {
  return `pyrallel-bench-p${spec.partitions}-k${spec.keys}${
    spec.slowKey ? "s" : ""
  }-n${spec.messages}-v${spec.valueBytes}`;
}

/** The key of message `index`. */
export function keyOf(spec: TopicSpec, index: number): string {
  if (!spec.slowKey) return `k${index % spec.keys}`;
  const slot = index % (spec.keys + 1);
  return slot === spec.keys ? SLOW_KEY : `k${slot}`;
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
        (admin) => admin.createTopics({ topics: [spec.name], partitions: spec.partitions, replicas: 1 }),
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
  const producer = new Producer({
    clientId: "pyrallel-bench-producer",
    bootstrapBrokers: brokers,
    // Idempotent: a batch retried while the new topic elects its leaders must not duplicate.
    idempotent: true,
  });
  const started = performance.now();
  const batch = 2000;
  const pad = "x".repeat(spec.valueBytes);
  let lastLog = started;
  try {
    for (let start = 0; start < spec.messages; start += batch) {
      const end = Math.min(spec.messages, start + batch);
      const messages = [];
      for (let i = start; i < end; i++) {
        const head = `{"i":${i},"p":"`;
        const value = head + pad.slice(0, Math.max(0, spec.valueBytes - head.length - 2)) + `"}`;
        messages.push({ topic: spec.name, key: Buffer.from(keyOf(spec, i)), value: Buffer.from(value) });
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
      if (performance.now() - lastLog > 2000) {
        lastLog = performance.now();
        log(`topic ${spec.name}: produced ${end.toLocaleString("en-US")}/${spec.messages.toLocaleString("en-US")}`);
      }
    }
  } finally {
    await producer.close();
  }
  log(
    `topic ${spec.name}: produced ${spec.messages.toLocaleString("en-US")} messages in ${
      ((performance.now() - started) / 1000).toFixed(1)
    } s`,
  );
}
