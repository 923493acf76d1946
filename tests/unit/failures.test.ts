import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createParallelConsumer, type ParallelConsumerOptions } from "../../mod.ts";
import { DEAD_LETTER_HEADERS } from "../../src/core/dead-letter.ts";
import { headerValue } from "../support/headers.ts";
import { MemoryAdapter, message, settle } from "../support/memory-adapter.ts";

const text = (bytes: Uint8Array | null | undefined) => (bytes == null ? undefined : new TextDecoder().decode(bytes));

function setup(options: Partial<ParallelConsumerOptions> & Pick<ParallelConsumerOptions, "handler">) {
  const adapter = new MemoryAdapter();
  const errors: Error[] = [];
  const consumer = createParallelConsumer({
    kafka: { bootstrapBrokers: ["127.0.0.1:9092"], groupId: "g", topics: ["t"] },
    commitIntervalMs: 60_000,
    retry: { maxRetries: 1, initialBackoffMs: 0, maxBackoffMs: 0 },
    logger: { warn: () => {} },
    ...options,
    adapter,
  });
  consumer.on("error", (error) => errors.push(error));
  return { adapter, consumer, errors };
}

describe("failure handling", () => {
  test("exhausted retries go to <topic>.dlq with provenance headers; the offset completes after the ack", async () => {
    const { adapter, consumer, errors } = setup({
      deadLetter: {},
      handler: (m) => {
        if (m.offset === 1n) throw new TypeError("cannot parse order");
      },
    });
    await consumer.start();
    const poison = { ...message(0, 1, "order-7"), headers: new Map([["trace", new TextEncoder().encode("abc")]]) };
    adapter.deliver(message(0, 0, "a"), poison, message(0, 2, "b"));
    await settle(10);
    assert.equal(adapter.published.length, 1);
    const [letter] = adapter.published;
    assert.equal(letter!.topic, "t.dlq");
    assert.equal(text(letter!.key ?? undefined), "order-7");
    assert.equal(text(letter!.value ?? undefined), "0:1");
    assert.equal(text(headerValue(letter!.headers, DEAD_LETTER_HEADERS.errorMessage)), "cannot parse order");
    assert.equal(text(headerValue(letter!.headers, DEAD_LETTER_HEADERS.errorName)), "TypeError");
    assert.equal(text(headerValue(letter!.headers, DEAD_LETTER_HEADERS.attempts)), "2");
    assert.equal(text(headerValue(letter!.headers, DEAD_LETTER_HEADERS.sourceTopic)), "t");
    assert.equal(text(headerValue(letter!.headers, DEAD_LETTER_HEADERS.sourcePartition)), "0");
    assert.equal(text(headerValue(letter!.headers, DEAD_LETTER_HEADERS.sourceOffset)), "1");
    assert.equal(text(headerValue(letter!.headers, DEAD_LETTER_HEADERS.sourceKey)), "order-7");
    assert.equal(text(headerValue(letter!.headers, "trace")), "abc", "full payload keeps the original headers");
    assert.equal(errors.length, 1, "the failure is reported even though it went to the DLQ");
    await consumer.close();
    assert.equal(adapter.committed.get("t:0"), 3n);
    assert.equal(consumer.getMetrics().deadLetteredTotal, 1);
  });

  test("a full dead letter keeps the message's headers as they came, repeated names too; an earlier letter's provenance is replaced", async () => {
    const { adapter, consumer } = setup({
      deadLetter: {},
      handler: () => {
        throw new Error("boom");
      },
    });
    await consumer.start();
    const bytes = (value: string) => new TextEncoder().encode(value);
    // A replayed dead letter that fails again: its old provenance goes, this failure's comes.
    const headerList = [
      ["hop", bytes("1")],
      ["trace", null],
      ["hop", bytes("2")],
      [DEAD_LETTER_HEADERS.attempts, bytes("9")],
    ] as const;
    adapter.deliver({ ...message(0, 0, "k"), headers: new Map(headerList), headerList });
    await settle(10);
    await consumer.close();
    const [letter] = adapter.published;
    const own = letter!.headers.filter(([name]) => !name.startsWith("pyrallel."));
    assert.deepEqual(own.map(([name, value]) => [name, value && text(value)]), [["hop", "1"], ["trace", null], [
      "hop",
      "2",
    ]]);
    const attempts = letter!.headers.filter(([name]) => name === DEAD_LETTER_HEADERS.attempts);
    assert.deepEqual(attempts.map(([, value]) => text(value!)), ["2"]);
  });

  test("metadataOnly dead letters carry no value and no original headers", async () => {
    const { adapter, consumer } = setup({
      deadLetter: { payload: "metadataOnly", topicSuffix: "-failed" },
      handler: () => {
        throw new Error("boom");
      },
    });
    await consumer.start();
    adapter.deliver({ ...message(0, 0, "k"), headers: new Map([["secret", new Uint8Array([1])]]) });
    await settle(10);
    await consumer.close();
    const [letter] = adapter.published;
    assert.equal(letter!.topic, "t-failed");
    assert.equal(letter!.value, null);
    assert.equal(headerValue(letter!.headers, "secret") !== undefined, false);
    assert.equal(text(headerValue(letter!.headers, DEAD_LETTER_HEADERS.sourceOffset)), "0");
  });

  test("a failing dead-letter write is retried and holds the offset as the blocking offset meanwhile", async () => {
    const { adapter, consumer, errors } = setup({
      deadLetter: {},
      retry: { maxRetries: 0, initialBackoffMs: 20, maxBackoffMs: 20 },
      handler: (m) => {
        if (m.offset === 0n) throw new Error("poison");
      },
    });
    adapter.failNextPublishes = 2;
    await consumer.start();
    adapter.deliver(message(0, 0, "a"), message(0, 1, "b"));
    await settle(5);
    const partition = consumer.getMetrics().partitions[0]!;
    assert.equal(partition.blockingOffset, 0n);
    assert.equal(partition.gapCount, 1);
    await settle(60);
    assert.equal(adapter.published.length, 1);
    assert.equal(consumer.getMetrics().deadLetterFailuresTotal, 2);
    assert.equal(errors.filter((e) => e.message.includes("dead letter")).length, 2);
    await consumer.close();
    assert.equal(adapter.committed.get("t:0"), 2n);
  });

  test("handlerTimeoutMs aborts the signal and fails the attempt; the retry succeeds", async () => {
    const seen: string[] = [];
    const { adapter, consumer } = setup({
      handlerTimeoutMs: 20,
      handler: async (m, { signal, attempt }) => {
        if (attempt === 1) {
          await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve()));
          seen.push(`aborted: ${(signal.reason as Error).name}`);
          return;
        }
        seen.push(`attempt ${attempt} ok for ${m.offset}`);
      },
    });
    await consumer.start();
    adapter.deliver(message(0, 0, "a"));
    await settle(60);
    assert.deepEqual(seen, ["aborted: HandlerTimeoutError", "attempt 2 ok for 0"]);
    await consumer.close();
    assert.equal(adapter.committed.get("t:0"), 1n);
  });

  test("maxBlockingMs aborts a message that holds the commit; it takes the retry path, then the DLQ", async () => {
    const { adapter, consumer } = setup({
      maxBlockingMs: 20,
      commitIntervalMs: 5,
      deadLetter: {},
      handler: (m, { signal }) =>
        m.offset === 0n
          ? new Promise<void>((_resolve, reject) => signal.addEventListener("abort", () => reject(signal.reason)))
          : undefined,
    });
    await consumer.start();
    adapter.deliver(message(0, 0, "stuck"), message(0, 1, "fine"));
    await settle(150);
    assert.equal(adapter.published.length, 1);
    assert.equal(
      text(headerValue(adapter.published[0]!.headers, DEAD_LETTER_HEADERS.errorName)),
      "BlockedTooLongError",
    );
    assert.equal(consumer.getMetrics().retriesTotal, 1);
    await consumer.close();
    assert.equal(adapter.committed.get("t:0"), 2n);
  });

  // Defect 5: the abandoned attempt's signal was not aborted and its retry ran alongside it.
  test("maxBlockingMs never runs two attempts of one message at once: the retry waits for the aborted one", async () => {
    const events: string[] = [];
    let running = 0;
    let overlapped = false;
    const { adapter, consumer } = setup({
      maxBlockingMs: 10,
      commitIntervalMs: 5,
      retry: { maxRetries: 1, initialBackoffMs: 0, maxBackoffMs: 0 },
      handler: async (_m, { attempt, signal }) => {
        if (++running > 1) overlapped = true;
        events.push(`start ${attempt}`);
        // Ignores its signal for a while (as handlers stuck in a call do), then gives up.
        await new Promise((resolve) => setTimeout(resolve, attempt === 1 ? 60 : 0));
        events.push(`end ${attempt} aborted=${signal.aborted}`);
        running--;
      },
    });
    await consumer.start();
    adapter.deliver(message(0, 0, "k"));
    await settle(150);
    assert.equal(overlapped, false);
    assert.deepEqual(events, ["start 1", "end 1 aborted=true", "start 2", "end 2 aborted=false"]);
    await consumer.close();
    assert.equal(adapter.committed.get("t:0"), 1n);
  });

  test("poison-key isolation: after repeated final failures a key's messages fail without running", async () => {
    const ran: number[] = [];
    const { adapter, consumer } = setup({
      deadLetter: {},
      retry: { maxRetries: 0 },
      poisonKey: { maxFailures: 2, cooldownMs: 60_000 },
      handler: (m) => {
        ran.push(Number(m.offset));
        if (new TextDecoder().decode(m.key!) === "bad") throw new Error("bad key");
      },
    });
    await consumer.start();
    adapter.deliver(...[0, 1, 2, 3].map((offset) => message(0, offset, "bad")), message(0, 4, "good"));
    await settle(20);
    assert.deepEqual(ran.sort(), [0, 1, 4], "offsets 2 and 3 of the cooling key never ran");
    assert.equal(adapter.published.length, 4);
    assert.equal(text(headerValue(adapter.published[3]!.headers, DEAD_LETTER_HEADERS.errorName)), "PoisonKeyError");
    await consumer.close();
    assert.equal(adapter.committed.get("t:0"), 5n);
  });

  test("other keys keep committing while one key is failing and retrying", async () => {
    const { adapter, consumer } = setup({
      retry: { maxRetries: 50, initialBackoffMs: 5, maxBackoffMs: 5 },
      commitIntervalMs: 5,
      handler: (m) => {
        if (new TextDecoder().decode(m.key!) === "bad") throw new Error("down");
      },
    });
    await consumer.start();
    adapter.deliver(message(0, 0, "good"), message(0, 1, "good"));
    adapter.deliver(message(1, 0, "bad"), message(1, 1, "good"));
    await settle(50);
    assert.equal(adapter.committed.get("t:0"), 2n);
    const failing = consumer.getMetrics().partitions.find((p) => p.partition === 1)!;
    assert.equal(failing.blockingOffset, 0n);
    assert.equal(failing.gapCount, 1, "offset 1 of partition 1 completed beside the failing key");
    await consumer.close();
  });

  // Defect 3: messages refused because their key was cooling counted as failures and renewed the cooldown.
  test("a poison-key cooldown ends under steady traffic: refused messages do not renew it", async () => {
    let healthy = false;
    const ran: number[] = [];
    const { adapter, consumer } = setup({
      failurePolicy: "skip",
      retry: { maxRetries: 0 },
      poisonKey: { maxFailures: 1, cooldownMs: 40 },
      handler: (m) => {
        ran.push(Number(m.offset));
        if (!healthy) throw new Error("downstream down");
      },
    });
    await consumer.start();
    adapter.deliver(message(0, 0, "k"));
    await settle(5);
    healthy = true; // the downstream recovers at once
    for (let offset = 1; offset <= 15; offset++) {
      adapter.deliver(message(0, offset, "k"));
      await settle(8);
    }
    await consumer.close();
    assert.ok(ran.length > 2, `after the cooldown the key's messages run again (ran ${ran.join(",")})`);
    assert.equal(adapter.committed.get("t:0"), 16n);
  });

  test("a message refused during a cooldown is reported as not run, with 0 attempts", async () => {
    const { adapter, consumer, errors } = setup({
      deadLetter: {},
      retry: { maxRetries: 0 },
      poisonKey: { maxFailures: 1, cooldownMs: 60_000 },
      handler: () => {
        throw new Error("bad");
      },
    });
    await consumer.start();
    adapter.deliver(message(0, 0, "k"), message(0, 1, "k"));
    await settle(10);
    await consumer.close();
    assert.equal(text(headerValue(adapter.published[1]!.headers, DEAD_LETTER_HEADERS.attempts)), "0");
    assert.match(errors[1]!.message, /was not run: .*cooling down/);
    assert.doesNotMatch(errors[1]!.message, /failed 0 time/);
  });

  // Defect 8: String(Object.create(null)) throws; the dead-letter path rejected unhandled.
  test("anything thrown reaches the dead-letter topic described, even values String() cannot convert", async () => {
    const thrown: unknown[] = [Object.create(null), undefined, 42, "text", Symbol("s"), {
      toString: () => {
        throw new Error("no");
      },
    }];
    const { adapter, consumer } = setup({
      deadLetter: {},
      retry: { maxRetries: 0 },
      ordering: "unordered",
      handler: (m) => {
        throw thrown[Number(m.offset)];
      },
    });
    await consumer.start();
    adapter.deliver(...thrown.map((_, offset) => message(0, offset, "k")));
    await settle(10);
    await consumer.close();
    assert.equal(adapter.published.length, thrown.length);
    assert.equal(adapter.committed.get("t:0"), BigInt(thrown.length));
    const names = adapter.published.map((letter) => text(headerValue(letter.headers, DEAD_LETTER_HEADERS.errorName)));
    assert.deepEqual(new Set(names), new Set(["NonErrorThrown"]));
    assert.equal(text(headerValue(adapter.published[0]!.headers, DEAD_LETTER_HEADERS.errorMessage)), "[object Object]");
  });

  // Defect 12: the dead-letter backoff timer was not tracked: publish() was called on a closed adapter.
  test("dead-letter retries stop at close(): nothing is published after the adapter closed", async () => {
    const { adapter, consumer } = setup({
      deadLetter: {},
      retry: { maxRetries: 0, initialBackoffMs: 30, maxBackoffMs: 30 },
      drainTimeoutMs: 10,
      handler: () => {
        throw new Error("bad");
      },
    });
    adapter.failNextPublishes = 1_000;
    await consumer.start();
    adapter.deliver(message(0, 0, "k"));
    await settle(5);
    await consumer.close();
    const publishesAtClose = adapter.failNextPublishes;
    await settle(120);
    assert.equal(adapter.publishedAfterClose, 0);
    assert.equal(adapter.failNextPublishes, publishesAtClose, "no publish attempt after close()");
    assert.equal(adapter.committed.has("t:0"), false, "the undelivered dead letter keeps its offset uncommitted");
  });

  test("poison-key bookkeeping forgets keys that stopped failing", async () => {
    const { PoisonKeys } = await import("../../src/core/poison-keys.ts");
    let now = 0;
    const keys = new PoisonKeys({ maxFailures: 3, cooldownMs: 100 }, () => now);
    for (let i = 0; i < 1000; i++) keys.recordFailure(`key-${i}`);
    assert.equal(keys.size, 1000);
    now = 50;
    keys.prune();
    assert.equal(keys.size, 1000, "recent failures are kept");
    now = 150;
    keys.prune();
    assert.equal(keys.size, 0);
  });
});
