// Record batches (message format v2, KIP-98) read straight from the bytes of a fetch response, into
// the port's shape. The library's reader builds a tuple per varint, a bigint per timestamp and a
// Buffer per slice through its multi-chunk buffer: 270–820 ns a record against 107–123 here
// (bench/micro/records.ts: 100-byte values, 16-byte keys), a large part of the consumer's own time
// with a no-op handler.
//
// Batch header, big-endian: firstOffset int64 | length int32 (bytes after this field) |
// partitionLeaderEpoch int32 | magic int8 | crc uint32 | attributes int16 (bits 0–2 codec, 3
// timestamp type, 4 transactional, 5 control) | lastOffsetDelta int32 |
// firstTimestamp int64 | maxTimestamp int64 | producerId int64 | producerEpoch int16 |
// firstSequence int32 | recordCount int32, then the records (compressed as one block per the
// attributes' low 3 bits). A record: length varint | attributes int8 | timestampDelta varlong |
// offsetDelta varint | key (varint length, -1 = null) | value (same) | header count varint, then
// per header a name and a value (same). Varints are zigzag-encoded.
import { compressionsAlgorithmsByBitmask, IS_CONTROL, IS_TRANSACTIONAL } from "@platformatic/kafka";
import type { KafkaRecord, RecordBatch } from "../group/kafka-client.ts";
import { crc32c } from "./crc32c.ts";

/** firstOffset and length: what must be there to know a batch's size. */
const LOG_OVERHEAD = 12;
/** The whole batch header, up to and including the record count. */
const HEADER = 61;
const MAGIC = 16;
const CRC = 17;
/** The CRC covers the batch from its attributes to its end. */
const ATTRIBUTES = 21;
const LAST_OFFSET_DELTA = 23;
const FIRST_TIMESTAMP = 27;
const MAX_TIMESTAMP = 35;
const PRODUCER_ID = 43;
const RECORD_COUNT = 57;
const COMPRESSION = 0x07;
/** Attribute bit 3: the batch's records carry the broker's append time (its max timestamp). */
const LOG_APPEND_TIME = 0x08;
/** Shared by every record without headers (most of them): one allocation fewer per record. */
const NO_HEADERS: KafkaRecord["headers"] = Object.freeze([]);

/**
 * The complete batches in `bytes` (a partition's records field), in order. A trailing partial batch
 * (a broker cuts a response at its size limit) is left out, as Kafka's consumers do. With
 * `checkCrcs`, a batch whose CRC-32C does not match its bytes fails, naming its offset.
 */
export function decodeRecordBatches(input: Uint8Array, checkCrcs: boolean): RecordBatch[] {
  const bytes = plain(input);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const batches: RecordBatch[] = [];
  let start = 0;
  while (bytes.length - start >= LOG_OVERHEAD) {
    const end = start + LOG_OVERHEAD + view.getInt32(start + 8);
    if (end > bytes.length) break;
    if (end - start < HEADER || bytes[start + MAGIC] !== 2) {
      throw unreadable(view.getBigInt64(start), bytes[start + MAGIC]);
    }
    if (checkCrcs) checkCrc(bytes, view, start, end);
    const attributes = view.getInt16(start + ATTRIBUTES);
    const count = view.getInt32(start + RECORD_COUNT);
    const compression = attributes & COMPRESSION;
    const records = compression === 0
      ? readRecords(bytes.subarray(start + HEADER, end), count)
      : readRecords(decompress(compression, bytes.subarray(start + HEADER, end)), count);
    const batch: RecordBatch = {
      firstOffset: view.getBigInt64(start),
      lastOffsetDelta: view.getInt32(start + LAST_OFFSET_DELTA),
      firstTimestamp: view.getBigInt64(start + FIRST_TIMESTAMP),
      producerId: view.getBigInt64(start + PRODUCER_ID),
      isTransactional: (attributes & IS_TRANSACTIONAL) !== 0,
      isControl: (attributes & IS_CONTROL) !== 0,
      records,
    };
    // The broker sets the type and the max timestamp only: the records keep the producer's deltas.
    batches.push(
      (attributes & LOG_APPEND_TIME) === 0
        ? batch
        : { ...batch, logAppendTime: view.getBigInt64(start + MAX_TIMESTAMP) },
    );
    start = end;
  }
  return batches;
}

/** A batch this decoder cannot read: an old message format (before Kafka 0.11), or a corrupt header. */
function unreadable(firstOffset: bigint, magic: number | undefined): Error {
  return new RangeError(
    magic === 2
      ? `the record batch at offset ${firstOffset} is shorter than its header (corrupt)`
      : `the record batch at offset ${firstOffset} is in message format v${magic}: only v2 (Kafka 0.11 and later) is read`,
  );
}

/** Kafka's consumers check the same (`check.crcs`): corruption on the wire or on the broker's disk. */
function checkCrc(bytes: Uint8Array, view: DataView, start: number, end: number): void {
  const stored = view.getUint32(start + CRC);
  const computed = crc32c(bytes, view, start + ATTRIBUTES, end);
  if (stored === computed) return;
  const hex = (crc: number) => `0x${crc.toString(16).padStart(8, "0")}`;
  throw new RangeError(
    `the record batch at offset ${view.getBigInt64(start)} is corrupt: its CRC-32C is ${hex(computed)}, ` +
      `it says ${hex(stored)}`,
  );
}

function decompress(bitmask: number, compressed: Uint8Array): Uint8Array {
  const algorithm = compressionsAlgorithmsByBitmask[bitmask as keyof typeof compressionsAlgorithmsByBitmask];
  if (algorithm === undefined) throw new Error(`record batch compressed with an unknown codec (${bitmask})`);
  return plain(algorithm.decompressSync(Buffer.from(compressed.buffer, compressed.byteOffset, compressed.byteLength)));
}

/**
 * The same bytes as a plain Uint8Array (a Buffer is one too): views of it, one per key, value and
 * header, are made without Buffer's constructor, which cost about as much as the decoding itself.
 */
function plain(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Reads `count` records from `bytes`; a record cut short fails the whole batch (a broker never sends one). */
function readRecords(bytes: Uint8Array, count: number): KafkaRecord[] {
  const reader = new RecordReader(bytes);
  const records: KafkaRecord[] = new Array(count);
  for (let i = 0; i < count; i++) {
    reader.varint(); // the record's length: its fields say where it ends
    reader.position++; // attributes: unused in v2
    const timestampDelta = reader.varint();
    const offsetDelta = reader.varint();
    const key = reader.bytes();
    const value = reader.bytes();
    const headerCount = reader.varint();
    let headers: KafkaRecord["headers"] = NO_HEADERS;
    if (headerCount > 0) {
      const read: [Uint8Array | null, Uint8Array | null][] = new Array(headerCount);
      for (let h = 0; h < headerCount; h++) read[h] = [reader.bytes(), reader.bytes()];
      headers = read;
    }
    records[i] = { offsetDelta, timestampDelta, key, value, headers };
  }
  if (reader.position > bytes.length) throw new RangeError("a record batch ends inside a record");
  return records;
}

/** Zigzag varints and length-prefixed bytes, read as numbers (exact within ±2^53). */
class RecordReader {
  readonly #bytes: Uint8Array;
  position = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  /** A zigzag varint or varlong. Beyond ±2^53 (no real timestamp delta) it is rounded. */
  varint(): number {
    const bytes = this.#bytes;
    let byte = bytes[this.position++]!;
    let raw = byte & 0x7f;
    // Up to four bytes (28 bits): integer arithmetic; zigzag back to signed.
    for (let shift = 7; byte & 0x80 && shift < 28; shift += 7) {
      byte = bytes[this.position++]!;
      raw |= (byte & 0x7f) << shift;
    }
    if ((byte & 0x80) === 0) return (raw >>> 1) ^ -(raw & 1);
    // Longer: the bits above the 28th as a float, joined to the low ones halved (zigzag); the
    // sign is bit 0, known exactly, so rounding can never flip it.
    let high = 0;
    for (let scale = 1; byte & 0x80; scale *= 128) {
      byte = bytes[this.position++]!;
      if (byte === undefined) throw new RangeError("a record batch ends inside a varint");
      high += (byte & 0x7f) * scale;
    }
    const magnitude = (raw >>> 1) + high * 2 ** 27;
    return (raw & 1) === 0 ? magnitude : -magnitude - 1;
  }

  /** Length-prefixed bytes (a view, not a copy); null for length -1. */
  bytes(): Uint8Array | null {
    const length = this.varint();
    if (length < 0) return null;
    const start = this.position;
    this.position += length;
    return this.#bytes.subarray(start, this.position);
  }
}
