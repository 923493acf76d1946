import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfigError, createParallelConsumer, type ParallelConsumerOptions } from "../../mod.ts";

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
    for (const pattern of expected) assert.ok(issues.some((issue) => pattern.test(issue)), `${pattern} in ${issues.join(" | ")}`);
    assert.equal(issues.length, expected.length);
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
    assert.match(issuesOf({ ...valid, deadLetter: {}, failurePolicy: "skip" })[0]!, /deadLetter is set but failurePolicy is "skip"/);
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

  test("isolationLevel and maxUncommittedOffsets are validated, with the fix", () => {
    const issues = issuesOf({
      ...valid,
      kafka: { ...valid.kafka, isolationLevel: "committed" },
      maxUncommittedOffsets: 0,
    });
    assert.ok(issues.some((issue) => /kafka\.isolationLevel must be "read_committed" or "read_uncommitted"/.test(issue)), issues.join("\n"));
    assert.ok(issues.some((issue) => /maxUncommittedOffsets must be at least 1/.test(issue)), issues.join("\n"));
    assert.ok(createParallelConsumer({ ...valid, kafka: { ...valid.kafka, isolationLevel: "read_uncommitted" } }));
  });

  test("an adapter missing a method is named with the methods an adapter needs", () => {
    const adapter = { start() {}, pause() {}, resume() {}, commit() {}, close() {} };
    const issues = issuesOf({ ...valid, adapter });
    assert.ok(issues.some((issue) => /adapter must implement .*fetchPositions, publish/.test(issue)), issues.join("\n"));
  });
});

