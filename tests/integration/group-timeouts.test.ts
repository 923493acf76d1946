// Group timeouts that the Kafka client refuses must be refused by createParallelConsumer (a
// ConfigError naming the fields), not by start() with a client error once the consumer runs.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, createParallelConsumer, type KafkaOptions } from "../../mod.ts";
import { BROKERS, createTopic, uniqueName } from "../support/kafka.ts";

const cases: [string, Partial<KafkaOptions>][] = [
  // The client needs rebalanceTimeout >= sessionTimeout (the default rebalanceTimeoutMs is 60000).
  ["sessionTimeoutMs above the default rebalanceTimeoutMs", { sessionTimeoutMs: 90_000 }],
  ["rebalanceTimeoutMs below sessionTimeoutMs", { sessionTimeoutMs: 6000, rebalanceTimeoutMs: 5000 }],
  // ...and heartbeatInterval <= sessionTimeout.
  ["heartbeatIntervalMs above sessionTimeoutMs", { sessionTimeoutMs: 2000, heartbeatIntervalMs: 3000 }],
];

test("group timeouts the client refuses are a ConfigError from createParallelConsumer, not a start() failure", async () => {
  const topic = uniqueName("timeouts");
  await createTopic(topic, 1);
  const accepted: string[] = [];
  for (const [what, timeouts] of cases) {
    let consumer;
    try {
      consumer = createParallelConsumer({
        kafka: { bootstrapBrokers: BROKERS, groupId: uniqueName("group"), topics: [topic], ...timeouts },
        handler: () => {},
      });
    } catch (error) {
      assert.ok(error instanceof ConfigError, `${what}: ${error}`);
      continue;
    }
    // Accepted: record what happens instead.
    let outcome = "start() resolved";
    try {
      await consumer.start();
    } catch (error) {
      outcome = `start() rejected: ${error}`;
    } finally {
      await consumer.close().catch(() => {});
    }
    accepted.push(`${what} ${JSON.stringify(timeouts)}: ${outcome}`);
  }
  assert.deepEqual(accepted, [], "accepted by createParallelConsumer");
});
