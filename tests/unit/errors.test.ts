// The error model: every error of the consumer is a PyrallelError with a stable code, and the
// public types reject what they should (checked by the typecheck: a @ts-expect-error that does not
// error fails it).
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  type AbortReason,
  BlockedTooLongError,
  CommitFailedError,
  ConfigError,
  ConsumerClosedError,
  type ConsumerEvents,
  DeadLetterFailedError,
  EngineFailedError,
  HandlerTimeoutError,
  KafkaClientError,
  LifecycleError,
  MessageFailedError,
  type ParallelConsumer,
  PartitionRevokedError,
  PoisonKeyError,
  PyrallelError,
  type PyrallelErrorCode,
  WorkerCrashedError,
} from "../../mod.ts";

const message = {
  topic: "orders",
  partition: 2,
  offset: 41n,
  key: null,
  value: null,
  headers: new Map(),
  timestamp: 0,
};

const cases: [PyrallelError, PyrallelErrorCode, string][] = [
  [new ConfigError(["maxInFlight must be at least 1"]), "PYRALLEL_CONFIG", "ConfigError"],
  [new MessageFailedError(message, 4, new Error("boom")), "PYRALLEL_MESSAGE_FAILED", "MessageFailedError"],
  [new HandlerTimeoutError(50), "PYRALLEL_HANDLER_TIMEOUT", "HandlerTimeoutError"],
  [new BlockedTooLongError(1000), "PYRALLEL_BLOCKED_TOO_LONG", "BlockedTooLongError"],
  [new PoisonKeyError(60_000), "PYRALLEL_POISON_KEY", "PoisonKeyError"],
  [new ConsumerClosedError(), "PYRALLEL_CONSUMER_CLOSED", "ConsumerClosedError"],
  [new PartitionRevokedError("orders", 2), "PYRALLEL_PARTITION_REVOKED", "PartitionRevokedError"],
  [new WorkerCrashedError("worker 1 exited"), "PYRALLEL_WORKER_CRASHED", "WorkerCrashedError"],
  [new EngineFailedError("module did not load"), "PYRALLEL_ENGINE_FAILED", "EngineFailedError"],
  [new CommitFailedError([], { cause: new Error("socket hang up") }), "PYRALLEL_COMMIT_FAILED", "CommitFailedError"],
  [
    new DeadLetterFailedError("orders.dlq", new Error("timeout")),
    "PYRALLEL_DEAD_LETTER_FAILED",
    "DeadLetterFailedError",
  ],
  [new KafkaClientError(new Error("ECONNREFUSED")), "PYRALLEL_KAFKA_CLIENT", "KafkaClientError"],
  [new LifecycleError("the consumer was already started"), "PYRALLEL_LIFECYCLE", "LifecycleError"],
];

test("every error is a PyrallelError with its own code and name", () => {
  for (const [error, code, name] of cases) {
    assert.ok(error instanceof PyrallelError, name);
    assert.ok(error instanceof Error, name);
    assert.equal(error.code, code);
    assert.equal(error.name, name);
  }
  assert.equal(new Set(cases.map(([, code]) => code)).size, cases.length, "codes are distinct");
});

test("errors keep what they wrap: the cause, and the partition or topic they name", () => {
  const socket = new Error("socket hang up");
  const request = new CommitFailedError([], { cause: socket });
  assert.equal(request.cause, socket);
  assert.deepEqual(request.partitions, []);
  assert.match(request.message, /the offset commit request failed \(socket hang up\)/);
  const refused = new CommitFailedError([{ topic: "orders", partition: 1, error: new Error("NOT_COORDINATOR") }], {
    context: "close: the final offset commit failed",
  });
  assert.equal(
    refused.message,
    "close: the final offset commit failed: offset commit refused for orders[1] (NOT_COORDINATOR)",
  );
  const client = new KafkaClientError(new Error("connect ECONNREFUSED 127.0.0.1:9"));
  assert.equal(client.message, "connect ECONNREFUSED 127.0.0.1:9");
  const dlq = new DeadLetterFailedError("orders.dlq", new Error("timeout"));
  assert.equal(dlq.topic, "orders.dlq");
  assert.match(dlq.message, /orders\.dlq.*timeout/);
  const failed = new MessageFailedError(message, 0, new PoisonKeyError(100));
  assert.match(failed.message, /orders\[2\] at offset 41 was not run/);
  assert.equal(failed.offset, 41n);
});

test("abort reasons are told apart by code", () => {
  const reasons: AbortReason[] = [
    new HandlerTimeoutError(10),
    new BlockedTooLongError(10),
    new ConsumerClosedError(),
    new PartitionRevokedError("t", 0),
    new WorkerCrashedError("gone"),
  ];
  const codes = reasons.map((reason) => reason.code);
  assert.deepEqual(codes, [
    "PYRALLEL_HANDLER_TIMEOUT",
    "PYRALLEL_BLOCKED_TOO_LONG",
    "PYRALLEL_CONSUMER_CLOSED",
    "PYRALLEL_PARTITION_REVOKED",
    "PYRALLEL_WORKER_CRASHED",
  ]);
});

// Compile-time only: these functions are never called.
export function typeChecks(consumer: ParallelConsumer): void {
  // @ts-expect-error: not an event of the consumer (ConsumerEvents has no index signature)
  consumer.on("stal", () => {});
  consumer.on("error", (error) => {
    const code: PyrallelErrorCode = error.code;
    void code;
  });
  const events: (keyof ConsumerEvents)[] = ["error", "stall"];
  void events;
}
