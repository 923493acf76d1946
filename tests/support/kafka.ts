// Helpers for integration tests against the real local broker (scripts/kafka/broker.sh).
import { Admin, Producer } from "@platformatic/kafka";
import { readFileSync } from "node:fs";
import { homedir } from "node:os";

const env = globalThis.process?.env ?? {};
const port = Number(env.PYRALLEL_KAFKA_PORT ?? 9092);
export const BROKERS: string[] = [`127.0.0.1:${port}`];

// The broker's secured listeners, as scripts/kafka/broker.sh sets them up.
/** SASL_PLAINTEXT listener (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512). */
export const SASL_BROKERS: string[] = [`127.0.0.1:${port + 2}`];
/** The user every SASL mechanism knows. */
export const SASL_USER = { username: "pyrallel", password: "pyrallel-secret" } as const;
/** TLS listener, with a self-signed certificate for 127.0.0.1. */
export const TLS_BROKERS: string[] = [`127.0.0.1:${port + 3}`];

/** Where scripts/kafka/broker.sh keeps the broker of `brokerPort` (its pid file, logs, certificates). */
export function brokerRunDir(brokerPort: number = port): string {
  const cache = env.PYRALLEL_KAFKA_CACHE ?? `${homedir()}/.cache/pyrallel-kafka`;
  return `${cache}/${brokerPort === 9092 ? "run" : `run-${brokerPort}`}`;
}

/** The TLS listener's certificate (PEM), which clients must trust. */
export function brokerCaPem(): string {
  return readFileSync(`${brokerRunDir()}/tls/ca.pem`, "utf8");
}

/** A name no other test run uses, so runs never see each other's data. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Runs `fn` with a short-lived admin client (also used by the benchmarks, with their brokers). */
export async function withAdmin<T>(fn: (admin: Admin) => Promise<T>, brokers: string[] = BROKERS): Promise<T> {
  const admin = new Admin({ clientId: "pyrallel-tests-admin", bootstrapBrokers: brokers });
  try {
    return await fn(admin);
  } finally {
    await admin.close();
  }
}

export function createTopic(topic: string, partitions: number): Promise<void> {
  return withAdmin(async (admin) => {
    await admin.createTopics({ topics: [topic], partitions, replicas: 1 });
  });
}

export interface TestRecord {
  key: string | null;
  value: string;
  partition?: number;
}

/** Produces records in order, in batches; waits for every acknowledgement. */
export async function produce(topic: string, records: readonly TestRecord[]): Promise<void> {
  // Idempotent: a retried batch (e.g. while a new topic elects its leaders) must not duplicate records.
  const producer = new Producer({ clientId: "pyrallel-tests-producer", bootstrapBrokers: BROKERS, idempotent: true });
  try {
    for (let start = 0; start < records.length; start += 500) {
      await producer.send({
        messages: records.slice(start, start + 500).map((record) => ({
          topic,
          ...(record.key === null ? {} : { key: Buffer.from(record.key) }),
          value: Buffer.from(record.value),
          ...(record.partition === undefined ? {} : { partition: record.partition }),
        })),
      });
    }
  } finally {
    await producer.close();
  }
}

/** Log end offset (high watermark) of each partition. */
export function endOffsets(topic: string, partitions: number, brokers: string[] = BROKERS): Promise<bigint[]> {
  return withAdmin(async (admin) => {
    const [listed] = await admin.listOffsets({
      topics: [{
        name: topic,
        partitions: Array.from({ length: partitions }, (_, partitionIndex) => ({ partitionIndex, timestamp: -1n })),
      }],
    });
    const offsets = new Array<bigint>(partitions).fill(-1n);
    for (const { partitionIndex, offset } of listed?.partitions ?? []) offsets[partitionIndex] = offset;
    return offsets;
  }, brokers);
}

/** Committed offset of each partition for a group; -1 where none. */
export function committedOffsets(groupId: string, topic: string, partitions: number): Promise<bigint[]> {
  return withAdmin(async (admin) => {
    const [group] = await admin.listConsumerGroupOffsets({ groups: [groupId] });
    const offsets = new Array<bigint>(partitions).fill(-1n);
    for (const t of group?.topics ?? []) {
      if (t.name !== topic) continue;
      for (const p of t.partitions) offsets[p.partitionIndex] = p.committedOffset;
    }
    return offsets;
  });
}

/** Polls `condition` until it holds, or fails with `what` after `timeoutMs`. */
export async function waitFor(what: string, condition: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** What a group committed for one partition: the offset (the next to read; -1 when none) and its metadata. */
export interface CommittedPartition {
  partition: number;
  offset: bigint;
  metadata: string | null;
}

/**
 * Committed offset and metadata (the consumer's offset map) of each partition for a group, as the
 * broker reports them (OffsetFetch through the admin client); offset -1 and metadata null where none.
 */
export function committedWithMetadata(
  groupId: string,
  topic: string,
  partitions: number,
): Promise<CommittedPartition[]> {
  return withAdmin(async (admin) => {
    const [group] = await admin.listConsumerGroupOffsets({ groups: [groupId] });
    const result: CommittedPartition[] = Array.from({ length: partitions }, (_, partition) => ({
      partition,
      offset: -1n,
      metadata: null,
    }));
    for (const t of group?.topics ?? []) {
      if (t.name !== topic) continue;
      for (const p of t.partitions) {
        result[p.partitionIndex] = {
          partition: p.partitionIndex,
          offset: p.committedOffset,
          metadata: p.metadata ?? null,
        };
      }
    }
    return result;
  });
}

/** A producer kept open across several sends (e.g. to write while consumers join and leave). */
export interface TestProducer {
  /** Sends the records in one request; resolves once acknowledged. */
  send(topic: string, records: readonly TestRecord[]): Promise<void>;
  close(): Promise<void>;
}

export function openProducer(): TestProducer {
  const producer = new Producer({ clientId: "pyrallel-tests-producer", bootstrapBrokers: BROKERS, idempotent: true });
  return {
    async send(topic, records) {
      await producer.send({
        messages: records.map((record) => ({
          topic,
          ...(record.key === null ? {} : { key: Buffer.from(record.key) }),
          value: Buffer.from(record.value),
          ...(record.partition === undefined ? {} : { partition: record.partition }),
        })),
      });
    },
    close: () => producer.close(),
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Like `waitFor`, for a condition that needs the broker: polls every `intervalMs`. */
export async function waitForAsync(
  what: string,
  condition: () => Promise<boolean>,
  timeoutMs = 60_000,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Rejects with `what` if `promise` does not settle within `timeoutMs` (a hang becomes a clear failure). */
export async function withTimeout<T>(what: string, promise: Promise<T>, timeoutMs = 30_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms: ${what}`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
