import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import type {
  AbortedTransaction,
  FetchedPartition,
  IsolationLevel,
  KafkaRecord,
  RecordBatch,
} from "../../src/adapters/group/kafka-client.ts";
import { type DecodedPartition, decodePartition } from "../../src/adapters/group/records.ts";

const TOPIC = "orders";
const PARTITION = 3;
const BASE_TIMESTAMP = 1_700_000_000_000n;
const text = new TextEncoder();

/** A record of the model: what was written, and whether a read_committed consumer may see it. */
interface Written {
  readonly offset: bigint;
  readonly value: Uint8Array;
  state: "plain" | "open" | "committed" | "aborted";
}

/** An aborted transaction with its marker's offset, which a broker uses to pick the ones a fetch overlaps. */
interface AbortedRange extends AbortedTransaction {
  readonly markerOffset: bigint;
}

/** Writes a partition's log batch by batch, as producers would, and keeps the model beside it. */
class Log {
  readonly batches: RecordBatch[] = [];
  readonly aborted: AbortedRange[] = [];
  readonly written: Written[] = [];
  readonly #open = new Map<bigint, { firstOffset: bigint; records: Written[] }>();
  end: bigint;

  constructor(start = 0n) {
    this.end = start;
  }

  /** A non-transactional batch (an idempotent producer's when `producerId` >= 0). */
  plain(count: number, producerId = -1n, compactedTail = 0): this {
    this.#data(count, producerId, false, compactedTail);
    return this;
  }

  /** A batch of `producerId`'s transaction, which begins here if none is open. */
  txn(producerId: bigint, count: number, compactedTail = 0): this {
    let open = this.#open.get(producerId);
    if (open === undefined) {
      open = { firstOffset: this.end, records: [] };
      this.#open.set(producerId, open);
    }
    open.records.push(...this.#data(count, producerId, true, compactedTail));
    return this;
  }

  commit(producerId: bigint): this {
    return this.#end(producerId, "committed");
  }

  abort(producerId: bigint): this {
    return this.#end(producerId, "aborted");
  }

  /** The aborted transactions as a broker lists them (without marker offsets). */
  get abortedTransactions(): AbortedTransaction[] {
    return this.aborted.map(({ producerId, firstOffset }) => ({ producerId, firstOffset }));
  }

  /** Offsets a read_committed consumer sees from `from` on: non-transactional or committed (or still open). */
  visible(from = 0n): bigint[] {
    return this.written.filter((w) => w.offset >= from && w.state !== "aborted").map((w) => w.offset);
  }

  /** Every data offset from `from` on, as read_uncommitted sees them. */
  all(from = 0n): bigint[] {
    return this.written.filter((w) => w.offset >= from).map((w) => w.offset);
  }

  #data(count: number, producerId: bigint, transactional: boolean, compactedTail: number): Written[] {
    const firstOffset = this.end;
    const records: KafkaRecord[] = [];
    const written: Written[] = [];
    for (let i = 0; i < count; i++) {
      const offset = firstOffset + BigInt(i);
      const value = text.encode(`value-${offset}`);
      records.push(record(i, { value }));
      written.push({ offset, value, state: transactional ? "open" : "plain" });
    }
    this.written.push(...written);
    const lastOffsetDelta = count - 1 + compactedTail;
    this.batches.push(batch(firstOffset, records, { producerId, transactional, lastOffsetDelta }));
    this.end = firstOffset + BigInt(count + compactedTail);
    return written;
  }

  #end(producerId: bigint, outcome: "committed" | "aborted"): this {
    const open = this.#open.get(producerId);
    assert.ok(open, `producer ${producerId} has no open transaction`);
    for (const written of open.records) written.state = outcome;
    this.#open.delete(producerId);
    if (outcome === "aborted") {
      this.aborted.push({ producerId, firstOffset: open.firstOffset, markerOffset: this.end });
    }
    this.batches.push(marker(this.end, producerId, outcome === "aborted" ? "abort" : "commit"));
    this.end += 1n;
    return this;
  }
}

function record(offsetDelta: number, fields: Partial<KafkaRecord> = {}): KafkaRecord {
  return {
    offsetDelta,
    timestampDelta: offsetDelta,
    key: null,
    value: null,
    headers: [],
    ...fields,
  };
}

function batch(
  firstOffset: bigint,
  records: KafkaRecord[],
  options: { producerId?: bigint; transactional?: boolean; lastOffsetDelta?: number; firstTimestamp?: bigint } = {},
): RecordBatch {
  return {
    firstOffset,
    lastOffsetDelta: options.lastOffsetDelta ?? records.length - 1,
    firstTimestamp: options.firstTimestamp ?? BASE_TIMESTAMP + firstOffset,
    producerId: options.producerId ?? -1n,
    isTransactional: options.transactional ?? false,
    isControl: false,
    records,
  };
}

/** A control batch with one transaction marker (key: int16 version 0, int16 type). */
function marker(offset: bigint, producerId: bigint, type: "abort" | "commit"): RecordBatch {
  const key = new Uint8Array([0, 0, 0, type === "abort" ? 0 : 1]);
  // Value: int16 version, int32 coordinator epoch.
  const value = new Uint8Array(6);
  return {
    firstOffset: offset,
    lastOffsetDelta: 0,
    firstTimestamp: BASE_TIMESTAMP + offset,
    producerId,
    isTransactional: true,
    isControl: true,
    records: [record(0, { key, value })],
  };
}

function fetched(
  batches: readonly RecordBatch[],
  abortedTransactions: readonly AbortedTransaction[] = [],
): FetchedPartition {
  return {
    topic: TOPIC,
    partition: PARTITION,
    highWatermark: -1n,
    lastStableOffset: -1n,
    logStartOffset: 0n,
    abortedTransactions,
    batches,
    recordBytes: 0,
  };
}

/** Batches from the one holding `from` on, as a broker answers a fetch at `from`. */
function batchesFrom(log: Log, from: bigint): RecordBatch[] {
  return log.batches.filter((b) => b.firstOffset + BigInt(b.lastOffsetDelta) >= from);
}

const offsets = (decoded: DecodedPartition): bigint[] => decoded.messages.map((m) => m.offset);

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest])
  );
}

/** Deterministic Fisher-Yates shuffle (a small LCG), so a failing property replays exactly. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let state = seed >>> 0;
  for (let i = out.length - 1; i > 0; i--) {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe("decodePartition: transactions (read_committed)", () => {
  test("upstream bug's shape: 20 transactions of 10 records, every fourth aborted, one response → 150", () => {
    const log = new Log(1_000n);
    for (let t = 0; t < 20; t++) {
      log.txn(42n, 5).txn(42n, 5);
      if (t % 4 === 3) log.abort(42n);
      else log.commit(42n);
    }
    assert.equal(log.aborted.length, 5);
    const decoded = decodePartition(fetched(log.batches, log.abortedTransactions), 1_000n, "read_committed");
    assert.equal(decoded.messages.length, 150);
    assert.deepEqual(offsets(decoded), log.visible());
    assert.equal(decoded.nextOffset, 1_220n);
  });

  test("several producers, each with several aborted and committed transactions, interleaved, any list order", () => {
    const log = new Log(500n)
      .txn(1n, 2)
      .txn(2n, 3)
      .txn(1n, 1)
      .txn(3n, 2)
      .abort(1n)
      .plain(2)
      .txn(2n, 1)
      .txn(1n, 2)
      .abort(3n)
      .commit(2n)
      .txn(3n, 2)
      .commit(1n)
      .txn(2n, 2)
      .txn(1n, 1)
      .abort(2n)
      .txn(3n, 1)
      .commit(3n)
      .abort(1n)
      .txn(2n, 2)
      .commit(2n)
      .txn(3n, 3)
      .abort(3n);
    assert.equal(log.aborted.length, 5);
    const expected = log.visible();
    // 24 data records, 11 of them in the 5 aborted transactions.
    assert.equal(log.written.length, 24);
    assert.equal(expected.length, 13);
    let checked = 0;
    for (const order of permutations(log.abortedTransactions)) {
      const decoded = decodePartition(fetched(log.batches, order), 500n, "read_committed");
      assert.deepEqual(offsets(decoded), expected);
      assert.equal(decoded.nextOffset, log.end);
      checked++;
    }
    assert.equal(checked, 120);
  });

  test("a fetch starting at an ABORT marker yields nothing of that transaction", () => {
    const log = new Log().txn(7n, 3).plain(1).abort(7n).txn(7n, 2).commit(7n);
    const markerOffset = log.aborted[0]!.markerOffset;
    assert.equal(markerOffset, 4n);
    // As a broker answers: from the marker on, the aborted transaction listed (its marker >= from).
    const response = fetched(batchesFrom(log, markerOffset), log.abortedTransactions);
    const decoded = decodePartition(response, markerOffset, "read_committed");
    assert.deepEqual(offsets(decoded), [5n, 6n]);
    assert.equal(decoded.nextOffset, log.end);
    // The same with earlier batches in the response too (they lie below `from`).
    const whole = decodePartition(fetched(log.batches, log.abortedTransactions), 4n, "read_committed");
    assert.deepEqual(offsets(whole), [5n, 6n]);
  });

  test("a fetch starting inside an aborted transaction still skips its remaining data", () => {
    const log = new Log(10n)
      .txn(1n, 2)
      .txn(2n, 2)
      .txn(1n, 3)
      .commit(2n)
      .txn(1n, 1)
      .abort(1n)
      .plain(2)
      .txn(1n, 1)
      .commit(1n);
    // Producer 1's aborted transaction spans 10..19 (marker at 19); producer 2 commits 12..13 at 17.
    // From 13: inside producer 2's batch; 14, 15: at and inside producer 1's batch 14..16; 17, 18:
    // at producer 2's COMMIT marker and at producer 1's last aborted batch; 19: at its ABORT marker.
    for (const from of [13n, 14n, 15n, 17n, 18n, 19n]) {
      const decoded = decodePartition(fetched(batchesFrom(log, from), log.abortedTransactions), from, "read_committed");
      assert.deepEqual(offsets(decoded), log.visible(from), `from ${from}`);
      assert.deepEqual(offsets(decoded), [...(from <= 13n ? [13n] : []), 20n, 21n, 22n], `from ${from}`);
    }
  });

  test("an aborted transaction whose marker is in a later response is still skipped", () => {
    const log = new Log().txn(1n, 2).txn(2n, 2).txn(1n, 2).commit(2n).abort(1n).plain(1);
    // The response was cut by size before producer 1's marker (offset 7): batches up to offset 6.
    const cut = log.batches.filter((b) => b.firstOffset <= 6n);
    const first = decodePartition(fetched(cut, log.abortedTransactions), 0n, "read_committed");
    assert.deepEqual(offsets(first), [2n, 3n]);
    assert.equal(first.nextOffset, 7n);
    const second = decodePartition(fetched(batchesFrom(log, 7n), log.abortedTransactions), 7n, "read_committed");
    assert.deepEqual(offsets(second), [8n]);
    assert.equal(second.nextOffset, 9n);
  });

  test("a transactional batch with no marker and no aborted entry is delivered (committed in a later response)", () => {
    // Under read_committed the broker returns nothing past the last stable offset, so an unlisted
    // transaction in a response committed; Kafka's consumer delivers it too.
    const open = new Log().plain(1).txn(5n, 3);
    const alone = decodePartition(fetched(open.batches), 0n, "read_committed");
    assert.deepEqual(offsets(alone), [0n, 1n, 2n, 3n]);
    assert.equal(alone.nextOffset, 4n);
    // And while another producer's aborted transaction keeps the filter busy.
    const mixed = new Log().txn(6n, 2).txn(5n, 2).abort(6n).txn(5n, 1);
    const decoded = decodePartition(fetched(mixed.batches, mixed.abortedTransactions), 0n, "read_committed");
    assert.deepEqual(offsets(decoded), [2n, 3n, 5n]);
    assert.equal(decoded.nextOffset, 6n);
  });

  test("non-transactional batches of a producer id with aborted transactions are kept", () => {
    const log = new Log().txn(9n, 2).plain(2, 9n).txn(9n, 1).abort(9n).plain(1, 9n);
    const decoded = decodePartition(fetched(log.batches, log.abortedTransactions), 0n, "read_committed");
    assert.deepEqual(offsets(decoded), [2n, 3n, 6n]);
  });

  test("an aborted transaction listed before the fetched range ends only at its marker", () => {
    // Producer 4 aborts, then commits a transaction: the committed one is delivered although the
    // producer's aborted entry was seen first.
    const log = new Log().txn(4n, 2).abort(4n).txn(4n, 2).commit(4n).txn(4n, 1).abort(4n).txn(4n, 1).commit(4n);
    const decoded = decodePartition(fetched(log.batches, log.abortedTransactions.reverse()), 0n, "read_committed");
    assert.deepEqual(offsets(decoded), [3n, 4n, 8n]);
    assert.equal(decoded.nextOffset, 10n);
  });
});

describe("decodePartition: read_uncommitted", () => {
  test("passes aborted data but drops control batches", () => {
    const log = new Log().txn(1n, 2).txn(2n, 1).abort(1n).commit(2n).plain(1).txn(1n, 2).abort(1n);
    for (const aborted of [[], log.abortedTransactions]) {
      const decoded = decodePartition(fetched(log.batches, aborted), 0n, "read_uncommitted");
      assert.deepEqual(offsets(decoded), [0n, 1n, 2n, 5n, 6n, 7n]);
      assert.equal(decoded.nextOffset, 9n);
    }
  });
});

describe("decodePartition: records and offsets", () => {
  test("message fields: keys, values, timestamps, and headers", () => {
    const empty = new Uint8Array(0);
    const key = text.encode("k");
    const first = text.encode("first");
    const last = text.encode("last");
    const unnamed = text.encode("unnamed");
    const records = [
      record(0, { key: null, value: null }),
      record(2, { key: empty, value: empty, timestampDelta: 5 }),
      record(3, {
        key,
        value: text.encode("v"),
        timestampDelta: -3,
        headers: [
          [text.encode("a"), first],
          [text.encode("b"), null],
          [text.encode("a"), last],
          [null, unnamed],
          [text.encode("ключ"), empty],
          [text.encode("\uFEFFbom"), null],
        ],
      }),
    ];
    const response = fetched([batch(100n, records, { firstTimestamp: BASE_TIMESTAMP, lastOffsetDelta: 3 })]);
    const decoded = decodePartition(response, 100n, "read_committed");
    const [a, b, c] = decoded.messages;
    assert.ok(a && b && c);
    assert.equal(decoded.messages.length, 3);
    assert.deepEqual(
      [a.topic, a.partition, a.offset, a.key, a.value, a.timestamp],
      [TOPIC, PARTITION, 100n, null, null, 1_700_000_000_000],
    );
    assert.equal(b.offset, 102n);
    assert.equal(b.timestamp, 1_700_000_000_005);
    assert.ok(b.key instanceof Uint8Array && b.key.length === 0, "an empty key stays empty, not null");
    assert.ok(b.value instanceof Uint8Array && b.value.length === 0, "an empty value stays empty, not null");
    assert.equal(c.offset, 103n);
    assert.equal(c.timestamp, 1_699_999_999_997);
    assert.equal(c.key, key);
    assert.deepEqual(
      [...c.headers],
      [["a", last], ["b", null], ["", unnamed], ["ключ", empty], ["\uFEFFbom", null]],
    );
    assert.equal(c.headers.get("a"), last);
    assert.equal(c.headers.get("b"), null);
    assert.deepEqual(
      c.headerList,
      [["a", first], ["b", null], ["a", last], ["", unnamed], ["ключ", empty], ["\uFEFFbom", null]],
      "the list keeps every header in record order, the repeated name too",
    );
    assert.deepEqual([a.headerList, b.headerList], [[], []]);
    assert.equal(decoded.nextOffset, 104n);
  });

  test("timestamps stay exact at any size", () => {
    const records = [
      record(0, { timestampDelta: 0 }),
      record(1, { timestampDelta: 1 }),
      record(2, { timestampDelta: 2 ** 60 }),
    ];
    const huge = batch(0n, records, { firstTimestamp: 2n ** 53n + 1n });
    assert.deepEqual(
      decodePartition(fetched([huge]), 0n, "read_uncommitted").messages.map((m) => m.timestamp),
      [Number(2n ** 53n + 1n), Number(2n ** 53n + 2n), Number(2n ** 60n + 2n ** 53n + 3n)],
    );
    const none = batch(0n, [record(0, { timestampDelta: 0 })], { firstTimestamp: -1n });
    assert.equal(decodePartition(fetched([none]), 0n, "read_uncommitted").messages[0]!.timestamp, -1);
  });

  test("offsets stay exact at any size, below and above 2^53", () => {
    const records = [record(0), record(1), record(5)];
    for (const first of [0n, 2n ** 53n - 6n, 2n ** 53n - 3n, 2n ** 53n + 1n, 2n ** 63n - 8n]) {
      const decoded = decodePartition(
        fetched([batch(first, records, { lastOffsetDelta: 5 })]),
        first,
        "read_uncommitted",
      );
      assert.deepEqual(offsets(decoded), [first, first + 1n, first + 5n], `batch at ${first}`);
    }
  });

  test("a batch stamped with the broker's append time gives it to every record, whatever their deltas", () => {
    const records = [record(0, { timestampDelta: 0 }), record(1, { timestampDelta: 7 })];
    const appended: RecordBatch = {
      ...batch(0n, records, { firstTimestamp: 1000n }),
      logAppendTime: 1_795_000_000_123n,
    };
    assert.deepEqual(
      decodePartition(fetched([appended]), 0n, "read_uncommitted").messages.map((m) => m.timestamp),
      [1_795_000_000_123, 1_795_000_000_123],
    );
  });

  test("records without headers share one empty map and one empty list, both refusing changes", () => {
    const decoded = decodePartition(fetched(new Log().plain(3).batches), 0n, "read_committed");
    const [a, b, c] = decoded.messages;
    assert.ok(a && b && c);
    assert.equal(a.headers.size, 0);
    assert.ok(a.headers === b.headers && b.headers === c.headers);
    assert.ok(a.headerList === b.headerList && Object.isFrozen(a.headerList));
    const writable = a.headers as Map<string, Uint8Array | null>;
    assert.throws(() => writable.set("x", null), TypeError);
    assert.throws(() => writable.delete("x"), TypeError);
    assert.throws(() => writable.clear(), TypeError);
    assert.equal(b.headers.size, 0);
  });

  test("records below `from` are dropped, and a batch wholly below it leaves nextOffset at `from`", () => {
    const log = new Log(10n).plain(10);
    const inside = decodePartition(fetched(log.batches), 15n, "read_committed");
    assert.deepEqual(offsets(inside), [15n, 16n, 17n, 18n, 19n]);
    assert.equal(inside.nextOffset, 20n);
    for (const from of [20n, 25n]) {
      const below = decodePartition(fetched(log.batches), from, "read_uncommitted");
      assert.deepEqual(below, { messages: [], nextOffset: from });
    }
  });

  test("nextOffset passes trailing control batches and compacted batch tails", () => {
    const log = new Log().txn(1n, 2).txn(2n, 1).commit(1n).abort(2n);
    for (const isolation of ["read_committed", "read_uncommitted"] as const) {
      const decoded = decodePartition(fetched(log.batches, log.abortedTransactions), 0n, isolation);
      assert.deepEqual(offsets(decoded), isolation === "read_committed" ? [0n, 1n] : [0n, 1n, 2n]);
      assert.equal(decoded.nextOffset, 5n);
      // A response of markers only still moves the position past them.
      const markers = decodePartition(fetched(log.batches.slice(2), log.abortedTransactions), 3n, isolation);
      assert.deepEqual(markers, { messages: [], nextOffset: 5n });
    }
    // Compaction removed the last 4 records of a batch; the batch still ends at its last offset delta.
    const compacted = new Log().plain(2, -1n, 4);
    const decoded = decodePartition(fetched(compacted.batches), 0n, "read_committed");
    assert.deepEqual(offsets(decoded), [0n, 1n]);
    assert.equal(decoded.nextOffset, 6n);
  });

  test("an empty batches list returns nothing and keeps the position", () => {
    for (const isolation of ["read_committed", "read_uncommitted"] as const) {
      assert.deepEqual(decodePartition(fetched([]), 77n, isolation), { messages: [], nextOffset: 77n });
      assert.deepEqual(decodePartition(fetched([], [{ producerId: 1n, firstOffset: 3n }]), 77n, isolation), {
        messages: [],
        nextOffset: 77n,
      });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Property: a random log read through consecutive responses equals the model
// ---------------------------------------------------------------------------------------------

const PRODUCERS = 4;

const step = fc.record({
  producer: fc.integer({ min: 0, max: PRODUCERS - 1 }),
  action: fc.constantFrom("write", "write", "commit", "abort", "plain", "plainSameId"),
  count: fc.integer({ min: 1, max: 4 }),
  compactedTail: fc.constantFrom(0, 0, 0, 1, 3),
});

const scenario = fc.record({
  base: fc.bigInt({ min: 0n, max: 1n << 40n }),
  steps: fc.array(step, { minLength: 1, maxLength: 60 }),
  /** How each producer's transaction still open at the end finishes: commit when true. */
  finalCommits: fc.array(fc.boolean(), { minLength: PRODUCERS, maxLength: PRODUCERS }),
  /** Where reading starts, as a fraction of the log. */
  startAt: fc.double({ min: 0, max: 1, noNaN: true }),
  /** Batches per response, used in turn. */
  sizes: fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 10 }),
  /** Batches below `from` a response also carries, used in turn. */
  overlaps: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 10 }),
  /** Aborted transactions a broker lists beyond the response's end (harmless: never reached). */
  extraAborted: fc.boolean(),
  shuffleSeed: fc.nat(),
});

type Step = typeof step extends fc.Arbitrary<infer T> ? T : never;
type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

function buildLog(steps: readonly Step[], finalCommits: readonly boolean[], base: bigint): Log {
  const log = new Log(base);
  const open = new Set<bigint>();
  for (const { producer, action, count, compactedTail } of steps) {
    const producerId = BigInt(100 + producer);
    if (action === "write") {
      log.txn(producerId, count, compactedTail);
      open.add(producerId);
    } else if (action === "plain") {
      log.plain(count, -1n, compactedTail);
    } else if (action === "plainSameId") {
      log.plain(count, producerId, compactedTail);
    } else if (open.delete(producerId)) {
      if (action === "commit") log.commit(producerId);
      else log.abort(producerId);
    }
  }
  // Close every open transaction: under read_committed a broker returns nothing past the first open one.
  for (const producerId of [...open].sort((a, b) => (a < b ? -1 : 1))) {
    if (finalCommits[Number(producerId) - 100]) log.commit(producerId);
    else log.abort(producerId);
  }
  return log;
}

/** Aborted transactions a broker lists for a response at `from` whose last batch ends at `last`. */
function abortedFor(log: Log, from: bigint, last: bigint, extra: boolean, seed: number): AbortedTransaction[] {
  const overlapping = log.aborted.filter((t) => t.markerOffset >= from && (extra || t.firstOffset <= last));
  return shuffled(overlapping.map(({ producerId, firstOffset }) => ({ producerId, firstOffset })), seed);
}

/** Reads the log from `start` through consecutive responses, as the fetch loop will. */
function readAll(log: Log, start: bigint, isolation: IsolationLevel, s: Scenario) {
  const seen: { offset: bigint; value: Uint8Array | null }[] = [];
  let from = start;
  for (let round = 0; true; round++) {
    // The broker's first batch is the one holding `from`; some responses also carry earlier ones.
    const first = log.batches.findIndex((b) => b.firstOffset + BigInt(b.lastOffsetDelta) >= from);
    if (first < 0) break;
    const startIndex = Math.max(0, first - s.overlaps[round % s.overlaps.length]!);
    const batches = log.batches.slice(startIndex, first + s.sizes[round % s.sizes.length]!);
    const lastBatch = batches[batches.length - 1]!;
    const last = lastBatch.firstOffset + BigInt(lastBatch.lastOffsetDelta);
    const aborted = abortedFor(log, from, last, s.extraAborted, s.shuffleSeed + round);
    const decoded = decodePartition(fetched(batches, aborted), from, isolation);
    assert.equal(decoded.nextOffset, last + 1n);
    for (const m of decoded.messages) seen.push({ offset: m.offset, value: m.value });
    from = decoded.nextOffset;
  }
  // At the log end the broker returns no batches: the position stays.
  assert.equal(decodePartition(fetched([]), from, isolation).nextOffset, from);
  return { seen, end: from };
}

describe("decodePartition: property", () => {
  test("property: random interleaved transactions read in random responses equal the model", () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const log = buildLog(s.steps, s.finalCommits, s.base);
        const start = s.base + BigInt(Math.floor(s.startAt * Number(log.end - s.base)));
        const values = new Map(log.written.map((w) => [w.offset, w.value]));
        for (const isolation of ["read_committed", "read_uncommitted"] as const) {
          const { seen, end } = readAll(log, start, isolation, s);
          const expected = isolation === "read_committed" ? log.visible(start) : log.all(start);
          assert.deepEqual(seen.map((m) => m.offset), expected);
          for (const m of seen) assert.equal(m.value, values.get(m.offset));
          assert.equal(end, start >= log.end ? start : log.end);
        }
      }),
      { numRuns: 500 },
    );
  });
});
