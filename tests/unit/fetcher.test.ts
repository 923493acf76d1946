// The group adapter's Fetcher against a client whose fetch responses the test answers: each
// response is handed over whole as it arrives, and a partition is fetched again as soon as its
// response was delivered, without waiting for the control plane to consume anything.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Fetcher, type FetcherSink } from "../../src/adapters/group/fetcher.ts";
import type { FetchedPartition, FetchRequest, PartitionLeader } from "../../src/adapters/group/kafka-client.ts";
import { type Clock, systemClock } from "../../src/core/clock.ts";
import type { ConsumerMessage, TopicPartition } from "../../src/core/message.ts";
import { FetchOnlyClient } from "../support/fetch-only-client.ts";
import { type Deferred, deferred, flushMicrotasks } from "./control-plane-parts/fakes.ts";

const encoder = new TextEncoder();
const P0: TopicPartition = { topic: "t", partition: 0 };
const P1: TopicPartition = { topic: "t", partition: 1 };
/** Wire bytes of one of `records()`'s records (a batch adds 61). */
const RECORD_BYTES = 20;

interface FetchCall {
  readonly request: FetchRequest;
  readonly reply: Deferred<readonly FetchedPartition[]>;
}

/** A client with one broker (node 1) leading every partition of `partitions`; fetches wait for the test. */
class FakeClient extends FetchOnlyClient {
  readonly fetches: FetchCall[] = [];
  readonly #partitions: readonly TopicPartition[];

  constructor(partitions: readonly TopicPartition[]) {
    super();
    this.#partitions = partitions;
  }

  /** Fetch requests not answered yet. */
  get open(): FetchCall[] {
    return this.fetches.filter((call) => !call.reply.settled);
  }

  /** The requests' partitions and offsets, as "t[0]@5", one list per request. */
  get requested(): string[][] {
    return this.fetches.map(({ request }) =>
      request.partitions.map(({ topic, partition, offset }) => `${topic}[${partition}]@${offset}`)
    );
  }

  leaders(): Promise<readonly PartitionLeader[]> {
    return Promise.resolve(this.#partitions.map((p) => ({ ...p, node: 1 })));
  }

  fetch(request: FetchRequest): Promise<readonly FetchedPartition[]> {
    const reply = deferred<readonly FetchedPartition[]>();
    this.fetches.push({ request, reply });
    return reply.promise;
  }
}

/** `count` records of `partition` from `from` in one batch (keys "k<offset>"). */
function records({ topic, partition }: TopicPartition, from: bigint, count: number): FetchedPartition {
  const end = from + BigInt(count);
  return {
    topic,
    partition,
    highWatermark: end,
    lastStableOffset: end,
    logStartOffset: 0n,
    abortedTransactions: [],
    batches: count === 0 ? [] : [{
      firstOffset: from,
      lastOffsetDelta: count - 1,
      firstTimestamp: 0n,
      producerId: -1n,
      isTransactional: false,
      isControl: false,
      records: Array.from({ length: count }, (_, i) => ({
        offsetDelta: i,
        timestampDelta: 0,
        key: encoder.encode(`k${from + BigInt(i)}`),
        value: encoder.encode(`v${from + BigInt(i)}`),
        headers: [],
      })),
    }],
    recordBytes: count === 0 ? 0 : 61 + count * RECORD_BYTES,
  };
}

/** A sink recording each hand-over as "t[0] 0..199"; `onMessages` runs inside the hand-over. */
function recordingSink(onMessages: (batch: ConsumerMessage[]) => void = () => {}) {
  const batches: ConsumerMessage[][] = [];
  const failures: Error[] = [];
  const sink: FetcherSink = {
    messages: (batch) => {
      batches.push(batch);
      onMessages(batch);
    },
    restart: () => {
      throw new Error("no restart expected");
    },
    failed: (error) => void failures.push(error),
  };
  const handed = () =>
    batches.map((batch) => `${batch[0]!.topic}[${batch[0]!.partition}] ${batch[0]!.offset}..${batch.at(-1)!.offset}`);
  return { sink, batches, failures, handed };
}

function fetcherOn(
  client: FakeClient,
  sink: FetcherSink,
  maxWaitMs = 10,
  clock: Clock = systemClock,
  maxBytesPerPartition = 1 << 20,
  maxBytes = 1 << 20,
): Fetcher {
  return new Fetcher(client, {
    startFrom: "earliest",
    isolationLevel: "read_uncommitted",
    maxWaitMs,
    maxBytes,
    maxBytesPerPartition,
    clock,
  }, sink);
}

describe("Fetcher", () => {
  test("hands each partition's response over whole, in offset order, as it arrives", async () => {
    const client = new FakeClient([P0, P1]);
    const { sink, batches, handed } = recordingSink();
    const fetcher = fetcherOn(client, sink);
    fetcher.add(P0, 0n);
    fetcher.add(P1, 5n);
    await flushMicrotasks();
    assert.deepEqual(client.requested, [["t[0]@0", "t[1]@5"]], "one request to the one broker");
    // 300 records: far more than any delivery batch a fetcher might cut them into.
    client.fetches[0]!.reply.resolve([records(P0, 0n, 300), records(P1, 5n, 3)]);
    await flushMicrotasks();
    assert.deepEqual(handed(), ["t[0] 0..299", "t[1] 5..7"]);
    assert.equal(batches[0]!.length, 300);
    assert.deepEqual(batches[0]!.map((message) => Number(message.offset)), Array.from({ length: 300 }, (_, i) => i));
    fetcher.close();
  });

  test("asks each partition for its share of 10,000 records (100 bytes each until it had some) and of maxBytes: at least 64 KiB, at most maxBytesPerPartition", async () => {
    const asks = async (partitions: number, perPartition?: number, maxBytes?: number): Promise<number[]> => {
      const owned = Array.from({ length: partitions }, (_, partition) => ({ topic: "t", partition }));
      const client = new FakeClient(owned);
      const fetcher = fetcherOn(client, recordingSink().sink, 10, systemClock, perPartition, maxBytes);
      for (const partition of owned) fetcher.add(partition, 0n);
      await flushMicrotasks();
      fetcher.close();
      return [...new Set(client.fetches[0]!.request.partitions.map(({ maxBytes }) => maxBytes))];
    };
    assert.deepEqual(await asks(1), [1_000_000], "10,000 records of 100 bytes");
    assert.deepEqual(await asks(4), [250_000]);
    assert.deepEqual(await asks(4, undefined, 512 * 1024), [128 * 1024], "a quarter of maxBytes is less");
    assert.deepEqual(await asks(48), [64 * 1024], "the broker stops at maxBytes anyway");
    assert.deepEqual(await asks(4, 16 * 1024), [16 * 1024], "the user's limit wins");
  });

  test("a request's own limit is its partitions' share of 10,000 records, within maxBytes", async () => {
    const owned = Array.from({ length: 48 }, (_, partition) => ({ topic: "t", partition }));
    const client = new FakeClient(owned);
    const fetcher = fetcherOn(client, recordingSink().sink, 10, systemClock, 1 << 20, 16 << 20);
    for (const partition of owned) fetcher.add(partition, 0n);
    await flushMicrotasks();
    fetcher.close();
    const { maxBytes, partitions } = client.fetches[0]!.request;
    assert.equal(partitions[0]!.maxBytes, 64 * 1024, "each partition's ask is at least 64 KiB…");
    assert.equal(maxBytes, 48 * 209 * 100, "…but 48 of them bring 10,000 small records, not 3 MiB");
  });

  test("a partition's ask follows the size of its records: large ones come up to the byte limits", async () => {
    const client = new FakeClient([P0, P1]);
    const fetcher = fetcherOn(client, recordingSink().sink, 10, systemClock, 1 << 20, 16 << 20);
    fetcher.add(P0, 0n);
    fetcher.add(P1, 0n);
    await flushMicrotasks();
    const asked = (request: number) =>
      client.fetches[request]!.request.partitions.map(({ partition, maxBytes }) => `t[${partition}] ${maxBytes}`)
        .sort();
    assert.deepEqual(asked(0), ["t[0] 500000", "t[1] 500000"]);
    // 10 records of about 10 KB on t[0], 3 in 100 bytes on t[1].
    client.fetches[0]!.reply.resolve([
      { ...records(P0, 0n, 10), recordBytes: 10 * 10_240 },
      { ...records(P1, 0n, 3), recordBytes: 100 },
    ]);
    await flushMicrotasks();
    // Each is asked for 5,000 records: of t[0], 51 MB (1 MiB at most); of t[1], 5,000 × 33.3 bytes,
    // in whole bytes.
    assert.deepEqual(asked(1), [`t[0] ${1 << 20}`, "t[1] 166666"]);
    assert.equal(client.fetches[1]!.request.maxBytes, 16 << 20, "5,000 records of 10 KB are more than maxBytes");
    fetcher.close();
  });

  test("fetches a partition again as soon as its response was delivered, before anything was consumed", async () => {
    const client = new FakeClient([P0, P1]);
    // The sink keeps what it gets and consumes nothing (as a control plane with a full window).
    const { sink, handed } = recordingSink();
    const fetcher = fetcherOn(client, sink);
    fetcher.add(P0, 0n);
    fetcher.add(P1, 0n);
    await flushMicrotasks();
    client.fetches[0]!.reply.resolve([records(P0, 0n, 100), records(P1, 0n, 10)]);
    await flushMicrotasks();
    assert.deepEqual(handed(), ["t[0] 0..99", "t[1] 0..9"]);
    assert.equal(client.fetches.length, 2, "fetched again at once");
    assert.deepEqual(client.requested[1]!.toSorted(), ["t[0]@100", "t[1]@10"]);
    assert.deepEqual(
      fetcher.positions().map(({ partition, position }) => `${partition}@${position}`).toSorted(),
      ["0@100", "1@10"],
      "everything below the positions was delivered",
    );
    client.fetches[1]!.reply.resolve([records(P0, 100n, 50), records(P1, 10n, 0)]);
    await flushMicrotasks();
    assert.deepEqual(handed(), ["t[0] 0..99", "t[1] 0..9", "t[0] 100..149"], "an empty partition hands nothing over");
    assert.deepEqual(client.requested[2]!.toSorted(), ["t[0]@150", "t[1]@10"]);
    fetcher.close();
  });

  test("while a partition is paused, fetches wait as long as it has been paused (10 ms at least)", async () => {
    const client = new FakeClient([P0, P1]);
    const { sink } = recordingSink();
    let now = 0;
    const fetcher = fetcherOn(client, sink, 500, { ...systemClock, now: () => now });
    fetcher.add(P0, 0n);
    fetcher.add(P1, 0n);
    await flushMicrotasks();
    const waits = () => client.fetches.map(({ request }) => request.maxWaitMs);
    // Answers the open request (t[1] caught up), and the next one goes out.
    const answer = async (...partitions: FetchedPartition[]) => {
      client.open[0]!.reply.resolve(partitions);
      await flushMicrotasks();
    };
    assert.deepEqual(waits(), [500], "nothing paused: the configured long poll");
    fetcher.pause([P0]);
    await answer(records(P0, 0n, 0), records(P1, 0n, 0));
    assert.deepEqual(client.requested[1], ["t[1]@0"]);
    assert.equal(waits()[1], 10, "t[0] just paused: t[1] is polled briefly");
    now = 40;
    await answer(records(P1, 0n, 0));
    assert.equal(waits()[2], 40, "t[0] paused 40 ms ago: it resumes with ~4x that much work buffered");
    now = 1_000;
    await answer(records(P1, 0n, 0));
    assert.equal(waits()[3], 500, "never longer than fetchMaxWaitMs");
    fetcher.resume([P0]);
    await answer(records(P1, 0n, 0));
    assert.equal(waits()[4], 500, "t[0] resumed: the long poll again");
    now = 1_002;
    fetcher.pause([P1]);
    await answer(records(P0, 0n, 0), records(P1, 0n, 0));
    assert.equal(waits()[5], 10, "t[1] paused 0 ms ago: 10 ms at least");
    fetcher.close();
  });

  test("a partition the sink pauses as it takes a response keeps those messages; only its next fetch waits", async () => {
    const client = new FakeClient([P0, P1]);
    // Pauses t[0] while taking its messages, as the control plane does when its buffer fills up.
    const { sink, handed } = recordingSink((batch) => {
      if (batch[0]!.partition === 0) fetcher.pause([P0]);
    });
    const fetcher = fetcherOn(client, sink);
    fetcher.add(P0, 0n);
    fetcher.add(P1, 0n);
    await flushMicrotasks();
    client.fetches[0]!.reply.resolve([records(P0, 0n, 80), records(P1, 0n, 2)]);
    await flushMicrotasks();
    assert.deepEqual(handed(), ["t[0] 0..79", "t[1] 0..1"], "both delivered whole, the paused one too");
    assert.deepEqual(client.requested[1], ["t[1]@2"], "t[0] is left out of the next request");
    fetcher.resume([P0]);
    await flushMicrotasks();
    assert.equal(client.fetches.length, 2, "one request per broker in flight: t[0] waits for the next round");
    client.fetches[1]!.reply.resolve([records(P1, 2n, 0)]);
    await flushMicrotasks();
    assert.deepEqual(client.requested[2]!.toSorted(), ["t[0]@80", "t[1]@2"], "fetched again from where it was");
    fetcher.close();
  });

  test("the whole-consumer pause stops fetching, not the delivery of a response already in flight", async () => {
    const client = new FakeClient([P0]);
    const { sink, handed } = recordingSink();
    const fetcher = fetcherOn(client, sink);
    fetcher.add(P0, 0n);
    await flushMicrotasks();
    fetcher.pause();
    client.fetches[0]!.reply.resolve([records(P0, 0n, 5)]);
    await flushMicrotasks();
    assert.deepEqual(handed(), ["t[0] 0..4"]);
    assert.equal(client.fetches.length, 1, "paused: no new request");
    fetcher.resume();
    await flushMicrotasks();
    assert.deepEqual(client.requested[1], ["t[0]@5"]);
    fetcher.close();
  });

  test("a partition removed while its fetch is in flight hands nothing over", async () => {
    const client = new FakeClient([P0, P1]);
    const { sink, handed } = recordingSink();
    const fetcher = fetcherOn(client, sink);
    fetcher.add(P0, 0n);
    fetcher.add(P1, 0n);
    await flushMicrotasks();
    fetcher.remove(P0);
    client.fetches[0]!.reply.resolve([records(P0, 0n, 5), records(P1, 0n, 5)]);
    await flushMicrotasks();
    assert.deepEqual(handed(), ["t[1] 0..4"]);
    assert.deepEqual(client.requested[1], ["t[1]@5"]);
    assert.deepEqual(fetcher.positions().map(({ partition }) => partition), [1]);
    fetcher.close();
  });
});
