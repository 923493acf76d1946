// Batch handlers through the control plane and the async engine (in-memory adapter): how batches
// are built from the ready messages and key lanes, how long they wait, and what happens when one
// fails or is aborted. The property test at the end drives random deliveries and completions.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  type ConsumerMessage,
  createParallelConsumer,
  type HandlerContext,
  HandlerTimeoutError,
  MessageFailedError,
  type Ordering,
  type ParallelConsumerOptions,
  type PyrallelError,
} from "../../mod.ts";
import { headerValue } from "../support/headers.ts";
import { MemoryAdapter, message, settle } from "../support/memory-adapter.ts";
import { resolveOptions } from "../../src/config/options.ts";
import { type Clock, systemClock } from "../../src/core/clock.ts";
import { composeConsumer } from "../../src/consumer.ts";
import { VirtualClock } from "../simulation/virtual-clock.ts";

const decoder = new TextDecoder();
const text = (bytes: Uint8Array | null): string | null => (bytes === null ? null : decoder.decode(bytes));

type Options = Partial<ParallelConsumerOptions> & Pick<ParallelConsumerOptions, "batchHandler">;

function setup(options: Options) {
  const adapter = new MemoryAdapter();
  const errors: PyrallelError[] = [];
  const consumer = createParallelConsumer({
    kafka: { bootstrapBrokers: ["127.0.0.1:9092"], groupId: "g", topics: ["t"] },
    commitIntervalMs: 60_000,
    retry: { maxRetries: 0, initialBackoffMs: 0 },
    batch: { maxMessages: 100, maxWaitMs: 0 },
    ...options,
    adapter,
  });
  consumer.on("error", (error) => void errors.push(error));
  return { adapter, consumer, errors };
}

/** A batch handler whose calls complete only when the test says so. */
function gatedBatches() {
  const calls: {
    offsets: number[];
    keys: (string | null)[];
    context: HandlerContext;
    finish: (error?: Error) => void;
    done: boolean;
  }[] = [];
  const batchHandler = (messages: readonly ConsumerMessage[], context: HandlerContext) =>
    new Promise<void>((resolve, reject) => {
      const call = {
        offsets: messages.map((m) => Number(m.offset)),
        keys: messages.map((m) => text(m.key)),
        context,
        done: false,
        finish: (error?: Error) => {
          call.done = true;
          if (error) reject(error);
          else resolve();
        },
      };
      calls.push(call);
    });
  const running = () => calls.filter((call) => !call.done);
  return { calls, batchHandler, running };
}

/**
 * A gated batch handler under a per-key rate limit (a burst of 2 tokens, then 1 a second; no global
 * limit) given `messages`: the batches running at once, those running after the first one is done,
 * and the start pause reason then.
 */
async function throttledBatches(options: Partial<ParallelConsumerOptions>, ...messages: ConsumerMessage[]) {
  const gate = gatedBatches();
  const { adapter, consumer } = setup({
    ...options,
    batchHandler: gate.batchHandler,
    rateLimit: { perKey: { messagesPerSecond: 1, burst: 2 } },
    // close() would wait for the throttled messages: they are not the point here.
    drainTimeoutMs: 1,
  });
  await consumer.start();
  adapter.deliver(...messages);
  await settle();
  const first = gate.running().map((call) => call.offsets);
  gate.calls[0]!.finish();
  await settle();
  const after = gate.running().map((call) => call.offsets);
  const reason = consumer.getMetrics().startPauseReason;
  await consumer.close();
  return { first, after, reason };
}

describe("batch handlers", () => {
  test("a batch takes the ready messages and, behind each, the waiting messages of its key in a row", async () => {
    const gate = gatedBatches();
    const { adapter, consumer } = setup({ batchHandler: gate.batchHandler });
    await consumer.start();
    adapter.assign({ topic: "t", partition: 0 });
    adapter.deliver(...["a", "b", "a", "c", "b", "a"].map((key, offset) => message(0, offset, key)));
    await settle();
    assert.equal(gate.calls.length, 1);
    assert.deepEqual(gate.calls[0]!.keys, ["a", "a", "a", "b", "b", "c"]);
    assert.deepEqual(gate.calls[0]!.offsets, [0, 2, 5, 1, 4, 3]);
    gate.calls[0]!.finish();
    await settle();
    const metrics = consumer.getMetrics();
    assert.equal(metrics.processedTotal, 6);
    assert.equal(metrics.batchesProcessedTotal, 1);
    assert.equal(metrics.batchSize.count, 1);
    assert.equal(metrics.batchSize.sum, 6);
    await consumer.close();
    assert.equal(adapter.committed.get("t:0"), 6n);
  });

  test("a rate limit counts every message of a batch: a key's messages join only while its tokens last", async () => {
    const { first, after, reason } = await throttledBatches(
      {},
      ...[0, 1, 2, 3, 4].map((offset) => message(0, offset, "a")),
      message(0, 5, "b"),
    );
    assert.deepEqual(first, [[0, 1, 5]], "a's burst of 2, and b");
    assert.deepEqual(after, [], "a has no token left: 2, 3, 4 wait");
    assert.equal(reason, "rateLimit");
  });

  test("maxMessages caps a batch; a key's next batch starts only once its running one is done", async () => {
    const gate = gatedBatches();
    const { adapter, consumer } = setup({ batchHandler: gate.batchHandler, batch: { maxMessages: 2, maxWaitMs: 0 } });
    await consumer.start();
    adapter.deliver(...[0, 1, 2, 3, 4].map((offset) => message(0, offset, "a")), message(0, 5, "b"));
    await settle();
    assert.deepEqual(gate.running().map((call) => call.offsets), [[0, 1], [5]]);
    gate.calls[0]!.finish();
    await settle();
    assert.deepEqual(gate.running().map((call) => call.offsets), [[5], [2, 3]]);
    gate.calls[1]!.finish();
    gate.calls[2]!.finish();
    await settle();
    assert.deepEqual(gate.running().map((call) => call.offsets), [[4]]);
    gate.calls[3]!.finish();
    await consumer.close();
    assert.equal(adapter.committed.get("t:0"), 6n);
  });

  test("orderings: a partition is one lane; unordered messages fill batches side by side", async () => {
    const cases: [Ordering, number[][]][] = [
      ["partition", [[0, 1]]],
      ["unordered", [[0, 1], [2]]],
      ["key", [[0, 2], [1]]],
    ];
    for (const [ordering, expected] of cases) {
      const gate = gatedBatches();
      const { adapter, consumer } = setup({
        batchHandler: gate.batchHandler,
        ordering,
        batch: { maxMessages: 2, maxWaitMs: 0 },
      });
      await consumer.start();
      adapter.deliver(message(0, 0, "a"), message(0, 1, "b"), message(0, 2, "a"));
      await settle();
      assert.deepEqual(gate.running().map((call) => call.offsets), expected);
      while (gate.running().length > 0) {
        for (const call of gate.running()) call.finish();
        await settle();
      }
      await consumer.close();
      assert.equal(adapter.committed.get("t:0"), 3n, ordering);
    }
  });

  test("maxWaitMs: a partition waits for a fuller batch, then starts what it has", async () => {
    const gate = gatedBatches();
    const { adapter, consumer } = setup({ batchHandler: gate.batchHandler, batch: { maxMessages: 3, maxWaitMs: 80 } });
    await consumer.start();
    adapter.deliver(message(0, 0, "a"));
    await settle(10);
    assert.equal(gate.calls.length, 0, "one message is no full batch: it waits");
    adapter.deliver(message(0, 1, "b"));
    await settle(10);
    assert.equal(gate.calls.length, 0);
    adapter.deliver(message(0, 2, "c"), message(0, 3, "d"));
    await settle();
    assert.deepEqual(gate.calls.map((call) => call.offsets), [[0, 1, 2]], "full: it starts at once");
    await settle(120);
    assert.deepEqual(gate.calls.map((call) => call.offsets), [[0, 1, 2], [3]], "the rest starts after maxWaitMs");
    for (const call of gate.calls) call.finish();
    await consumer.close();
  });

  test("maxWaitMs: a timer that fires a little before the clock reaches the deadline still starts the batch", async () => {
    // Node's timers run on a millisecond loop clock: one may fire before performance.now() reaches its deadline.
    const early: Clock = { ...systemClock, setTimeout: (callback, ms) => systemClock.setTimeout(callback, ms / 2) };
    const adapter = new MemoryAdapter();
    const seen: number[][] = [];
    const consumer = composeConsumer(
      resolveOptions({
        kafka: { bootstrapBrokers: ["127.0.0.1:9092"], groupId: "g", topics: ["t"] },
        batchHandler: (messages) => void seen.push(messages.map((m) => Number(m.offset))),
        batch: { maxMessages: 10, maxWaitMs: 40 },
        commitIntervalMs: 60_000,
        adapter,
      }),
      { clock: early },
    );
    await consumer.start();
    adapter.deliver(message(0, 0, "a"));
    await settle(35);
    assert.deepEqual(seen, [[0]], "started when its timer fired, not at the next unrelated event");
    await consumer.close();
  });

  test("a failing batch is retried whole, then its messages are dead-lettered one by one; offsets complete after the publish", async () => {
    const attempts: { offsets: number[]; attempt: number }[] = [];
    const { adapter, consumer, errors } = setup({
      batchHandler: (messages, { attempt }) => {
        attempts.push({ offsets: messages.map((m) => Number(m.offset)), attempt });
        throw new Error("bulk insert refused");
      },
      retry: { maxRetries: 1, initialBackoffMs: 1, maxBackoffMs: 1 },
      deadLetter: {},
    });
    adapter.failNextPublishes = 1;
    await consumer.start();
    adapter.deliver(message(0, 0, "a"), message(0, 1, "a"), message(0, 2, "b"));
    await settle(30);
    assert.deepEqual(attempts, [{ offsets: [0, 1, 2], attempt: 1 }, { offsets: [0, 1, 2], attempt: 2 }]);
    const failed = errors.filter((error) => error instanceof MessageFailedError);
    assert.deepEqual(failed.map((error) => Number(error.offset)), [0, 1, 2]);
    assert.ok(errors.some((error) => error.code === "PYRALLEL_DEAD_LETTER_FAILED"), "the first publish failed");
    await settle(30);
    const headers = adapter.published.map((record) => record.headers);
    assert.deepEqual(headers.map((h) => text(headerValue(h, "pyrallel.source.offset") ?? null)), ["0", "1", "2"]);
    assert.deepEqual(headers.map((h) => text(headerValue(h, "pyrallel.attempts") ?? null)), ["2", "2", "2"]);
    assert.deepEqual(adapter.published.map((record) => text(record.key)), ["a", "a", "b"]);
    const metrics = consumer.getMetrics();
    assert.equal(metrics.deadLetteredTotal, 3);
    assert.equal(metrics.failedAttemptsTotal, 2, "one failed attempt per batch attempt");
    assert.equal(metrics.processedTotal, 0);
    await consumer.close();
    assert.equal(adapter.committed.get("t:0"), 3n);
  });

  test("in partition order each message of a batch takes its own key's tokens", async () => {
    const { first, after, reason } = await throttledBatches(
      { ordering: "partition" },
      message(0, 0, "a"),
      message(0, 1, "b"),
      message(0, 2, "b"),
      message(0, 3, "b"),
    );
    // Before, the messages behind the partition's first were charged to its key, a: [0, 1], then [2, 3]
    // at once, 3 starts of b against its burst of 2.
    assert.deepEqual(first, [[0, 1, 2]], "a's token, then b's 2");
    assert.deepEqual(after, [], "b has no token left: 3 waits");
    assert.equal(reason, "rateLimit");
  });

  test("a batch that runs again passes the rate limit: it waits for its first message's token and borrows the others'", async () => {
    const time = new VirtualClock();
    const adapter = new MemoryAdapter();
    const runs: { offsets: number[]; at: number }[] = [];
    const consumer = composeConsumer(
      resolveOptions({
        kafka: { bootstrapBrokers: ["127.0.0.1:9092"], groupId: "g", topics: ["t"] },
        batchHandler: (messages, { attempt }) => {
          runs.push({ offsets: messages.map((m) => Number(m.offset)), at: time.now });
          if (attempt === 1 && messages.length > 1) throw new Error("downstream busy");
        },
        batch: { maxMessages: 10, maxWaitMs: 0 },
        retry: { maxRetries: 1, initialBackoffMs: 1, maxBackoffMs: 1 },
        // A burst of 3, then one start a second.
        rateLimit: { messagesPerSecond: 1, burst: 3 },
        commitIntervalMs: 60_000,
        drainTimeoutMs: 1,
        adapter,
      }),
      { clock: time.clock("consumer") },
    );
    await consumer.start();
    adapter.deliver(message(0, 0, "a"), message(0, 1, "b"), message(0, 2, "c"));
    await time.runUntil(() => runs.length === 2, 60_000);
    assert.deepEqual(runs.map((run) => run.offsets), [[0, 1, 2], [0, 1, 2]]);
    assert.equal(runs[0]!.at, 0, "the burst's 3 tokens");
    // Before, a batch that ran again took no tokens: it ran 1 ms later, 3 starts beyond the limit.
    assert.ok(runs[1]!.at >= 1000, `the retry waits for a token: ran at ${runs[1]!.at} ms`);
    adapter.deliver(message(0, 3, "d"));
    await time.runUntil(() => runs.length === 3, 60_000);
    assert.ok(
      runs[2]!.at >= runs[1]!.at + 3000,
      `the next start waits until the 2 borrowed tokens are repaid: ${runs[2]!.at - runs[1]!.at} ms after the retry`,
    );
    const closed = consumer.close();
    await time.runUntil(() => time.pending("consumer") === 0, 120_000);
    await closed;
    assert.equal(adapter.committed.get("t:0"), 4n);
  });

  test("skip finishes every message of the failed batch; stop leaves them uncommitted", async () => {
    const skipping = setup({ batchHandler: () => Promise.reject(new Error("no")), failurePolicy: "skip" });
    await skipping.consumer.start();
    skipping.adapter.deliver(message(0, 0, "a"), message(0, 1, "b"));
    await settle(10);
    assert.equal(skipping.consumer.getMetrics().skippedTotal, 2);
    await skipping.consumer.close();
    assert.equal(skipping.adapter.committed.get("t:0"), 2n);

    const stopping = setup({ batchHandler: () => Promise.reject(new Error("no")), failurePolicy: "stop" });
    await stopping.consumer.start();
    stopping.adapter.deliver(message(0, 0, "a"), message(0, 1, "b"));
    await settle(10);
    await stopping.consumer.close();
    assert.equal(stopping.consumer.getMetrics().pauseReason, "failed");
    assert.equal(stopping.errors.filter((error) => error instanceof MessageFailedError).length, 2);
    assert.equal(stopping.adapter.committed.get("t:0") ?? 0n, 0n);
  });

  test("a handler timeout aborts the whole batch's signal, and the batch runs again as a whole", async () => {
    const seen: { offsets: number[]; attempt: number; reason?: unknown }[] = [];
    const { adapter, consumer } = setup({
      batchHandler: (messages, { signal, attempt }) => {
        const entry: (typeof seen)[number] = { offsets: messages.map((m) => Number(m.offset)), attempt };
        seen.push(entry);
        if (attempt > 1) return;
        return new Promise<void>((resolve) => {
          signal.addEventListener("abort", () => {
            entry.reason = signal.reason;
            resolve();
          });
        });
      },
      handlerTimeoutMs: 20,
      retry: { maxRetries: 1, initialBackoffMs: 1, maxBackoffMs: 1 },
    });
    await consumer.start();
    adapter.deliver(message(0, 0, "a"), message(0, 1, "b"));
    await settle(80);
    assert.deepEqual(seen.map(({ offsets, attempt }) => ({ offsets, attempt })), [
      { offsets: [0, 1], attempt: 1 },
      { offsets: [0, 1], attempt: 2 },
    ]);
    assert.ok(seen[0]!.reason instanceof HandlerTimeoutError);
    await consumer.close();
    assert.equal(adapter.committed.get("t:0"), 2n);
  });

  test("property: no key in two running batches, a key's messages in a row and in order, no commit past unfinished work", async () => {
    const keys = ["a", "b", "c", null] as const;
    const scenario = fc.record({
      ordering: fc.constantFrom<Ordering>("key", "partition", "unordered"),
      maxMessages: fc.integer({ min: 1, max: 6 }),
      maxInFlight: fc.integer({ min: 1, max: 12 }),
      deliveries: fc.array(fc.array(fc.constantFrom(...keys), { minLength: 1, maxLength: 8 }), {
        minLength: 1,
        maxLength: 5,
      }),
      // Which running batch finishes next (index modulo the running count), and whether it fails.
      steps: fc.array(fc.tuple(fc.nat(), fc.boolean()), { maxLength: 40 }),
    });
    await fc.assert(
      fc.asyncProperty(scenario, async ({ ordering, maxMessages, maxInFlight, deliveries, steps }) => {
        // A retry's zero delay is a timer set after the failure: the second turn sees it run.
        const flush = async () => {
          await settle();
          await settle();
        };
        const gate = gatedBatches();
        const { adapter, consumer } = setup({
          batchHandler: gate.batchHandler,
          ordering,
          maxInFlight,
          batch: { maxMessages, maxWaitMs: 0 },
          retry: { maxRetries: 1, initialBackoffMs: 0, maxBackoffMs: 0 },
          failurePolicy: "skip",
        });
        await consumer.start();
        const lanes = new Map<number, string | null>();
        const done = new Set<number>();
        let next = 0;
        const check = () => {
          const running = gate.running();
          const laneOf = (offset: number): string | null =>
            ordering === "partition" ? "" : ordering === "unordered" ? null : lanes.get(offset)!;
          const busy = new Set<string>();
          for (const call of running) {
            assert.ok(call.offsets.length <= maxMessages);
            const seenInBatch = new Set<string>();
            let previous: string | null | undefined;
            let previousOffset = -1;
            for (const offset of call.offsets) {
              const lane = laneOf(offset);
              if (lane === null) {
                previous = undefined;
                continue;
              }
              if (lane === previous) assert.ok(offset > previousOffset, "a key's messages in offset order");
              else {
                assert.ok(!seenInBatch.has(lane), `lane ${lane}: its messages are consecutive in the batch`);
                assert.ok(!busy.has(lane), `lane ${lane} runs in two batches`);
                seenInBatch.add(lane);
                busy.add(lane);
              }
              previous = lane;
              previousOffset = offset;
            }
          }
          // The commit position never passes an unfinished offset.
          const position = consumer.getMetrics().partitions[0]?.highestContiguousOffset;
          if (position !== undefined && position !== null) {
            for (let offset = 0; offset <= Number(position); offset++) assert.ok(done.has(offset), `${offset} done`);
          }
        };
        for (const batch of deliveries) {
          adapter.deliver(...batch.map((key) => {
            lanes.set(next, key);
            return message(0, next++, key);
          }));
          await flush();
          check();
        }
        for (const [pick, fails] of steps) {
          const running = gate.running();
          if (running.length === 0) break;
          const call = running[pick % running.length]!;
          // A failure is retried once, then skipped: either way the batch is done after its second attempt.
          if (!fails || call.context.attempt > 1) { for (const offset of call.offsets) done.add(offset); }
          call.finish(fails ? new Error("fails") : undefined);
          await flush();
          check();
        }
        // Everything left succeeds.
        for (let running = gate.running(); running.length > 0; running = gate.running()) {
          for (const call of running) {
            for (const offset of call.offsets) done.add(offset);
            call.finish();
          }
          await flush();
          check();
        }
        await consumer.close();
        assert.equal(adapter.committed.get("t:0"), BigInt(next));
      }),
      { numRuns: 60 },
    );
  });
});
