import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FailurePath, type FailureSettings } from "../../../src/core/control-plane/failure-path.ts";
import type { Phase } from "../../../src/core/control-plane/lifecycle.ts";
import { PartitionState, type WorkItem } from "../../../src/core/control-plane/partition-state.ts";
import { Statistics } from "../../../src/core/control-plane/statistics.ts";
import { DEAD_LETTER_HEADERS } from "../../../src/core/dead-letter.ts";
import { Delays } from "../../../src/core/delays.ts";
import {
  DeadLetterFailedError,
  MessageFailedError,
  PoisonKeyError,
  type PyrallelError,
} from "../../../src/core/errors.ts";
import { PoisonKeys } from "../../../src/core/poison-keys.ts";
import { RecordTooLargeError } from "../../../src/core/ports/kafka-adapter.ts";
import type { FailurePolicy } from "../../../src/core/settings.ts";
import { headerValue } from "../../support/headers.ts";
import { VirtualClock } from "../../simulation/virtual-clock.ts";
import { acceptAll, FakeAdapter } from "./fakes.ts";

const decoder = new TextDecoder();

/**
 * A failure path over one partition t[0] with retries backing off 100 ms doubling (jitter off:
 * `random` 0 gives half the backoff, so 50 ms, 100 ms, 200 ms...). The host records what it is
 * asked, with the virtual time: "50 requeue 0", "150 finish 0", "0 report MessageFailedError".
 */
function setup(options: { policy?: FailurePolicy; maxRetries?: number; poison?: boolean } = {}) {
  const virtual = new VirtualClock();
  const clock = virtual.clock("failure-path");
  const delays = new Delays(clock);
  const adapter = new FakeAdapter();
  const counts = new Statistics().counts;
  const lifecycle: { phase: Phase; startsWork: boolean } = { phase: "running", startsWork: true };
  const poison = options.poison ? new PoisonKeys({ maxFailures: 2, cooldownMs: 1000 }, clock.now) : undefined;
  const state = new PartitionState("t", 0, clock.now, 4096, poison);
  state.seed(0, [], 0);
  const events: string[] = [];
  const reports: PyrallelError[] = [];
  const log = (what: string) => events.push(`${virtual.now} ${what}`);
  const settings: FailureSettings = {
    retry: { maxRetries: options.maxRetries ?? 0, initialBackoffMs: 100, maxBackoffMs: 10_000 },
    failurePolicy: options.policy ?? "skip",
    deadLetter: { topicSuffix: ".dlq", payload: "full" },
    random: () => 0,
  };
  const path = new FailurePath(settings, delays, (records) => adapter.publish(records), counts, lifecycle, {
    requeue: (item) => log(`requeue ${item.offset}`),
    finish: (item) => {
      log(`finish ${item.offset}`);
      state.finish(item);
    },
    released: () => log("released"),
    stop: () => log("stop"),
    report: (error) => {
      log(`report ${error.name}`);
      reports.push(error);
    },
  });
  /** One attempt of `item` runs (and ends) now, as the dispatcher would run it. */
  const ran = (item: WorkItem) => {
    state.scheduler.nextMatching((ready) => ready === item);
    state.endAttempt(item, state.startAttempt(item, virtual.now));
  };
  return { virtual, delays, adapter, counts, lifecycle, poison, state, events, reports, path, ran };
}

describe("FailurePath", () => {
  test("retries up to maxRetries after backoffs, then the policy (skip) finishes the message", async () => {
    const { virtual, counts, state, events, reports, path, ran } = setup({ maxRetries: 2 });
    const [item] = acceptAll(state, [0], "k") as [WorkItem];
    ran(item);
    path.attemptFailed(item, new Error("first"));
    assert.deepEqual(events, ["0 released"]);
    assert.equal(state.metrics().queuedCount, 1, "waiting for its retry counts as queued");
    assert.equal(state.busy(true), true, "waiting for its retry is progress");
    assert.ok(await virtual.runUntil(() => events.length === 2, 10_000));
    assert.deepEqual(events, ["0 released", "50 requeue 0"]);
    assert.equal(state.busy(true), false, "the wait ended (the host requeues it)");
    assert.equal(state.metrics().queuedCount, 1, "still admitted and not running: queued");
    assert.equal(state.admittedCount, 1);

    ran(item);
    path.attemptFailed(item, new Error("second"));
    assert.ok(await virtual.runUntil(() => events.length === 4, 10_000));
    assert.deepEqual(events.slice(2), ["50 released", "150 requeue 0"]);

    ran(item);
    const last = new Error("third");
    path.attemptFailed(item, last);
    assert.deepEqual(events.slice(4), ["150 report MessageFailedError", "150 finish 0"]);
    const report = reports[0];
    assert.ok(report instanceof MessageFailedError);
    assert.deepEqual(
      [report.code, report.topic, report.partition, report.offset, report.attempts, report.cause],
      ["PYRALLEL_MESSAGE_FAILED", "t", 0, 0n, 3, last],
    );
    assert.equal(counts.failedAttempts, 3);
    assert.equal(counts.retries, 2);
    assert.equal(counts.skipped, 1);
    assert.equal(state.tracker.commitPosition, 1);
    assert.equal(virtual.pending(), 0);
  });

  test("the backoff is capped at maxBackoffMs and jittered by random()", async () => {
    const virtual = new VirtualClock();
    const clock = virtual.clock("failure-path");
    const state = new PartitionState("t", 0, clock.now, 4096);
    state.seed(0, [], 0);
    const requeued: number[] = [];
    const settings: FailureSettings = {
      retry: { maxRetries: 10, initialBackoffMs: 100, maxBackoffMs: 300 },
      failurePolicy: "skip",
      random: () => 0.5,
    };
    const path = new FailurePath(settings, new Delays(clock), () => Promise.resolve(), new Statistics().counts, {
      phase: "running",
      startsWork: true,
    }, {
      requeue: () => requeued.push(virtual.now),
      finish: () => {},
      released: () => {},
      stop: () => {},
      report: () => {},
    });
    const [item] = acceptAll(state, [0]) as [WorkItem];
    for (let attempt = 1; attempt <= 4; attempt++) {
      state.endAttempt(item, state.startAttempt(item, virtual.now));
      path.attemptFailed(item, new Error("again"));
      assert.ok(await virtual.runUntil(() => requeued.length === attempt, 100_000));
    }
    // Backoffs 100, 200, 300 (capped), 300: each half fixed plus half of it times 0.5.
    assert.deepEqual(requeued, [75, 75 + 150, 75 + 150 + 225, 75 + 150 + 225 + 225]);
  });

  test("maxRetries 0 and policy stop: reported, then the consumer stops; nothing finishes", () => {
    const { counts, state, events, path, ran } = setup({ policy: "stop" });
    const [item] = acceptAll(state, [0]) as [WorkItem];
    ran(item);
    path.attemptFailed(item, new Error("boom"));
    assert.deepEqual(events, ["0 report MessageFailedError", "0 stop"]);
    assert.equal(counts.retries, 0);
    assert.equal(state.tracker.commitPosition, 0, "the offset stays uncommitted");
  });

  test("while closing or revoking a failed attempt is only released: no retry, no report", () => {
    for (const revoking of [false, true]) {
      const { virtual, counts, lifecycle, state, events, path, ran } = setup({ maxRetries: 3 });
      if (revoking) state.phase = "revoking";
      else lifecycle.phase = "closing";
      const [item] = acceptAll(state, [0]) as [WorkItem];
      ran(item);
      path.attemptFailed(item, new Error("late"));
      assert.deepEqual(events, ["0 released"]);
      assert.deepEqual([counts.failedAttempts, counts.retries], [1, 0]);
      assert.equal(virtual.pending(), 0, "no retry timer");
    }
  });

  test("a retry wait cut short (cancelAll) or outliving its partition's ownership only releases", async () => {
    const cancelled = setup({ maxRetries: 1 });
    const [a] = acceptAll(cancelled.state, [0]) as [WorkItem];
    cancelled.ran(a);
    cancelled.path.attemptFailed(a, new Error("x"));
    cancelled.delays.cancelAll();
    await cancelled.virtual.runUntil(() => false, 10_000);
    assert.deepEqual(cancelled.events, ["0 released", "0 released"]);
    assert.equal(cancelled.state.busy(true), false, "the wait no longer counts");
    assert.equal(cancelled.state.admittedCount, 1, "only released: not finished");
    assert.equal(cancelled.state.tracker.commitPosition, 0);

    const revoked = setup({ maxRetries: 1 });
    const [b] = acceptAll(revoked.state, [0]) as [WorkItem];
    revoked.ran(b);
    revoked.path.attemptFailed(b, new Error("x"));
    revoked.state.phase = "revoking";
    await revoked.virtual.runUntil(() => false, 10_000);
    assert.deepEqual(revoked.events, ["0 released", "50 released"]);
  });

  describe("dead letters", () => {
    test("published once, and the message finishes only once the broker acknowledged it", async () => {
      const { virtual, adapter, counts, state, events, path, ran } = setup({ policy: "deadLetter", maxRetries: 0 });
      const [item] = acceptAll(state, [0], "k") as [WorkItem];
      ran(item);
      const cause = new Error("bad payload");
      path.attemptFailed(item, cause);
      assert.deepEqual(events, ["0 report MessageFailedError"]);
      assert.equal(adapter.publishes.length, 1);
      const [record] = adapter.publishes[0]!.records;
      assert.ok(record);
      assert.equal(record.topic, "t.dlq");
      assert.equal(decoder.decode(record.key!), "k");
      assert.equal(decoder.decode(record.value!), "v0");
      assert.equal(decoder.decode(headerValue(record.headers, DEAD_LETTER_HEADERS.attempts)!), "1");
      assert.equal(decoder.decode(headerValue(record.headers, DEAD_LETTER_HEADERS.errorMessage)!), "bad payload");
      assert.equal(state.busy(false), true, "a dead letter in flight is progress");
      assert.equal(state.metrics().queuedCount, 1);
      assert.equal(state.tracker.blockingOffset, 0, "blocks the commit until published");

      await virtual.runUntil(() => false, 10_000);
      assert.equal(events.length, 1, "nothing happens before the broker answers");
      adapter.publishes[0]!.reply.resolve();
      await virtual.runUntil(() => events.length === 2, 10_000);
      assert.deepEqual(events.slice(1), ["10000 finish 0"]);
      assert.equal(counts.deadLettered, 1);
      assert.equal(state.busy(false), false);
      assert.equal(state.tracker.blockingOffset, null);
      assert.equal(adapter.publishes.length, 1, "published once");
    });

    test("a failed publish is reported (DeadLetterFailedError) and retried with backoff", async () => {
      const { virtual, adapter, counts, state, events, reports, path, ran } = setup({ policy: "deadLetter" });
      const [item] = acceptAll(state, [0]) as [WorkItem];
      ran(item);
      path.attemptFailed(item, new Error("boom"));
      const causes = [new Error("broker down"), new Error("still down")];
      for (const [index, cause] of causes.entries()) {
        assert.ok(await virtual.runUntil(() => adapter.publishes.length === index + 1, 10_000));
        adapter.publishes[index]!.reply.reject(cause);
      }
      assert.ok(await virtual.runUntil(() => adapter.publishes.length === 3, 10_000));
      assert.equal(virtual.now, 150, "backoffs of 50 and 100 ms");
      adapter.publishes[2]!.reply.resolve();
      await virtual.runUntil(() => events.at(-1)?.endsWith("finish 0") ?? false, 10_000);
      assert.deepEqual(events, [
        "0 report MessageFailedError",
        "0 report DeadLetterFailedError",
        "50 report DeadLetterFailedError",
        "150 finish 0",
      ]);
      const failures = reports.slice(1) as DeadLetterFailedError[];
      assert.deepEqual(failures.map((error) => [error.code, error.topic, error.cause]), [
        ["PYRALLEL_DEAD_LETTER_FAILED", "t.dlq", causes[0]],
        ["PYRALLEL_DEAD_LETTER_FAILED", "t.dlq", causes[1]],
      ]);
      assert.deepEqual([counts.deadLetterFailures, counts.deadLettered], [2, 1]);
    });

    test("a dead letter too large for its topic goes again without the message's payload, saying so; nothing is reported", async () => {
      const { virtual, adapter, counts, state, events, path, ran } = setup({ policy: "deadLetter" });
      const [item] = acceptAll(state, [0], "k") as [WorkItem];
      ran(item);
      path.attemptFailed(item, new Error("boom"));
      adapter.publishes[0]!.reply.reject(new RecordTooLargeError("a record is larger than t.dlq accepts"));
      assert.ok(await virtual.runUntil(() => adapter.publishes.length === 2, 10_000));
      assert.equal(virtual.now, 0, "at once: retrying it whole would never succeed");
      const [full] = adapter.publishes[0]!.records;
      const [letter] = adapter.publishes[1]!.records;
      assert.equal(letter!.value, null);
      assert.equal(decoder.decode(letter!.key!), "k");
      assert.equal(
        decoder.decode(headerValue(letter!.headers, DEAD_LETTER_HEADERS.payloadOmitted)!),
        "too large for t.dlq",
      );
      for (const name of Object.values(DEAD_LETTER_HEADERS)) {
        if (name !== DEAD_LETTER_HEADERS.payloadOmitted) {
          assert.deepEqual(headerValue(letter!.headers, name), headerValue(full!.headers, name));
        }
      }
      assert.deepEqual(
        letter!.headers.map(([name]) => name).filter((name) => !name.startsWith("pyrallel.")),
        [],
        "the message's own headers went with its payload",
      );
      adapter.publishes[1]!.reply.resolve();
      await virtual.runUntil(() => events.at(-1)?.endsWith("finish 0") ?? false, 10_000);
      assert.deepEqual(events, ["0 report MessageFailedError", "0 finish 0"]);
      assert.deepEqual([counts.deadLetterFailures, counts.deadLettered], [0, 1]);
    });

    test("a batch's letters refused as too large go again one by one; only the one still too large loses its payload", async () => {
      const { virtual, adapter, state, events, path, ran } = setup({ policy: "deadLetter" });
      const items = acceptAll(state, [0, 1], "k") as [WorkItem, WorkItem];
      const batch = { items, messages: items.map((item) => item.message), first: items[0] };
      for (const item of items) item.batch = batch;
      ran(items[0]);
      path.attemptFailed(items[0], new Error("boom"));
      assert.equal(adapter.publishes[0]!.records.length, 2, "one request for the batch");
      const tooLarge = () => new RecordTooLargeError("a record is larger than t.dlq accepts");
      adapter.publishes[0]!.reply.reject(tooLarge());
      assert.ok(await virtual.runUntil(() => adapter.publishes.length === 2, 10_000));
      adapter.publishes[1]!.reply.resolve(); // offset 0 alone goes through, whole
      assert.ok(await virtual.runUntil(() => adapter.publishes.length === 3, 10_000));
      adapter.publishes[2]!.reply.reject(tooLarge()); // offset 1 alone is too large
      assert.ok(await virtual.runUntil(() => adapter.publishes.length === 4, 10_000));
      adapter.publishes[3]!.reply.resolve();
      await virtual.runUntil(() => events.at(-1)?.endsWith("finish 1") ?? false, 10_000);
      const sent = adapter.publishes.slice(1).map(({ records: [record] }) => [
        decoder.decode(headerValue(record!.headers, DEAD_LETTER_HEADERS.sourceOffset)!),
        record!.value === null ? "no payload" : decoder.decode(record!.value),
      ]);
      assert.deepEqual(sent, [["0", "v0"], ["1", "v1"], ["1", "no payload"]]);
      assert.deepEqual(events.slice(-2), ["0 finish 0", "0 finish 1"]);
    });

    test("a failed publish is not retried once work stops starting; the message stays unfinished", async () => {
      const { virtual, adapter, lifecycle, state, events, path, ran } = setup({ policy: "deadLetter" });
      const [item] = acceptAll(state, [0]) as [WorkItem];
      ran(item);
      path.attemptFailed(item, new Error("boom"));
      lifecycle.startsWork = false;
      adapter.publishes[0]!.reply.reject(new Error("closed"));
      await virtual.runUntil(() => false, 10_000);
      assert.deepEqual(events, ["0 report MessageFailedError", "0 report DeadLetterFailedError", "0 released"]);
      assert.equal(adapter.publishes.length, 1);
      assert.equal(state.busy(false), false, "the dead-letter wait ended");
      assert.equal(state.tracker.blockingOffset, 0);
    });

    test("a dead letter acknowledged after its partition was revoked does not finish the message", async () => {
      const { virtual, adapter, counts, state, events, path, ran } = setup({ policy: "deadLetter" });
      const [item] = acceptAll(state, [0]) as [WorkItem];
      ran(item);
      path.attemptFailed(item, new Error("boom"));
      state.phase = "revoked";
      adapter.publishes[0]!.reply.resolve();
      await virtual.runUntil(() => false, 10_000);
      assert.deepEqual(events, ["0 report MessageFailedError", "0 released"]);
      assert.equal(counts.deadLettered, 1);
    });
  });

  describe("refused messages (cooling key)", () => {
    test("go straight to the policy with attempts 0 and do not count towards the key's cooldown", () => {
      const { poison, state, events, reports, path, ran } = setup({ poison: true });
      const refusal = new PoisonKeyError(1000);
      const [r0, r1, f2, f3] = acceptAll(state, [0, 1, 2, 3], "k") as [WorkItem, WorkItem, WorkItem, WorkItem];
      path.refused(r0, refusal);
      path.refused(r1, refusal);
      assert.deepEqual(events, [
        "0 report MessageFailedError",
        "0 finish 0",
        "0 report MessageFailedError",
        "0 finish 1",
      ]);
      const report = reports[0] as MessageFailedError;
      assert.equal(report.attempts, 0);
      assert.equal(report.cause, refusal);
      assert.match(report.message, /was not run/);
      assert.equal(poison!.isCooling("k"), false, "two refusals (maxFailures 2) do not cool the key");

      ran(f2);
      path.attemptFailed(f2, new Error("ran and failed"));
      assert.equal(poison!.isCooling("k"), false, "one final failure that ran");
      ran(f3);
      path.attemptFailed(f3, new Error("ran and failed"));
      assert.equal(poison!.isCooling("k"), true, "two final failures that ran");
    });

    test("a refused message's dead letter says 0 attempts", () => {
      const { adapter, state, path } = setup({ policy: "deadLetter" });
      const [item] = acceptAll(state, [0], "k") as [WorkItem];
      path.refused(item, new PoisonKeyError(1000));
      const [record] = adapter.publishes[0]!.records;
      assert.equal(decoder.decode(headerValue(record!.headers, DEAD_LETTER_HEADERS.attempts)!), "0");
    });
  });
});
