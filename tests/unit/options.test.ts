import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfigError, createParallelConsumer, type ParallelConsumerOptions } from "../../mod.ts";
import { resolveOptions } from "../../src/config/options.ts";

const valid: ParallelConsumerOptions = {
  kafka: { bootstrapBrokers: ["127.0.0.1:9092"], groupId: "orders", topics: ["orders"] },
  handler: () => {},
};

/** The ConfigError issues for `options`, which must be invalid. */
function issuesOf(options: unknown): readonly string[] {
  try {
    createParallelConsumer(options as ParallelConsumerOptions);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error.issues;
  }
  assert.fail("the options were accepted");
}

describe("options", () => {
  test("valid options create a consumer with the client id as its id", () => {
    assert.equal(createParallelConsumer(valid).id, "pyrallel-orders");
    assert.equal(createParallelConsumer({ ...valid, kafka: { ...valid.kafka, clientId: "c1" } }).id, "c1");
  });

  test("every bad field is named, with the fix", () => {
    const issues = issuesOf({
      kafka: { bootstrapBrokers: ["localhost"], groupId: "", topics: [] },
      handler: "nope",
      ordering: "random",
      maxInFlight: 0,
      engine: { kind: "async", concurrency: 1.5 },
    });
    const expected = [
      /kafka\.bootstrapBrokers.*"host:port"/,
      /kafka\.groupId must not be empty/,
      /kafka\.topics needs at least one topic/,
      /handler must be a function/,
      /ordering must be "key", "partition" or "unordered"/,
      /maxInFlight must be at least 1/,
      /engine\.concurrency must be a whole number/,
    ];
    for (const pattern of expected) {
      assert.ok(issues.some((issue) => pattern.test(issue)), `${pattern} in ${issues.join(" | ")}`);
    }
    assert.equal(issues.length, expected.length);
  });

  // A name Kafka refuses failed only at start(), with the broker's "an operation on an invalid topic".
  test("a topic name Kafka would refuse is named by its position, with the rule", () => {
    const kafka = (topics: string[]) => ({ ...valid, kafka: { ...valid.kafka, topics } });
    for (const bad of ["bad topic", "orders!", ".", "..", "é", "x".repeat(250), ""]) {
      assert.deepEqual(issuesOf(kafka(["ok", bad])), [
        'kafka.topics.1: each topic must be a Kafka topic name: 1 to 249 of the characters a-z A-Z 0-9 . _ - (and not "." or "..")',
      ], bad);
    }
    for (const good of ["a.b_c-D9", "...", "x".repeat(249), "__consumer_offsets"]) {
      assert.doesNotThrow(() => createParallelConsumer(kafka([good])), good);
    }
    assert.deepEqual(issuesOf({ ...valid, deadLetter: { topicSuffix: " dlq" } }), [
      "deadLetter.topicSuffix may hold only the characters of a Kafka topic name: a-z A-Z 0-9 . _ -",
    ]);
  });

  test("a misspelt option is reported as unknown, with its path", () => {
    assert.deepEqual(issuesOf({ ...valid, maxInflight: 10 }), [
      "unknown option maxInflight: check its spelling against the documented options",
    ]);
    assert.match(issuesOf({ ...valid, kafka: { ...valid.kafka, groupID: "x" } })[0]!, /unknown option kafka\.groupID/);
  });

  test("missing options object parts are named", () => {
    assert.ok(issuesOf({ handler: () => {} }).some((issue) => /kafka/.test(issue)));
    assert.ok(issuesOf(undefined).length > 0);
  });

  test("conflicting failure settings are refused", () => {
    assert.match(
      issuesOf({ ...valid, deadLetter: {}, failurePolicy: "skip" })[0]!,
      /deadLetter is set but failurePolicy is "skip"/,
    );
    assert.match(issuesOf({ ...valid, ordering: "unordered", poisonKey: {} })[0]!, /poisonKey needs ordering "key"/);
  });

  test("credentials never appear in error messages", () => {
    const secret = "hunter2-very-secret";
    const issues = issuesOf({
      ...valid,
      kafka: { ...valid.kafka, sasl: { mechanism: "PLAINTEXT", username: "u", password: secret } },
    });
    assert.ok(issues.length > 0);
    assert.ok(issues.every((issue) => !issue.includes(secret)));
    const wrongType = issuesOf({ ...valid, kafka: { ...valid.kafka, sasl: { mechanism: "PLAIN", password: 42 } } });
    assert.ok(wrongType.every((issue) => !issue.includes("42")));
  });

  test("isolationLevel, checkCrcs and maxUncommittedOffsets are validated, with the fix", () => {
    const issues = issuesOf({
      ...valid,
      kafka: { ...valid.kafka, isolationLevel: "committed", checkCrcs: "yes" },
      maxUncommittedOffsets: 0,
    });
    assert.ok(issues.some((issue) => /kafka\.checkCrcs must be true or false/.test(issue)), issues.join("\n"));
    assert.ok(
      issues.some((issue) => /kafka\.isolationLevel must be "read_committed" or "read_uncommitted"/.test(issue)),
      issues.join("\n"),
    );
    assert.ok(issues.some((issue) => /maxUncommittedOffsets must be at least 1/.test(issue)), issues.join("\n"));
    assert.ok(createParallelConsumer({ ...valid, kafka: { ...valid.kafka, isolationLevel: "read_uncommitted" } }));
  });

  test("an adapter missing a method is named with the methods an adapter needs", () => {
    const adapter = { start() {}, pause() {}, resume() {}, commit() {}, close() {} };
    const issues = issuesOf({ ...valid, adapter });
    assert.ok(
      issues.some((issue) => /adapter must implement .*missing: fetchPositions, publish$/.test(issue)),
      issues.join("\n"),
    );
    assert.match(
      issuesOf({ ...valid, adapter: { start() {} } })[0]!,
      /missing: pause, resume, commit, fetchPositions, publish, close$/,
    );
    assert.match(issuesOf({ ...valid, adapter: 42 })[0]!, /adapter must be an object implementing .*start, .*close/);
  });

  test("an adapter class with every method is accepted", () => {
    class Adapter {
      async start() {}
      pause() {}
      resume() {}
      async commit() {
        return [];
      }
      fetchPositions() {
        return [];
      }
      async publish() {}
      async close() {}
    }
    assert.ok(createParallelConsumer({ ...valid, adapter: new Adapter() }));
  });

  test("field and cross-field problems arrive together in one ConfigError", () => {
    const issues = issuesOf({
      kafka: {
        ...valid.kafka,
        topics: [],
        sessionTimeoutMs: 10_000,
        rebalanceTimeoutMs: 5000,
        heartbeatIntervalMs: 20_000,
      },
      ordering: "partition",
      poisonKey: {},
      deadLetter: {},
      failurePolicy: "skip",
      maxInFlight: 0,
      engine: { kind: "async", concurrency: 0 },
    });
    const expected = [
      /kafka\.topics needs at least one topic/,
      /kafka\.rebalanceTimeoutMs \(5000\) must be at least kafka\.sessionTimeoutMs \(10000\)/,
      /kafka\.heartbeatIntervalMs \(20000\) must be below kafka\.sessionTimeoutMs \(10000\)/,
      /poisonKey needs ordering "key" \(it is "partition"\)/,
      /deadLetter is set but failurePolicy is "skip"/,
      /handler is required with the async engine/,
      /maxInFlight must be at least 1/,
      /engine\.concurrency must be at least 1/,
    ];
    for (const pattern of expected) {
      assert.ok(issues.some((issue) => pattern.test(issue)), `${pattern} in ${issues.join(" | ")}`);
    }
    assert.equal(issues.length, expected.length, issues.join("\n"));
  });

  test("a cross-field rule is judged against the defaults of the fields left out", () => {
    assert.deepEqual(issuesOf({ ...valid, kafka: { ...valid.kafka, sessionTimeoutMs: 90_000 } }), [
      "kafka.rebalanceTimeoutMs (60000) must be at least kafka.sessionTimeoutMs (90000)",
    ]);
  });

  test("the handler belongs to the async engine only", () => {
    const worker = { kind: "worker", module: new URL("./worker.ts", import.meta.url) } as const;
    assert.match(issuesOf({ ...valid, engine: worker })[0]!, /handler is not used by the worker engine/);
    assert.ok(createParallelConsumer({ kafka: valid.kafka, engine: worker }));
  });

  test("batch handlers: exactly one handler with the async engine, none with the worker engine, batch only with batches", () => {
    const { handler: _handler, ...noHandler } = valid;
    const batchHandler = () => {};
    const worker = { kind: "worker", module: new URL("./worker.ts", import.meta.url) } as const;
    assert.deepEqual(issuesOf(noHandler), [
      "handler is required with the async engine: (message, context) => Promise<void>, or batchHandler: (messages, context) => Promise<void> for batches",
    ]);
    assert.deepEqual(issuesOf({ ...valid, batchHandler }), [
      "handler and batchHandler are both set: keep handler for one message per call, or batchHandler for batches",
    ]);
    assert.deepEqual(issuesOf({ ...noHandler, batchHandler, engine: worker }), [
      "batchHandler is not used by the worker engine: its handler lives in engine.module (runWorker({ batchHandler })); remove batchHandler and keep batch",
    ]);
    assert.deepEqual(issuesOf({ ...valid, batch: { maxMessages: 10 } }), [
      "batch is set but there is no batchHandler: pass batchHandler instead of handler, or remove batch",
    ]);
    assert.deepEqual(issuesOf({ ...noHandler, batchHandler: "nope" }), [
      "batchHandler must be a function (messages, context) => Promise<void>",
    ]);
    assert.deepEqual(issuesOf({ ...noHandler, batchHandler, batch: { maxMessages: 0, maxWaitMs: -1, max: 3 } }), [
      "batch.maxMessages must be at least 1",
      "batch.maxWaitMs must be 0 or more",
      "unknown option batch.max: check its spelling against the documented options",
    ]);
  });

  test("batch options resolve with their defaults; the worker engine takes batch for its module's batch handler", () => {
    const { handler: _handler, ...noHandler } = valid;
    const batchHandler = () => {};
    const resolved = resolveOptions({ ...noHandler, batchHandler });
    assert.deepEqual(resolved.batch, { maxMessages: 100, maxWaitMs: 10 });
    assert.equal(resolved.engine.kind === "async" && "batchHandler" in resolved.engine, true);
    assert.deepEqual(resolveOptions({ ...noHandler, batchHandler, batch: { maxWaitMs: 0 } }).batch, {
      maxMessages: 100,
      maxWaitMs: 0,
    });
    const worker = { kind: "worker", module: new URL("./worker.ts", import.meta.url) } as const;
    assert.deepEqual(resolveOptions({ kafka: valid.kafka, engine: worker, batch: { maxMessages: 7 } }).batch, {
      maxMessages: 7,
      maxWaitMs: 10,
    });
  });

  test("TLS options are checked field by field, and never echoed", () => {
    const key = "-----BEGIN PRIVATE KEY-----secret";
    const issues = issuesOf({ ...valid, kafka: { ...valid.kafka, tls: { key, rejectUnauthorised: false, cert: 7 } } });
    assert.deepEqual(issues, [
      "kafka.tls.cert must be a PEM string or bytes (Uint8Array)",
      "unknown option kafka.tls.rejectUnauthorised: check its spelling against the documented options",
    ]);
    assert.match(
      issuesOf({ ...valid, kafka: { ...valid.kafka, tls: "yes" } })[0]!,
      /kafka\.tls must be true or an object/,
    );
    assert.ok(createParallelConsumer({ ...valid, kafka: { ...valid.kafka, tls: true } }));
    const bytes = new TextEncoder().encode(key);
    assert.ok(createParallelConsumer({ ...valid, kafka: { ...valid.kafka, tls: { ca: [bytes, key], key: bytes } } }));
  });

  test("derived defaults: client id, failure policy and dead-letter settings", () => {
    const kafka = valid.kafka;
    assert.equal(resolveOptions(valid).kafka.clientId, "pyrallel-orders");
    assert.equal(resolveOptions(valid).failurePolicy, "stop");
    assert.equal(resolveOptions(valid).deadLetter, undefined);
    assert.equal(resolveOptions(valid).logger, console);
    const dead = resolveOptions({ ...valid, deadLetter: { payload: "metadataOnly" } });
    assert.equal(dead.failurePolicy, "deadLetter");
    assert.deepEqual(dead.deadLetter, { topicSuffix: ".dlq", payload: "metadataOnly" });
    assert.deepEqual(resolveOptions({ kafka, handler: valid.handler, failurePolicy: "deadLetter" }).deadLetter, {
      topicSuffix: ".dlq",
      payload: "full",
    });
    assert.equal(resolveOptions({ ...valid, failurePolicy: "skip" }).deadLetter, undefined);
  });
});
