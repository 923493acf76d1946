// SASL and TLS against the real broker's secured listeners: consuming, committing and
// dead-lettering work through them, and wrong credentials or an untrusted certificate make
// start() fail at once with the option to fix (never with the secret in the message).
import assert from "node:assert/strict";
import { test } from "node:test";
import { createParallelConsumer, type KafkaOptions } from "../../mod.ts";
import {
  brokerCaPem,
  committedOffsets,
  createTopic,
  endOffsets,
  produce,
  SASL_BROKERS,
  SASL_USER,
  TLS_BROKERS,
  uniqueName,
  waitFor,
  withTimeout,
} from "../support/kafka.ts";
import { readTopic } from "../support/read-topic.ts";

const PARTITIONS = 2;
const MESSAGES = 100;
type Security = Pick<KafkaOptions, "bootstrapBrokers" | "sasl" | "tls">;

async function topicWithMessages(poisonSeq?: number): Promise<{ topic: string; ends: bigint[] }> {
  const topic = uniqueName("secure");
  await createTopic(topic, PARTITIONS);
  await produce(
    topic,
    Array.from(
      { length: MESSAGES },
      (_, seq) => ({ key: `k${seq % 10}`, value: seq === poisonSeq ? "poison" : `v${seq}` }),
    ),
  );
  return { topic, ends: await endOffsets(topic, PARTITIONS) };
}

/** Consumes the whole topic through `security`; returns what ran and the errors emitted. */
async function consumeAll(security: Security, topic: string, deadLetter: boolean) {
  const groupId = uniqueName("secure-group");
  let processed = 0;
  const consumer = createParallelConsumer({
    kafka: { ...security, groupId, topics: [topic] },
    retry: { maxRetries: 0 },
    ...(deadLetter ? { deadLetter: {} } : {}),
    handler: (message) => {
      if (new TextDecoder().decode(message.value!) === "poison") throw new Error("poison record");
      processed++;
    },
  });
  const errors: string[] = [];
  consumer.on("error", (error) => errors.push(error.message));
  await withTimeout("start()", consumer.start());
  await waitFor("every message handled", () => {
    const metrics = consumer.getMetrics();
    return processed + metrics.deadLetteredTotal === MESSAGES;
  });
  const deadLettered = consumer.getMetrics().deadLetteredTotal;
  await consumer.close();
  return { groupId, processed, deadLettered, errors };
}

for (const mechanism of ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] as const) {
  test(`SASL ${mechanism}: consumes and commits through the SASL listener`, async () => {
    const { topic, ends } = await topicWithMessages();
    const run = await consumeAll({ bootstrapBrokers: SASL_BROKERS, sasl: { mechanism, ...SASL_USER } }, topic, false);
    assert.deepEqual(run.errors, []);
    assert.equal(run.processed, MESSAGES);
    assert.deepEqual(await committedOffsets(run.groupId, topic, PARTITIONS), ends);
  });
}

test("TLS: consumes, commits and dead-letters through the TLS listener", async () => {
  const { topic, ends } = await topicWithMessages(42);
  const run = await consumeAll({ bootstrapBrokers: TLS_BROKERS, tls: { ca: brokerCaPem() } }, topic, true);
  assert.equal(run.processed, MESSAGES - 1);
  assert.equal(run.deadLettered, 1);
  assert.equal(run.errors.length, 1, `one error event, for the poison message: ${run.errors.join(" | ")}`);
  assert.match(run.errors[0]!, new RegExp(`^handler failed 1 time\\(s\\) for ${topic}\\[\\d\\] at offset \\d+$`));
  assert.deepEqual(await committedOffsets(run.groupId, topic, PARTITIONS), ends);
  const [letter] = await readTopic(`${topic}.dlq`, 1);
  assert.equal(letter!.value, "poison");
  assert.equal(letter!.headers.get("pyrallel.error.message"), "poison record");
});

test("wrong SASL password: start() fails at once, naming kafka.sasl and not the password", async () => {
  const password = "not-the-pyrallel-secret";
  const consumer = createParallelConsumer({
    kafka: {
      bootstrapBrokers: SASL_BROKERS,
      sasl: { mechanism: "SCRAM-SHA-256", username: SASL_USER.username, password },
      groupId: uniqueName("secure-group"),
      topics: [uniqueName("secure")],
    },
    handler: () => {},
  });
  const started = performance.now();
  const error = await withTimeout("start() to fail", consumer.start().then(() => undefined, (e: Error) => e));
  const seconds = (performance.now() - started) / 1000;
  assert.ok(error instanceof Error, "start() rejected");
  assert.match(error.message, /SASL authentication failed.*check kafka\.sasl/);
  assert.ok(!error.message.includes(password), "the password is not in the message");
  assert.ok(seconds < 5, `failed fast (${seconds.toFixed(1)} s), without the client's 15-20 s of retries`);
  await consumer.close();
});

test("untrusted TLS certificate: start() fails at once, naming kafka.tls.ca", async () => {
  const consumer = createParallelConsumer({
    kafka: {
      bootstrapBrokers: TLS_BROKERS,
      tls: true,
      groupId: uniqueName("secure-group"),
      topics: [uniqueName("secure")],
    },
    handler: () => {},
  });
  const started = performance.now();
  const error = await withTimeout("start() to fail", consumer.start().then(() => undefined, (e: Error) => e));
  const seconds = (performance.now() - started) / 1000;
  assert.ok(error instanceof Error, "start() rejected");
  assert.match(error.message, /certificate.*kafka\.tls\.ca/);
  assert.ok(seconds < 5, `failed fast (${seconds.toFixed(1)} s)`);
  await consumer.close();
});
