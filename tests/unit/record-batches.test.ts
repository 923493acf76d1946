// Our record batch decoder against the library's reader, on batches the library writes: every
// codec, null and empty keys, values and header values, several batches, a cut-off last batch.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  compressionsAlgorithms,
  crc32c,
  createRecordsBatch,
  type MessageToProduce,
  Reader,
  readRecordsBatches,
} from "@platformatic/kafka";
import { decodeRecordBatches } from "../../src/adapters/platformatic/record-batches.ts";
import type { RecordBatch } from "../../src/adapters/group/kafka-client.ts";

type Codec = keyof typeof compressionsAlgorithms;
const CODECS = (Object.keys(compressionsAlgorithms) as Codec[]).filter((codec) =>
  compressionsAlgorithms[codec].available
);
const BASE = 1_700_000_000_000n;

const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((array) => Buffer.from(array));
const nullable = (maxLength: number) => fc.option(bytes(maxLength), { nil: null, freq: 4 });

const message = fc.record({
  key: nullable(12),
  value: nullable(300),
  headers: fc.array(fc.tuple(bytes(6), nullable(8)), { maxLength: 3 }),
  // Around a real timestamp, either way: deltas up to ±2^40 (exact as numbers).
  timestamp: fc.bigInt({ min: -(2n ** 40n), max: 2n ** 40n }).map((delta) => BASE + delta),
});

const batch = fc.record({
  messages: fc.array(message, { minLength: 1, maxLength: 12 }),
  codec: fc.constantFrom(...CODECS),
  producerId: fc.bigInt({ min: -1n, max: 2n ** 40n }),
  transactional: fc.boolean(),
});

type BatchSpec = typeof batch extends fc.Arbitrary<infer T> ? T : never;

function write({ messages, codec, producerId, transactional }: BatchSpec): Buffer {
  const toProduce = messages.map(({ key, value, headers, timestamp }) => ({
    topic: "t",
    partition: 0,
    key,
    value,
    // The library writes a null header value as length -1 (its type says Buffer).
    headers: new Map(headers as [Buffer, Buffer][]),
    timestamp,
  })) as unknown as MessageToProduce<Buffer, Buffer, Buffer, Buffer>[];
  const options = { compression: codec, producerId, ...(transactional ? { transactionalId: "tx" } : {}) };
  return createRecordsBatch(toProduce as never, options as never).buffer;
}

/** What both decoders say, in one comparable shape. */
function plain(batches: readonly RecordBatch[]) {
  const hex = (value: Uint8Array | null) => (value === null ? null : Buffer.from(value).toString("hex"));
  return batches.map((b) => ({
    ...b,
    records: b.records.map((r) => ({
      offsetDelta: r.offsetDelta,
      timestampDelta: r.timestampDelta,
      key: hex(r.key),
      value: hex(r.value),
      headers: r.headers.map(([name, value]) => [hex(name), hex(value)]),
    })),
  }));
}

function library(bytes: Buffer): RecordBatch[] {
  return readRecordsBatches(Reader.from(bytes)).map((b) => ({
    firstOffset: b.firstOffset,
    lastOffsetDelta: b.lastOffsetDelta,
    firstTimestamp: b.firstTimestamp,
    producerId: b.producerId,
    isTransactional: (b.attributes & 0x10) !== 0,
    isControl: (b.attributes & 0x20) !== 0,
    records: b.records.map((r) => ({
      offsetDelta: r.offsetDelta,
      timestampDelta: Number(r.timestampDelta),
      key: r.key,
      value: r.value,
      headers: r.headers,
    })),
  }));
}

describe("record batches", () => {
  test("decode as the library reads them: every codec, nulls and empties, several batches, a cut-off tail", () => {
    assert.ok(CODECS.includes("gzip") && CODECS.includes("none"), `codecs here: ${CODECS.join(", ")}`);
    fc.assert(
      fc.property(fc.array(batch, { minLength: 1, maxLength: 4 }), fc.nat(), (specs, cut) => {
        const written = specs.map(write);
        const whole = Buffer.concat(written);
        // A broker cuts a response at its size limit: the last batch may end early (or not at all).
        const bytes = whole.subarray(0, whole.length - (cut % (written.at(-1)!.length + 1)));
        // Every batch the client writes passes the CRC check.
        const ours = decodeRecordBatches(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), true);
        assert.deepEqual(plain(ours), plain(library(bytes)));
        assert.ok(ours.length >= specs.length - 1);
      }),
      { numRuns: 300 },
    );
  });

  test("a timestamp delta beyond 2^53 is rounded, not wrong; one inside is exact", () => {
    // Written by hand: the library's own writer encodes such deltas in its own way (2.12.1).
    for (const delta of [2n ** 53n - 1n, -(2n ** 53n), 2n ** 60n + 12345n, -(2n ** 62n) + 1n, 2n ** 63n - 1n]) {
      const [decoded] = decodeRecordBatches(oneRecordBatch(delta), true);
      const got = decoded!.records[0]!.timestampDelta;
      if (delta >= -(2n ** 53n) && delta < 2n ** 53n) assert.equal(got, Number(delta));
      else assert.ok(Math.abs(got - Number(delta)) <= Math.abs(Number(delta)) * 2 ** -50, `${got} for ${delta}`);
    }
  });

  test("an old message format or a corrupt header fails with the offset, rather than stalling on it", () => {
    const old = Buffer.from(oneRecordBatch(0n));
    old.writeBigInt64BE(42n, 0);
    old.writeInt8(1, 16);
    assert.throws(() => decodeRecordBatches(old, false), /offset 42 is in message format v1: only v2/);
    const short = Buffer.from(oneRecordBatch(0n));
    short.writeInt32BE(20, 8);
    assert.throws(() => decodeRecordBatches(short, false), /shorter than its header/);
  });

  test("a batch with the LogAppendTime attribute (bit 3) carries its max timestamp as the append time; others none", () => {
    const bytes = keyedRecordBatch();
    assert.equal(decodeRecordBatches(bytes, false)[0]!.logAppendTime, undefined);
    // What a broker does to a batch of a LogAppendTime topic: the type bit and the max timestamp.
    const stamped = Buffer.from(bytes);
    stamped.writeInt16BE(stamped.readInt16BE(21) | 0x08, 21);
    stamped.writeBigInt64BE(1_795_000_000_123n, 35);
    const [batch] = decodeRecordBatches(stamped, false);
    assert.equal(batch!.logAppendTime, 1_795_000_000_123n);
    assert.equal(batch!.firstTimestamp, BASE, "the rest is as written");
  });

  test("a batch whose records run past its end fails, rather than handing over bytes of the next", () => {
    const bytes = keyedRecordBatch();
    // Claim more records than the batch holds.
    const lying = Buffer.from(bytes);
    lying.writeInt32BE(5, 57);
    assert.throws(() => decodeRecordBatches(lying, false), RangeError);
  });

  test("a batch whose bytes do not match its CRC-32C fails with its offset", () => {
    fc.assert(
      fc.property(
        fc.array(batch, { minLength: 1, maxLength: 3 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (specs, at, flip) => {
          const written = specs.map(write);
          written[0]!.writeBigInt64BE(1234n, 0); // the first batch's offset: not covered by the CRC
          const whole = Buffer.concat(written);
          // Any byte the CRC covers: from the first batch's attributes to its end.
          const corrupt = Buffer.from(whole);
          const index = 21 + (at % (written[0]!.length - 21));
          corrupt[index]! ^= flip;
          assert.throws(
            () => decodeRecordBatches(corrupt, true),
            /batch at offset 1234 is corrupt: its CRC-32C is 0x[0-9a-f]{8}, it says 0x/,
          );
          // The same bytes intact pass (the tail is whole here: every batch comes back).
          assert.equal(decodeRecordBatches(whole, true).length, specs.length);
        },
      ),
      { numRuns: 200 },
    );
  });
});

/** A batch of one uncompressed record, key "k", value "value", as the client writes it. */
function keyedRecordBatch(): Buffer {
  return write({
    messages: [{ key: Buffer.from("k"), value: Buffer.from("value"), headers: [], timestamp: BASE }],
    codec: "none",
    producerId: -1n,
    transactional: false,
  });
}

/** Zigzag varint (LEB128) of a signed 64-bit value, as Kafka writes it. */
function varlong(value: bigint): number[] {
  let zigzag = BigInt.asUintN(64, (value << 1n) ^ (value >> 63n));
  const out: number[] = [];
  while (zigzag >= 0x80n) {
    out.push(Number(zigzag & 0x7fn) | 0x80);
    zigzag >>= 7n;
  }
  out.push(Number(zigzag));
  return out;
}

/** A batch of one record with a null key and value, no headers, at `timestampDelta`. */
function oneRecordBatch(timestampDelta: bigint): Uint8Array {
  const body = [0, ...varlong(timestampDelta), ...varlong(0n), ...varlong(-1n), ...varlong(-1n), ...varlong(0n)];
  const record = [...varlong(BigInt(body.length)), ...body];
  const bytes = new Uint8Array(61 + record.length);
  const view = new DataView(bytes.buffer);
  view.setInt32(8, 49 + record.length); // the batch's length after firstOffset and itself
  view.setInt8(16, 2); // magic
  view.setBigInt64(43, -1n); // producerId
  view.setInt32(57, 1); // record count
  bytes.set(record, 61);
  view.setUint32(17, crc32c(bytes.subarray(21))); // the client's own CRC-32C, as a broker would write it
  return bytes;
}
