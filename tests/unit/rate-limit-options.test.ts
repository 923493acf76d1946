import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfigError, type ParallelConsumerOptions } from "../../mod.ts";
import { resolveOptions } from "../../src/config/options.ts";

const valid: ParallelConsumerOptions = {
  kafka: { bootstrapBrokers: ["127.0.0.1:9092"], groupId: "orders", topics: ["orders"] },
  handler: () => {},
};

function issuesOf(rateLimit: unknown): readonly string[] {
  try {
    resolveOptions({ ...valid, rateLimit } as ParallelConsumerOptions);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error.issues;
  }
  assert.fail("the options were accepted");
}

describe("rateLimit option", () => {
  test("off unless set", () => {
    assert.equal(resolveOptions(valid).rateLimit, undefined);
  });

  test("resolves each bucket with its burst: a tenth of a second of its rate by default, at least 1", () => {
    assert.deepEqual(resolveOptions({ ...valid, rateLimit: { messagesPerSecond: 500 } }).rateLimit, {
      global: { messagesPerSecond: 500, burst: 50 },
      perKey: undefined,
    });
    assert.deepEqual(
      resolveOptions({ ...valid, rateLimit: { messagesPerSecond: 0.5, burst: 3, perKey: { messagesPerSecond: 4 } } })
        .rateLimit,
      { global: { messagesPerSecond: 0.5, burst: 3 }, perKey: { messagesPerSecond: 4, burst: 1 } },
    );
    assert.deepEqual(
      resolveOptions({ ...valid, rateLimit: { perKey: { messagesPerSecond: 25, burst: 2 } } }).rateLimit,
      {
        global: undefined,
        perKey: { messagesPerSecond: 25, burst: 2 },
      },
    );
  });

  test("rates must be positive finite numbers, bursts at least 1; each issue names its field and the fix", () => {
    const issues = issuesOf({ messagesPerSecond: 0, burst: 0.5, perKey: { messagesPerSecond: Infinity, burst: NaN } });
    const expected = [
      /^rateLimit\.messagesPerSecond must be a positive finite number of messages per second, e\.g\. 100/,
      /^rateLimit\.burst must be a finite number of at least 1/,
      /^rateLimit\.perKey\.messagesPerSecond must be a positive finite number/,
      /^rateLimit\.perKey\.burst must be a (number|finite number of at least 1)/,
    ];
    for (const pattern of expected) {
      assert.ok(issues.some((issue) => pattern.test(issue)), `${pattern} in ${issues.join(" | ")}`);
    }
    assert.equal(issues.length, expected.length, issues.join(" | "));
    assert.match(issuesOf({ messagesPerSecond: "500" })[0]!, /rateLimit\.messagesPerSecond must be a number/);
    assert.match(issuesOf({ messagesPerSecond: -3 })[0]!, /positive finite/);
  });

  test("an empty limit, a burst without its rate, unknown keys and wrong shapes are refused", () => {
    assert.deepEqual(issuesOf({}), [
      "rateLimit needs messagesPerSecond, perKey or both, e.g. { messagesPerSecond: 500 }; omit rateLimit for no limit",
    ]);
    assert.match(
      issuesOf({ burst: 10, perKey: { messagesPerSecond: 1 } })[0]!,
      /rateLimit\.burst sizes the consumer-wide bucket/,
    );
    assert.match(issuesOf({ messagesPerSecond: 5, perkey: {} })[0]!, /unknown option rateLimit\.perkey/);
    assert.match(issuesOf(500)[0]!, /rateLimit must be an object like \{ messagesPerSecond: 500/);
    assert.match(issuesOf({ perKey: 10 })[0]!, /rateLimit\.perKey must be an object like \{ messagesPerSecond: 10 \}/);
  });
});
