// The platformatic client's pure conversions: library errors and protocol error codes in the port's
// terms, requests grouped per topic, options as the library takes them. No broker, no fakes.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  FetchIsolationLevels,
  MultipleErrors,
  NetworkError,
  ProtocolError,
  ResponseError,
  TimeoutError,
  UserError,
} from "@platformatic/kafka";
import { groupByTopic, partitionsByTopic, toIsolationLevel } from "../../src/adapters/platformatic/convert.ts";
import { callMarked, fetchError, markRetriable, partitionFailures } from "../../src/adapters/platformatic/errors.ts";
import { connectionOptions, toBroker } from "../../src/adapters/platformatic/options.ts";
import { isRetriable } from "../../src/adapters/group/kafka-client.ts";
import { OPTIONS } from "../support/platformatic-fakes.ts";

/** What OffsetCommit v9's parser throws for these [topic, partition, error code] answers. */
function commitRejection(answers: [string, number, number][]): ResponseError {
  const topics = [...new Set(answers.map(([topic]) => topic))].map((name) => ({
    name,
    partitions: answers.filter(([topic]) => topic === name).map(([, partitionIndex, errorCode]) => ({
      partitionIndex,
      errorCode,
    })),
  }));
  const errors: Record<string, [number, null]> = {};
  topics.forEach((t, i) =>
    t.partitions.forEach((p, j) => {
      if (p.errorCode !== 0) errors[`/topics/${i}/partitions/${j}`] = [p.errorCode, null];
    })
  );
  return new ResponseError(8, 9, errors, { throttleTimeMs: 0, topics });
}

describe("platformatic client: error conversion", () => {
  test("a library error is retriable when any error inside it says so, or it is a network failure", () => {
    assert.equal(isRetriable(markRetriable(new ProtocolError("NOT_COORDINATOR"))), true);
    assert.equal(isRetriable(markRetriable(new ProtocolError("GROUP_AUTHORIZATION_FAILED"))), false);
    assert.equal(
      isRetriable(
        markRetriable(new MultipleErrors("retried 3 times", [new ProtocolError("COORDINATOR_LOAD_IN_PROGRESS")])),
      ),
      true,
    );
    // Its own canRetry says false, but a connection that failed can come back.
    assert.equal(isRetriable(markRetriable(new NetworkError("Connection closed", { canRetry: false }))), true);
    assert.equal(isRetriable(markRetriable(new TimeoutError("Request timed out"))), true);
    assert.equal(isRetriable(markRetriable(new UserError("bad option"))), false);
    assert.equal(isRetriable(markRetriable(new Error("not the library's"))), false);
  });

  test("a rejection that is not an Error becomes one, and is final", () => {
    const error = markRetriable("a string");
    assert.ok(error instanceof Error);
    assert.equal(error.message, "a string");
    assert.equal(isRetriable(error), false);
  });

  test("callMarked passes results through and marks failures", async () => {
    assert.equal(await callMarked(() => Promise.resolve(5)), 5);
    await assert.rejects(
      callMarked(() => Promise.reject(new ProtocolError("NOT_LEADER_OR_FOLLOWER"))),
      (error) => isRetriable(error),
    );
    await assert.rejects(
      callMarked(() => Promise.reject(new ProtocolError("TOPIC_AUTHORIZATION_FAILED"))),
      (error) => !isRetriable(error),
    );
  });

  test("fetch error codes: none, out of range, retriable and final by the protocol, unknown as retriable", () => {
    assert.equal(fetchError(0), undefined);
    assert.deepEqual(fetchError(1), { kind: "offsetOutOfRange" });
    const moved = fetchError(6);
    assert.equal(moved?.kind, "retriable");
    assert.equal(moved?.kind === "retriable" && moved.error.message, "fetch failed: NOT_LEADER_OR_FOLLOWER");
    const denied = fetchError(29);
    assert.equal(denied?.kind, "fatal");
    assert.equal(denied?.kind === "fatal" && denied.error.message, "fetch failed: TOPIC_AUTHORIZATION_FAILED");
    // A code this client does not know (a newer broker's) is worth another try.
    const unknown = fetchError(9999);
    assert.equal(unknown?.kind, "retriable");
    assert.equal(unknown?.kind === "retriable" && unknown.error.message, "fetch failed: error code 9999");
  });

  test("a commit refused for some partitions names those partitions only", () => {
    const rejection = commitRejection([["a", 0, 0], ["a", 1, 12], ["b", 0, 0], ["b", 3, 29]]);
    const failed = partitionFailures(rejection);
    assert.deepEqual(failed?.map(({ topic, partition, error }) => [topic, partition, error.message]), [
      ["a", 1, "commit refused: OFFSET_METADATA_TOO_LARGE"],
      ["b", 3, "commit refused: TOPIC_AUTHORIZATION_FAILED"],
    ]);
    assert.equal(failed?.[0]?.error.cause, rejection);
  });

  test("a group-level code on any partition, or no response at all, fails the request as a whole", () => {
    // ILLEGAL_GENERATION is reported on every partition: the member must rejoin.
    assert.equal(partitionFailures(commitRejection([["a", 0, 22], ["a", 1, 22]])), undefined);
    // One group-level code among partition-level ones still means the request failed.
    assert.equal(partitionFailures(commitRejection([["a", 0, 12], ["a", 1, 16]])), undefined);
    // A code the library does not know (its ResponseError cannot be built for one: shaped by hand).
    const unknown = Object.assign(new Error("unknown"), {
      response: { throttleTimeMs: 0, topics: [{ name: "a", partitions: [{ partitionIndex: 0, errorCode: 9999 }] }] },
    });
    assert.equal(partitionFailures(unknown), undefined);
    assert.equal(partitionFailures(commitRejection([["a", 0, 0]])), undefined);
    assert.equal(partitionFailures(new NetworkError("Connection closed")), undefined);
  });
});

describe("platformatic client: conversions", () => {
  test("items are grouped by topic in first-seen order, keeping their order within a topic", () => {
    const items = [{ topic: "b", partition: 2 }, { topic: "a", partition: 1 }, { topic: "b", partition: 0 }];
    assert.deepEqual([...groupByTopic(items)], [["b", [items[0], items[2]]], ["a", [items[1]]]]);
    assert.deepEqual(partitionsByTopic(items), [["b", [2, 0]], ["a", [1]]]);
    assert.deepEqual(partitionsByTopic([]), []);
  });

  test("isolation levels as the library's constants", () => {
    assert.equal(toIsolationLevel("read_committed"), FetchIsolationLevels.READ_COMMITTED);
    assert.equal(toIsolationLevel("read_uncommitted"), FetchIsolationLevels.READ_UNCOMMITTED);
  });

  test("connection options: TLS bytes become Buffers, strings stay, unset fields are left out", () => {
    const plain = connectionOptions(OPTIONS);
    assert.deepEqual(plain, { clientId: "pyrallel-tests", bootstrapBrokers: ["a:9092", "b:9093"] });
    assert.deepEqual(connectionOptions({ ...OPTIONS, tls: true }).tls, {});
    const tls = connectionOptions({
      ...OPTIONS,
      tls: { ca: ["pem", new Uint8Array([1, 2])], key: new Uint8Array([3]), rejectUnauthorized: false },
    }).tls;
    assert.ok(Buffer.isBuffer(tls?.key));
    assert.deepEqual(tls, { ca: ["pem", Buffer.from([1, 2])], key: Buffer.from([3]), rejectUnauthorized: false });
    const sasl = { mechanism: "PLAIN", username: "u", password: "p" } as const;
    assert.deepEqual(connectionOptions({ ...OPTIONS, sasl }).sasl, sasl);
  });

  test("a broker address splits at its last colon", () => {
    assert.deepEqual(toBroker("kafka-1.internal:9093"), { host: "kafka-1.internal", port: 9093 });
    assert.deepEqual(toBroker("[::1]:9092"), { host: "[::1]", port: 9092 });
  });
});
