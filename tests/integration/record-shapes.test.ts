// Every legal record shape through the public API, on both engines and into the dead-letter topic:
// null and empty keys and values, headers without a value, a 1 MB value.
import assert from "node:assert/strict";
import { test } from "node:test";
import { compressionsAlgorithms, Producer } from "@platformatic/kafka";
import { type ConsumerMessage, createParallelConsumer, type EngineOptions } from "../../mod.ts";
import {
  BROKERS,
  committedOffsets,
  createTopic,
  endOffsets,
  uniqueName,
  waitFor,
  withAdmin,
} from "../support/kafka.ts";
import { readTopic } from "../support/read-topic.ts";
import { bytesOf, failsOn, mismatch, shapeOf } from "../support/record-shapes.ts";

const RECORDS = 200;
const FAILING = Array.from({ length: RECORDS }, (_, seq) => seq).filter((seq) =>
  shapeOf(seq).headers.some(([name]) => name === "fail")
);

async function writeShapes(topic: string): Promise<void> {
  const producer = new Producer({ clientId: "pyrallel-tests-shapes", bootstrapBrokers: BROKERS, idempotent: true });
  try {
    for (let seq = 0; seq < RECORDS; seq++) {
      const { key, value, headers } = bytesOf(shapeOf(seq));
      await producer.send({
        messages: [{
          topic,
          partition: seq % 2,
          ...(key === null ? {} : { key: Buffer.from(key) }),
          ...(value === null ? {} : { value: Buffer.from(value) }),
          // The client writes a missing header value as null.
          headers: new Map(
            headers.map(([name, v]) => [Buffer.from(name), v === null ? undefined : Buffer.from(v)]),
          ) as Map<Buffer, Buffer>,
        }],
      });
    }
  } finally {
    await producer.close();
  }
}

const engines: [string, EngineOptions | undefined][] = [
  ["async", undefined],
  ["worker", { kind: "worker", workers: 2, module: new URL("../support/workers/shapes-worker.ts", import.meta.url) }],
];

for (const [name, engine] of engines) {
  // Defect 6: a null header value crashed the worker engine (it never committed) and every dead letter.
  test(`${name} engine: records of every legal shape arrive intact, the failing ones are dead-lettered with their headers`, async () => {
    const topic = uniqueName(`shapes-${name}`);
    const groupId = uniqueName("group");
    await createTopic(topic, 2);
    await createTopic(`${topic}.dlq`, 1);
    await writeShapes(topic);
    const ends = await endOffsets(topic, 2);
    const mismatches: string[] = [];
    const consumer = createParallelConsumer({
      kafka: { bootstrapBrokers: BROKERS, groupId, topics: [topic], fetchMaxBytesPerPartition: 2 * 1024 * 1024 },
      commitIntervalMs: 100,
      retry: { maxRetries: 0 },
      deadLetter: {},
      ...(engine ? { engine } : {
        handler: (message: ConsumerMessage) => {
          const problem = mismatch(message);
          if (problem) mismatches.push(problem);
          if (failsOn(message)) throw new Error("marked to fail");
        },
      }),
    });
    const errors: Error[] = [];
    consumer.on("error", (error) => errors.push(error));
    await consumer.start();
    try {
      await waitFor("every partition committed to its end", () =>
        consumer.getMetrics().partitions.length === 2 &&
        consumer.getMetrics().partitions.every((p) => p.committedOffset === ends[p.partition]), 60_000);
    } finally {
      await consumer.close();
    }
    assert.deepEqual(mismatches, []);
    const causes = errors.map((error) => String((error.cause as Error | undefined)?.message ?? error.message));
    assert.deepEqual(causes.filter((cause) => cause !== "marked to fail"), [], "only the marked records failed");
    assert.equal(consumer.getMetrics().deadLetteredTotal, FAILING.length);
    assert.deepEqual(await committedOffsets(groupId, topic, 2), ends);

    const letters = await readTopic(`${topic}.dlq`, FAILING.length);
    assert.deepEqual(letters.map((letter) => Number(letter.headers.get("seq"))).sort((a, b) => a - b), FAILING);
    for (const letter of letters) {
      const seq = Number(letter.headers.get("seq"));
      const expected = shapeOf(seq);
      assert.equal(letter.key, expected.key === "" ? null : expected.key, `seq ${seq} key`);
      // The message's own headers as they came, in order, the repeated name twice.
      const own = letter.headerList.filter(([name]) => !name.startsWith("pyrallel."));
      assert.deepEqual(own.map(([name]) => name), expected.headers.map(([name]) => name), `seq ${seq} header names`);
      own.forEach(([header, value], i) => {
        const wanted = expected.headers[i]![1];
        assert.equal(value, wanted === "" ? value : wanted, `seq ${seq}: header ${i} (${header})`);
      });
    }
  });
}

// Record batches are decoded by our own reader (src/adapters/platformatic/record-batches.ts),
// decompressed with the client's codecs: every codec a producer may use, several records a batch.
test("compressed batches of every codec arrive intact, in order", async () => {
  const codecs = (["gzip", "snappy", "lz4", "zstd"] as const).filter((codec) =>
    compressionsAlgorithms[codec].available
  );
  const topic = uniqueName("codecs");
  const groupId = uniqueName("group");
  await createTopic(topic, 1);
  const producer = new Producer({ clientId: "pyrallel-tests-codecs", bootstrapBrokers: BROKERS });
  const perCodec = 40;
  try {
    for (const [c, compression] of codecs.entries()) {
      const messages = Array.from({ length: perCodec }, (_, i) => {
        const { key, value, headers } = bytesOf(shapeOf(c * perCodec + i));
        return {
          topic,
          partition: 0,
          ...(key === null ? {} : { key: Buffer.from(key) }),
          ...(value === null ? {} : { value: Buffer.from(value) }),
          headers: new Map(
            headers.map(([name, v]) => [Buffer.from(name), v === null ? undefined : Buffer.from(v)]),
          ) as Map<Buffer, Buffer>,
        };
      });
      await producer.send({ messages, compression });
    }
  } finally {
    await producer.close();
  }
  const seen: number[] = [];
  const mismatches: string[] = [];
  const consumer = createParallelConsumer({
    kafka: { bootstrapBrokers: BROKERS, groupId, topics: [topic] },
    ordering: "partition",
    handler: (message: ConsumerMessage) => {
      const problem = mismatch(message);
      if (problem) mismatches.push(problem);
      seen.push(Number(message.offset));
    },
  });
  await consumer.start();
  try {
    await waitFor("every record handled", () => seen.length >= codecs.length * perCodec, 30_000);
  } finally {
    await consumer.close();
  }
  assert.ok(codecs.length >= 3, `codecs here: ${codecs.join(", ")}`);
  assert.deepEqual(mismatches, []);
  assert.deepEqual(seen, Array.from({ length: codecs.length * perCodec }, (_, i) => i));
});

// A topic with message.timestamp.type=LogAppendTime: the broker stamps each batch with its append
// time (the max timestamp and a bit of the attributes) and leaves the producer's record deltas as
// they were. Handlers were given the producer's times (1000, 5000) instead of the broker's. (The
// timestamp is read on the consumer's thread: a worker's messages carry the same one.)
test("on a LogAppendTime topic the timestamp is the broker's append time, not the producer's", async () => {
  const topic = uniqueName("append-time");
  const groupId = uniqueName("group");
  await withAdmin((admin) =>
    admin.createTopics({
      topics: [topic],
      partitions: 1,
      replicas: 1,
      configs: [{ name: "message.timestamp.type", value: "LogAppendTime" }],
    })
  );
  const before = Date.now();
  const producer = new Producer({ clientId: "pyrallel-tests-append-time", bootstrapBrokers: BROKERS });
  try {
    await producer.send({
      messages: [1000n, 5000n, 9000n].map((timestamp) => ({ topic, partition: 0, value: Buffer.from("v"), timestamp })),
    });
  } finally {
    await producer.close();
  }
  const after = Date.now();
  const timestamps: number[] = [];
  const consumer = createParallelConsumer({
    kafka: { bootstrapBrokers: BROKERS, groupId, topics: [topic] },
    handler: (message: ConsumerMessage) => void timestamps.push(message.timestamp),
  });
  await consumer.start();
  try {
    await waitFor("every record handled", () => timestamps.length === 3, 30_000);
  } finally {
    await consumer.close();
  }
  // One batch, one append time (the broker's clock is this machine's).
  assert.equal(new Set(timestamps).size, 1, `one append time: ${timestamps}`);
  assert.ok(timestamps[0]! >= before - 1000 && timestamps[0]! <= after + 1000, `${timestamps[0]} within the send`);
});
