import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  type ConsumerMessage,
  createParallelConsumer,
  type HandlerContext,
  MessageFailedError,
  type Ordering,
  type ParallelConsumerOptions,
} from "../../mod.ts";
import { doneOffsets } from "../support/offset-map.ts";
import { MemoryAdapter, message, settle } from "../support/memory-adapter.ts";

const decoder = new TextDecoder();
const keyOf = (m: ConsumerMessage): string | null => (m.key === null ? null : decoder.decode(m.key));

function setup(options: Partial<ParallelConsumerOptions> & Pick<ParallelConsumerOptions, "handler">) {
  const adapter = new MemoryAdapter();
  const consumer = createParallelConsumer({
    kafka: { bootstrapBrokers: ["127.0.0.1:9092"], groupId: "g", topics: ["t"] },
    commitIntervalMs: 60_000,
    retry: { maxRetries: 0, initialBackoffMs: 0 },
    ...options,
    adapter,
  });
  return { adapter, consumer };
}

/** A handler whose calls complete only when the test says so. */
function gatedHandler() {
  interface Call {
    message: ConsumerMessage;
    context: HandlerContext;
    finish: (error?: Error) => void;
    settled: boolean;
  }
  const calls: Call[] = [];
  const handler = (message: ConsumerMessage, context: HandlerContext) =>
    new Promise<void>((resolve, reject) => {
      const call: Call = {
        message,
        context,
        settled: false,
        finish: (error) => {
          call.settled = true;
          if (error) reject(error);
          else resolve();
        },
      };
      calls.push(call);
    });
  const running = () => calls.map((call) => Number(call.message.offset));
  return { calls, handler, running };
}

describe("control plane", () => {
  test("key order: one message per key at a time, in offset order; other keys run alongside", async () => {
    const gate = gatedHandler();
    const { adapter, consumer } = setup({ handler: gate.handler });
    await consumer.start();
    adapter.assign({ topic: "t", partition: 0 });
    adapter.deliver(message(0, 0, "a"), message(0, 1, "b"), message(0, 2, "a"), message(0, 3, "c"));
    await settle();
    assert.deepEqual(gate.running(), [0, 1, 3]);
    gate.calls[0]!.finish();
    await settle();
    assert.deepEqual(gate.running(), [0, 1, 3, 2]);
    for (const call of gate.calls.slice(1)) call.finish();
    await consumer.close();
    assert.equal(adapter.committed.get("t:0"), 4n);
  });

  test("partition order runs one message per partition; unordered and null keys run freely", async () => {
    const cases: [Ordering, (string | null)[], number[]][] = [
      ["partition", ["a", "b", "c"], [0]],
      ["unordered", ["a", "a", "a"], [0, 1, 2]],
      ["key", [null, null, "a"], [0, 1, 2]],
    ];
    for (const [ordering, keys, expected] of cases) {
      const gate = gatedHandler();
      const { adapter, consumer } = setup({ handler: gate.handler, ordering });
      await consumer.start();
      adapter.deliver(...keys.map((key, offset) => message(0, offset, key)));
      await settle();
      assert.deepEqual(gate.running(), expected, ordering);
      while (gate.calls.some((call) => call.finish !== undefined)) {
        const pending = gate.calls.splice(0);
        if (pending.length === 0) break;
        for (const call of pending) call.finish();
        await settle();
      }
      await consumer.close();
      assert.equal(adapter.committed.get("t:0"), 3n, ordering);
    }
  });

  test("a completed offset above an incomplete one is a gap, not a commit", async () => {
    const gate = gatedHandler();
    const { adapter, consumer } = setup({ handler: gate.handler, ordering: "unordered" });
    await consumer.start();
    adapter.deliver(message(0, 7, "a"), message(0, 8, "b"), message(0, 9, "c"));
    await settle();
    gate.calls[1]!.finish();
    gate.calls[2]!.finish();
    await settle();
    const [partition] = consumer.getMetrics().partitions;
    assert.equal(partition!.blockingOffset, 7n);
    assert.equal(partition!.gapCount, 1);
    assert.equal(partition!.trueLag, 3);
    assert.equal(partition!.inFlight, 1);
    assert.equal(partition!.highestContiguousOffset, 6n);
    gate.calls[0]!.finish();
    await consumer.close();
    assert.equal(adapter.committed.get("t:0"), 10n);
    const after = consumer.getMetrics().partitions[0]!;
    assert.equal(after.committedOffset, 10n);
    assert.equal(after.highestContiguousOffset, 9n);
    assert.equal(after.lastFetchedOffset, 9n);
  });

  test("backpressure pauses fetching at maxInFlight and resumes below 80% of it", async () => {
    const gate = gatedHandler();
    const { adapter, consumer } = setup({ handler: gate.handler, maxInFlight: 10, ordering: "unordered" });
    await consumer.start();
    adapter.deliver(...Array.from({ length: 10 }, (_, offset) => message(0, offset, null)));
    await settle();
    assert.equal(adapter.paused, true);
    assert.equal(consumer.getMetrics().isPaused, true);
    assert.equal(consumer.getMetrics().pauseReason, "maxInFlight");
    assert.equal(consumer.getMetrics().totalInFlight, 10);
    gate.calls[0]!.finish();
    await settle();
    assert.equal(adapter.paused, true, "9 in flight is above the low-water mark of 8");
    gate.calls[1]!.finish();
    await settle();
    assert.equal(adapter.paused, false);
    assert.equal(consumer.getMetrics().isPaused, false);
    assert.equal(adapter.pauses, 1);
    for (const call of gate.calls.slice(2)) call.finish();
    await consumer.close();
  });

  test("a failed attempt is retried with attempt numbers; later messages of the key wait, others do not", async () => {
    const attempts: string[] = [];
    let failuresLeft = 2;
    const { adapter, consumer } = setup({
      retry: { maxRetries: 3, initialBackoffMs: 5, maxBackoffMs: 5 },
      handler: (m, context) => {
        attempts.push(`${m.offset}/${keyOf(m)}#${context.attempt}`);
        if (m.offset === 0n && failuresLeft-- > 0) throw new Error("flaky");
      },
    });
    await consumer.start();
    adapter.deliver(message(0, 0, "a"), message(0, 1, "a"), message(0, 2, "b"));
    await settle(50);
    assert.deepEqual(attempts, ["0/a#1", "2/b#1", "0/a#2", "0/a#3", "1/a#1"]);
    assert.equal(consumer.getMetrics().failedAttemptsTotal, 2);
    await consumer.close();
    assert.equal(adapter.committed.get("t:0"), 3n);
  });

  test("failurePolicy stop: the error names the message, the consumer closes, the offset stays uncommitted", async () => {
    const errors: Error[] = [];
    const { adapter, consumer } = setup({
      retry: { maxRetries: 1, initialBackoffMs: 0 },
      handler: (m) => {
        if (m.offset === 1n) throw new Error("poison");
      },
    });
    consumer.on("error", (error) => errors.push(error));
    await consumer.start();
    adapter.deliver(message(0, 0, "a"), message(0, 1, "b"), message(0, 2, "c"));
    await settle(20);
    assert.equal(errors.length, 1);
    const failure = errors[0]!;
    assert.ok(failure instanceof MessageFailedError);
    assert.equal(failure.offset, 1n);
    assert.equal(failure.attempts, 2);
    assert.equal((failure.cause as Error).message, "poison");
    await consumer.close();
    assert.equal(adapter.closed, true);
    assert.equal(adapter.committed.get("t:0"), 1n);
  });

  test("failurePolicy skip: the error is emitted and the offset completes", async () => {
    const errors: Error[] = [];
    const { adapter, consumer } = setup({
      failurePolicy: "skip",
      handler: (m) => {
        if (m.offset === 0n) throw new Error("bad record");
      },
    });
    consumer.on("error", (error) => errors.push(error));
    await consumer.start();
    adapter.deliver(message(0, 0, "a"), message(0, 1, "a"));
    await settle();
    await consumer.close();
    assert.equal(errors.length, 1);
    assert.equal(adapter.committed.get("t:0"), 2n);
  });

  test("completions from a revoked epoch are ignored, also when the partition comes back", async () => {
    const gate = gatedHandler();
    const { adapter, consumer } = setup({ handler: gate.handler, maxRevokeGraceMs: 0 });
    await consumer.start();
    adapter.assign({ topic: "t", partition: 0 });
    adapter.deliver(message(0, 0, "a"), message(0, 1, "b"));
    await settle();
    const [old0, old1] = gate.calls.splice(0);
    adapter.revoke({ topic: "t", partition: 0 });
    await settle();
    assert.equal(old0!.context.signal.aborted, true, "the old epoch's work is told to stop");
    assert.equal(consumer.getMetrics().totalInFlight, 0);
    // The partition comes back to this consumer: a fresh state, starting from the commit.
    adapter.assign({ topic: "t", partition: 0, committedOffset: null, committedMetadata: null });
    adapter.deliver(message(0, 0, "a"), message(0, 1, "b"));
    await settle();
    assert.equal(gate.calls.length, 2);
    old1!.finish();
    old0!.finish();
    await settle();
    const partition = consumer.getMetrics().partitions[0]!;
    assert.equal(partition.blockingOffset, 0n, "old completions did not complete the new epoch's offsets");
    assert.equal(partition.inFlight, 2);
    assert.equal(consumer.getMetrics().processedTotal, 0);
    for (const call of gate.calls) call.finish();
    await consumer.close();
    assert.equal(adapter.committed.get("t:0"), 2n);
    assert.equal(consumer.getMetrics().processedTotal, 2);
  });

  test("close drains queued work, commits and closes the adapter; a failed commit is retried", async () => {
    const done: number[] = [];
    const { adapter, consumer } = setup({
      engine: { kind: "async", concurrency: 1 },
      handler: async (m) => {
        await settle(1);
        done.push(Number(m.offset));
      },
    });
    await consumer.start();
    adapter.deliver(...Array.from({ length: 5 }, (_, offset) => message(0, offset, `k${offset}`)));
    adapter.failNextCommits = 1;
    await consumer.close();
    assert.deepEqual(done, [0, 1, 2, 3, 4]);
    assert.equal(adapter.committed.get("t:0"), 5n);
    assert.equal(adapter.closed, true);
    assert.equal(consumer.getMetrics().commitFailuresTotal, 1);
  });

  // A broker restarting answered NOT_COORDINATOR for a second or two: a caught-up consumer brought a
  // commit forward at every message it finished, and reported each failure (39 errors in 2 s).
  test("while commits fail, finishing a message brings no commit forward: the regular tick retries", async () => {
    // Early ticks come two at once, then one per quarter interval (500 ms here), regular ones every
    // 2 s: the second message finishes between the two, with a second and more to spare on either side.
    const { adapter, consumer } = setup({ commitIntervalMs: 2_000, handler: () => {} });
    const failures: Error[] = [];
    consumer.on("error", (error) => void failures.push(error));
    await consumer.start();
    const started = performance.now();
    const until = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms - (performance.now() - started)));
    adapter.failNextCommits = 1;
    adapter.deliver(message(0, 0, "a")); // caught up at once: its commit goes out now, and fails
    await settle(20);
    assert.equal(failures.length, 1);
    await until(600);
    adapter.deliver(message(0, 1, "b")); // caught up again, with commits failing: no early commit
    await until(800);
    const committedOffsets = () => adapter.commits.map((offsets) => offsets.map(({ offset }) => offset));
    assert.deepEqual(committedOffsets(), [], "nothing committed early");
    await until(2_300);
    assert.deepEqual(committedOffsets(), [[2n]], "the regular tick did");
    // Commits go through again: a caught-up consumer commits early again.
    adapter.deliver(message(0, 2, "c"));
    await settle(20);
    assert.equal(adapter.committed.get("t:0"), 3n);
    await consumer.close();
    assert.equal(failures.length, 1);
  });

  // The window emptied while fetched messages still waited in the partition's buffer: that was
  // taken for caught up, and its early commit spent the budget the real end needed.
  test("caught up means nothing admitted and nothing buffered: one early commit, at the end", async () => {
    const gate = gatedHandler();
    const { adapter, consumer } = setup({
      commitIntervalMs: 10_000,
      maxInFlight: 4,
      ordering: "unordered",
      handler: gate.handler,
    });
    await consumer.start();
    adapter.deliver(...Array.from({ length: 12 }, (_, offset) => message(0, offset, null)));
    let commits: bigint[][];
    try {
      // Each round, the four admitted messages end together: the window is empty, the buffer is not.
      for (let round = 1; round <= 3; round++) {
        await settle();
        assert.deepEqual(gate.running().slice(-4), [0, 1, 2, 3].map((i) => 4 * (round - 1) + i));
        for (const call of gate.calls.slice(-4)) call.finish();
      }
      await settle(20);
      commits = adapter.commits.map((offsets) => offsets.map(({ offset }) => offset));
    } finally {
      for (const call of gate.calls) if (!call.settled) call.finish();
      await consumer.close();
    }
    assert.equal(consumer.getMetrics().processedTotal, 12);
    assert.deepEqual(commits, [[12n]]);
  });

  test("close gives up on work that outlives drainTimeoutMs and aborts its signal", async () => {
    let signal: AbortSignal | undefined;
    const { adapter, consumer } = setup({
      drainTimeoutMs: 20,
      handler: (_m, context) => {
        signal = context.signal;
        return new Promise<void>(() => {});
      },
    });
    await consumer.start();
    adapter.deliver(message(0, 0, "a"));
    await settle();
    await consumer.close();
    assert.equal(signal?.aborted, true);
    assert.equal(adapter.committed.has("t:0"), false, "nothing completed, nothing committed");
  });

  test("a revoked partition's running work may finish within the grace; nothing of it is committed", async () => {
    const gate = gatedHandler();
    const { adapter, consumer } = setup({ handler: gate.handler, maxRevokeGraceMs: 5_000 });
    await consumer.start();
    adapter.assign({ topic: "t", partition: 0 });
    adapter.deliver(message(0, 0, "a"), message(0, 1, "a"), message(0, 2, "b"));
    await settle();
    assert.deepEqual(gate.running(), [0, 2]);
    adapter.revoke({ topic: "t", partition: 0 });
    gate.calls[0]!.finish();
    await settle();
    assert.deepEqual(gate.running(), [0, 2], "offset 1 of the revoked partition did not start");
    assert.equal(gate.calls[1]!.context.signal.aborted, false, "running work gets the grace");
    gate.calls[1]!.finish();
    await settle();
    // The new owner may already commit: a late commit from here would move the offset back.
    assert.equal(adapter.commits.length, 0);
    assert.equal(consumer.getMetrics().totalInFlight, 0);
    assert.equal(consumer.getMetrics().partitions.length, 0);
    await consumer.close();
    assert.equal(adapter.commits.length, 0);
  });

  test("the commit at rebalance start is sent within the call, with the offset map", async () => {
    const gate = gatedHandler();
    const { adapter, consumer } = setup({ handler: gate.handler, ordering: "unordered" });
    await consumer.start();
    adapter.assign({ topic: "t", partition: 0 });
    adapter.deliver(message(0, 0, "a"), message(0, 1, "b"), message(0, 2, "c"));
    await settle();
    gate.calls[0]!.finish();
    gate.calls[2]!.finish();
    await settle();
    adapter.listener!.rebalancing();
    assert.equal(adapter.commits.length, 1, "sent synchronously, before the member rejoins");
    assert.equal(adapter.committed.get("t:0"), 1n);
    assert.deepEqual(doneOffsets(adapter.committedMetadata.get("t:0"), 1), [2]);
    gate.calls[1]!.finish();
    await consumer.close();
  });

  test("the offset map survives a restart: a new owner runs only the unfinished offsets", async () => {
    const first = gatedHandler();
    const { adapter, consumer } = setup({ handler: first.handler, ordering: "unordered", drainTimeoutMs: 10 });
    await consumer.start();
    adapter.assign({ topic: "t", partition: 0 });
    adapter.deliver(...[0, 1, 2, 3, 4].map((offset) => message(0, offset, `k${offset}`)));
    await settle();
    for (const offset of [1, 2, 4]) first.calls[offset]!.finish();
    await consumer.close(); // offsets 0 and 3 never finish
    assert.equal(adapter.committed.get("t:0"), 0n);
    assert.match(adapter.committedMetadata.get("t:0")!, /^pc1/);

    const ran: number[] = [];
    const restarted = createParallelConsumer({
      kafka: { bootstrapBrokers: ["127.0.0.1:9092"], groupId: "g", topics: ["t"] },
      ordering: "unordered",
      adapter,
      handler: (m) => {
        ran.push(Number(m.offset));
      },
    });
    await restarted.start();
    adapter.assign({ topic: "t", partition: 0 });
    adapter.deliver(...[0, 1, 2, 3, 4, 5].map((offset) => message(0, offset, `k${offset}`)));
    await settle();
    await restarted.close();
    assert.deepEqual(ran.sort(), [0, 3, 5]);
    assert.equal(adapter.committed.get("t:0"), 6n);
    assert.equal(adapter.committedMetadata.get("t:0"), "");
  });

  test("work in flight is held to what the offset map can still hold: every finished offset is in the next commit", async () => {
    const gate = gatedHandler();
    const { adapter, consumer } = setup({
      handler: gate.handler,
      ordering: "unordered",
      maxCommitMetadataBytes: 64,
      commitIntervalMs: 5,
      retry: { maxRetries: 1, initialBackoffMs: 0 },
      engine: { kind: "async", concurrency: 1000 },
    });
    await consumer.start();
    adapter.assign({ topic: "t", partition: 0 });
    adapter.deliver(...Array.from({ length: 400 }, (_, offset) => message(0, offset, null)));
    await settle();
    // 400 offsets with 0 stuck: a map of every other one would take ~400 bits, more than 64
    // characters hold, so only as many start as could each add a done range and still fit.
    const firstWave = gate.calls.length;
    assert.ok(firstWave > 1 && firstWave < 40, `${firstWave} started`);
    assert.equal(consumer.getMetrics().partitions[0]!.pauseReason, "commitMetadataFull");
    const finished = new Set<number>();
    const running = () => gate.calls.filter((call) => !call.settled);
    // Even offsets (not 0) finish as soon as they run, odd ones keep running: a done range per
    // even offset, wave after wave, until the map has no room left. Each commit lists them all.
    let calls = -1;
    for (let wave = 0; wave < 100 && gate.calls.length !== calls; wave++) {
      calls = gate.calls.length;
      for (const call of running()) {
        if (call.message.offset === 0n || call.message.offset % 2n === 1n) continue;
        finished.add(Number(call.message.offset));
        call.finish();
      }
      await settle(10);
      assert.equal(adapter.committed.get("t:0"), 0n);
      const metadata = adapter.committedMetadata.get("t:0") ?? "";
      assert.ok(metadata.length <= 64, `map of ${metadata.length} characters`);
      assert.deepEqual(doneOffsets(metadata, 0), [...finished].sort((a, b) => a - b), `wave ${wave}`);
    }
    assert.ok(finished.size > firstWave / 2 && gate.calls.length < 200, `${gate.calls.length} started`);
    assert.equal(consumer.getMetrics().partitions[0]!.pauseReason, "commitMetadataFull");
    const started = gate.calls.length;
    adapter.deliver(message(0, 400, null), message(0, 401, null));
    await settle(20);
    assert.equal(gate.calls.length, started, "new offsets do not start while the map is full");
    // The blocking offset fails once: its retry may start, as it is what unblocks the map.
    gate.calls.find((call) => call.message.offset === 0n)!.finish(new Error("transient"));
    await settle(20);
    const retry = gate.calls.slice(started).find((call) => call.message.offset === 0n);
    assert.equal(retry?.context.attempt, 2);
    // Queued for its retry, 0 had left the work started: one other message may have taken its place.
    assert.ok(gate.calls.length - started <= 2, `${gate.calls.length - started} started`);
    retry.finish();
    // The rest runs once each as the map allows.
    for (let wave = 0; wave < 200 && adapter.committed.get("t:0") !== 402n; wave++) {
      for (const call of running()) call.finish();
      await settle(10);
      assert.ok((adapter.committedMetadata.get("t:0") ?? "").length <= 64);
    }
    await consumer.close();
    assert.equal(adapter.committed.get("t:0"), 402n);
    const offsets = gate.calls.map((call) => Number(call.message.offset));
    assert.equal(offsets.length, 403, "every offset once, 0 twice");
    assert.deepEqual(new Set(offsets).size, 402);
  });

  test("maxInFlightBytes pauses fetching on payload size", async () => {
    const gate = gatedHandler();
    const { adapter, consumer } = setup({ handler: gate.handler, maxInFlightBytes: 20, ordering: "unordered" });
    await consumer.start();
    adapter.deliver(message(0, 0, "k"), message(0, 1, "k")); // 1 + 3 bytes each ("0:0")
    await settle();
    assert.equal(adapter.paused, false);
    adapter.deliver(...[2, 3, 4].map((offset) => message(0, offset, "k")));
    await settle();
    assert.equal(consumer.getMetrics().pauseReason, "maxInFlightBytes");
    assert.equal(consumer.getMetrics().inFlightBytes, 20);
    gate.calls[0]!.finish();
    await settle();
    assert.equal(adapter.paused, false, "16 bytes is at the 80% low-water mark");
    for (const call of gate.calls.slice(1)) call.finish();
    await consumer.close();
  });

  test("a stall names the partition, offset and key once, in an event, a log line and a counter", async () => {
    const gate = gatedHandler();
    const lines: string[] = [];
    const stalls: unknown[] = [];
    const { adapter, consumer } = setup({
      handler: gate.handler,
      stallThresholdMs: 30,
      commitIntervalMs: 10,
      logger: { warn: (line) => lines.push(line) },
    });
    consumer.on("stall", (event) => stalls.push(event));
    await consumer.start();
    adapter.deliver(message(0, 5, "order-17"), message(0, 6, "order-18"));
    await settle(100);
    assert.equal(stalls.length, 1);
    assert.deepEqual({ ...(stalls[0] as object), blockingDurationSec: 0 }, {
      topic: "t",
      partition: 0,
      offset: 5n,
      key: new TextEncoder().encode("order-17"),
      blockingDurationSec: 0,
    });
    assert.match(lines[0]!, /t\[0\] commit blocked at offset 5 \(key "order-17"\)/);
    assert.equal(consumer.getMetrics().stallsTotal, 1);
    for (const call of gate.calls) call.finish();
    await consumer.close();
  });

  test("a rebalance starting triggers a commit of completed work", async () => {
    const { adapter, consumer } = setup({ handler: () => {} });
    await consumer.start();
    adapter.deliver(message(0, 0, "a"), message(0, 1, "b"));
    await settle();
    assert.equal(adapter.commits.length, 0);
    adapter.listener!.rebalancing();
    await settle();
    assert.equal(adapter.committed.get("t:0"), 2n);
    await consumer.close();
  });

  test("property: random timing never runs a key twice at once, never reorders a key, never commits past unfinished work", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          ordering: fc.constantFrom<Ordering>("key", "partition", "unordered"),
          concurrency: fc.integer({ min: 1, max: 8 }),
          maxInFlight: fc.integer({ min: 1, max: 20 }),
          messages: fc.array(
            fc.record({
              partition: fc.nat({ max: 2 }),
              key: fc.option(fc.constantFrom("a", "b", "c", "d"), { freq: 5 }),
            }),
            { minLength: 1, maxLength: 60 },
          ),
          delays: fc.array(fc.nat({ max: 6 }), { minLength: 60, maxLength: 60 }),
          failures: fc.array(fc.boolean(), { minLength: 60, maxLength: 60 }),
        }),
        async ({ ordering, concurrency, maxInFlight, messages, delays, failures }) => {
          const nextOffset = [0, 0, 0];
          const batch = messages.map(({ partition, key }) => message(partition, nextOffset[partition]!++, key));
          const completed = new Set<string>();
          const runningLanes = new Set<string>();
          const lastOffsetOfLane = new Map<string, number>();
          const violations: string[] = [];
          let calls = 0;
          const { adapter, consumer } = setup({
            ordering,
            maxInFlight,
            commitIntervalMs: 1,
            engine: { kind: "async", concurrency },
            retry: { maxRetries: 2, initialBackoffMs: 0 },
            handler: async (m, context) => {
              const call = calls++;
              const key = keyOf(m);
              const lane = ordering === "partition"
                ? `${m.partition}`
                : ordering === "key" && key !== null
                ? `${m.partition}/${key}`
                : null;
              if (lane !== null) {
                if (runningLanes.has(lane)) violations.push(`lane ${lane} ran twice at once`);
                if (context.attempt === 1 && (lastOffsetOfLane.get(lane) ?? -1) >= Number(m.offset)) {
                  violations.push(`lane ${lane} went back to offset ${m.offset}`);
                }
                runningLanes.add(lane);
                lastOffsetOfLane.set(lane, Number(m.offset));
              }
              for (let i = 0; i < delays[call % delays.length]!; i++) await Promise.resolve();
              if (lane !== null) runningLanes.delete(lane);
              // Fail some first attempts: the retry must keep the lane's order.
              if (context.attempt === 1 && failures[call % failures.length]) throw new Error("transient");
              completed.add(`t:${m.partition}:${m.offset}`);
            },
          });
          adapter.onCommit = (offsets) => {
            for (const { partition, offset } of offsets) {
              for (let o = 0; o < Number(offset); o++) {
                if (
                  batch.some((m) => m.partition === partition && Number(m.offset) === o) &&
                  !completed.has(`t:${partition}:${o}`)
                ) {
                  violations.push(`committed ${partition}@${offset} before offset ${o} completed`);
                }
              }
            }
          };
          await consumer.start();
          // Deliver in chunks while respecting pauses, as a fetch loop would.
          let next = 0;
          while (next < batch.length) {
            if (!adapter.paused) adapter.deliver(batch[next++]!);
            await settle();
          }
          await consumer.close();
          assert.deepEqual(violations, []);
          assert.equal(completed.size, batch.length);
          for (const p of [0, 1, 2]) {
            if (nextOffset[p]! > 0) assert.equal(adapter.committed.get(`t:${p}`), BigInt(nextOffset[p]!));
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  // Defect 7: a thenable that throws in then(), or never calls back, threw out of the pump.
  test("handlers may return any thenable: a throwing then() fails the attempt, a silent one keeps it running", async () => {
    const throwing = {
      then: () => {
        throw new Error("then() threw");
      },
    };
    const silent = { then: () => undefined };
    const resolving = { then: (resolve: () => void) => resolve() };
    const ran: number[] = [];
    const { adapter, consumer } = setup({
      ordering: "unordered",
      failurePolicy: "skip",
      drainTimeoutMs: 10,
      handler: ((m: ConsumerMessage) => {
        ran.push(Number(m.offset));
        return [throwing, silent, resolving, undefined][Number(m.offset) % 4];
      }) as unknown as ParallelConsumerOptions["handler"],
    });
    const errors: Error[] = [];
    consumer.on("error", (error) => errors.push(error));
    await consumer.start();
    adapter.assign({ topic: "t", partition: 0 });
    adapter.deliver(...[0, 1, 2, 3, 4, 5, 6, 7].map((offset) => message(0, offset, null)));
    await settle(5);
    assert.deepEqual(ran, [0, 1, 2, 3, 4, 5, 6, 7], "the rest of the batch ran");
    assert.equal(consumer.getMetrics().processing, 2, "the two silent thenables keep running");
    assert.equal(errors.length, 2);
    assert.match(String((errors[0]!.cause as Error).message), /then\(\) threw/);
    await consumer.close();
    assert.equal(adapter.committed.get("t:0"), 1n, "offset 1 never finished: nothing at or above it is committed");
  });

  // Defect 13: close() during start() did not wait for it; start() resolved as if nothing happened.
  test("close() during start(): start rejects, the adapter ends closed, nothing is consumed", async () => {
    const adapter = new MemoryAdapter();
    let release!: () => void;
    const joined = new Promise<void>((resolve) => (release = resolve));
    adapter.start = async (listener) => {
      adapter.listener = listener;
      await joined;
    };
    const consumer = createParallelConsumer({
      kafka: { bootstrapBrokers: ["127.0.0.1:9092"], groupId: "g", topics: ["t"] },
      commitIntervalMs: 5,
      handler: () => {},
      adapter,
    });
    const started = consumer.start();
    const closed = consumer.close();
    release();
    await assert.rejects(started, /close\(\) was called while start\(\) was in progress/);
    await closed;
    assert.equal(adapter.closed, true);
    await settle(20);
    assert.equal(adapter.commits.length, 0, "no commit tick runs after close");
    await assert.rejects(consumer.start(), /the consumer is closed: .*create a new one/);
  });

  test("messages fetched while start() is still joining run once it resolves, even with their partition held", async () => {
    const adapter = new MemoryAdapter();
    const join = adapter.start.bind(adapter);
    // The assignment and a fetch land before the join returns (a heartbeat can bring both).
    adapter.start = async (listener) => {
      await join(listener);
      adapter.assign({ topic: "t", partition: 0 });
      adapter.deliver(...Array.from({ length: 8 }, (_, offset) => message(0, offset, `k${offset}`)));
    };
    const handled: bigint[] = [];
    const consumer = createParallelConsumer({
      kafka: { bootstrapBrokers: ["127.0.0.1:9092"], groupId: "g", topics: ["t"] },
      // A buffer of 4 messages at most: the partition is held at once, so no later fetch wakes anything.
      maxInFlight: 4,
      handler: (m) => {
        handled.push(m.offset);
      },
      adapter,
    });
    await consumer.start();
    await settle(20);
    assert.deepEqual(handled, [0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n]);
    await consumer.close();
  });

  test("close() before start() finished joining, when the join then fails: start rejects with the join error", async () => {
    const adapter = new MemoryAdapter();
    let fail!: (error: Error) => void;
    adapter.start = () => new Promise((_resolve, reject) => (fail = reject));
    const consumer = createParallelConsumer({
      kafka: { bootstrapBrokers: ["127.0.0.1:9092"], groupId: "g", topics: ["t"] },
      handler: () => {},
      adapter,
    });
    const started = consumer.start();
    await settle();
    const closed = consumer.close();
    fail(new Error("could not join"));
    await assert.rejects(started, /could not join/);
    await closed;
    assert.equal(adapter.closed, true);
  });

  // Defect 10: done offsets left the in-flight budget, so one stuck offset let the window grow without bound.
  test("a partition whose uncommitted window reaches maxUncommittedOffsets stops being fetched; others go on", async () => {
    const gate = gatedHandler();
    const { adapter, consumer } = setup({
      ordering: "unordered",
      maxUncommittedOffsets: 10,
      handler: (m, context) => (m.offset === 0n && m.partition === 0 ? gate.handler(m, context) : undefined),
    });
    await consumer.start();
    adapter.assign({ topic: "t", partition: 0 }, { topic: "t", partition: 1 });
    adapter.deliver(...Array.from({ length: 12 }, (_, offset) => message(0, offset, null)));
    adapter.deliver(...Array.from({ length: 12 }, (_, offset) => message(1, offset, null)));
    await settle();
    assert.deepEqual([...adapter.pausedPartitions], ["t:0"]);
    const metrics = consumer.getMetrics();
    const held = metrics.partitions.find((p) => p.partition === 0)!;
    assert.equal(held.pauseReason, "maxUncommittedOffsets");
    assert.equal(held.uncommittedOffsets, 12);
    assert.equal(metrics.partitions.find((p) => p.partition === 1)!.pauseReason, null);
    assert.equal(metrics.isPaused, false, "the consumer as a whole keeps fetching");
    gate.calls[0]!.finish();
    await settle();
    assert.deepEqual([...adapter.pausedPartitions], [], "fetched again once the window shrank");
    assert.equal(consumer.getMetrics().partitions.find((p) => p.partition === 0)!.pauseReason, null);
    await consumer.close();
  });

  // To verify: one shared AbortSignal per partition collected the abort listeners of every attempt.
  test("every attempt has its own signal, with or without handlerTimeoutMs; closing aborts the running ones", async () => {
    for (const handlerTimeoutMs of [undefined, 60_000]) {
      const signals: AbortSignal[] = [];
      let hold = false;
      const { adapter, consumer } = setup({
        drainTimeoutMs: 5,
        ...(handlerTimeoutMs === undefined ? {} : { handlerTimeoutMs }),
        handler: (_m, { signal }) => {
          signals.push(signal);
          signal.addEventListener("abort", () => {});
          return hold ? new Promise<void>(() => {}) : undefined;
        },
      });
      await consumer.start();
      adapter.assign({ topic: "t", partition: 0 });
      adapter.deliver(...[0, 1, 2].map((offset) => message(0, offset, "k")));
      await settle();
      hold = true;
      adapter.deliver(message(0, 3, "k"));
      await settle();
      assert.equal(new Set(signals).size, 4, `distinct signals (handlerTimeoutMs ${handlerTimeoutMs})`);
      assert.deepEqual(signals.map((signal) => signal.aborted), [false, false, false, false]);
      await consumer.close();
      assert.equal(signals[3]!.aborted, true);
      assert.equal((signals[3]!.reason as Error).name, "ConsumerClosedError");
      assert.equal(signals[0]!.aborted, false, "finished attempts are not aborted later");
    }
  });

  // To verify: one partition refused by the broker failed the whole commit and close().
  test("a partition the broker refuses does not hold back the others' commits; close names only it", async () => {
    const { adapter, consumer } = setup({ handler: () => {} });
    const errors: Error[] = [];
    consumer.on("error", (error) => errors.push(error));
    await consumer.start();
    adapter.assign({ topic: "t", partition: 0 }, { topic: "t", partition: 1 });
    adapter.deliver(message(0, 0, "a"), message(1, 0, "b"));
    await settle();
    adapter.refusePartitions.add("t:1");
    await assert.rejects(
      consumer.close(),
      (error: Error) => /t\[1\]/.test(error.message) && !/t\[0\]/.test(error.message),
    );
    assert.equal(adapter.committed.get("t:0"), 1n);
    assert.equal(adapter.committed.has("t:1"), false);
    assert.ok(errors.every((error) => error.name === "CommitFailedError"));
  });
});
