/**
 * The offset map: which offsets above a commit position are already done, stored in the commit's
 * metadata string so a restarted or new owner never runs them again.
 *
 * Text form: `pc1` + kind (`r` run-length, `b` bitset) + base64 of the payload. Both payloads
 * start with the commit position as a varint, so a map is only trusted beside the offset it was
 * written with (offset reset tools keep old metadata). The smaller of the two encodings is used.
 * - run-length: alternating run lengths, starting with a not-done run (the position itself is
 *   never done), each a varint.
 * - bitset: a varint bit count, then one bit per offset from the position, least significant first.
 *
 * Neither direction ever visits the offsets of a range one by one, except bits of a bitset, whose
 * count the size limit (encoding) or the metadata length (decoding) bounds.
 */

import { bytesToBinaryString } from "./binary-string.ts";

/** A run of done offsets, both ends included. */
export type DoneRange = readonly [first: number, last: number];

/** Result of encoding under a size limit. */
export interface EncodedOffsetMap {
  /** The metadata string; empty when nothing above the position is done (or nothing fits). */
  readonly metadata: string;
  /** False when the size limit cut the map short (the highest done offsets were left out). */
  readonly complete: boolean;
  /** Bytes of its payload (before base64); 0 when empty. */
  readonly payloadBytes: number;
}

const PREFIX = "pc1";
/** Characters before the base64 payload: the prefix and the kind letter. */
const HEADER_CHARS = PREFIX.length + 1;

/**
 * Encodes done ranges (ascending, non-overlapping, all above `position`) in at most maxBytes characters,
 * pulling ranges from the iterable only as far as they can still fit: the cost is bounded by maxBytes,
 * not by how many ranges the iterable could yield.
 *
 * When the set does not fit, the highest done offsets are left out (possibly part of a range): they
 * would run again after a restart, which is a duplicate, never a loss. Ranges that reach down to the
 * position or overlap an earlier one are clipped, never widened.
 */
export function encodeOffsetMap(position: number, ranges: Iterable<DoneRange>, maxBytes: number): EncodedOffsetMap {
  const plan = planPrefix(position, ranges, offsetMapPayloadLimit(maxBytes));
  if (plan.firsts.length === 0) return { metadata: "", complete: plan.complete, payloadBytes: 0 };
  const metadata = plan.runBytes <= plan.bitBytes
    ? `${PREFIX}r${toBase64(runLengthPayload(position, plan))}`
    : `${PREFIX}b${toBase64(bitsetPayload(position, plan))}`;
  return { metadata, complete: plan.complete, payloadBytes: payloadBytes(plan) };
}

/**
 * The payload bytes of the map {@linkcode encodeOffsetMap} would write, without writing it: for
 * checks between commits, which only need its size.
 */
export function offsetMapPayloadBytes(position: number, ranges: Iterable<DoneRange>, maxBytes: number): number {
  return payloadBytes(planPrefix(position, ranges, offsetMapPayloadLimit(maxBytes)));
}

/** The smaller encoding's payload bytes, which is the one written; 0 for an empty map. */
function payloadBytes(plan: Plan): number {
  return plan.firsts.length === 0 ? 0 : Math.min(plan.runBytes, plan.bitBytes);
}

/** Payload bytes a map of at most `maxBytes` characters can carry. */
export function offsetMapPayloadLimit(maxBytes: number): number {
  // base64 turns every started group of 3 payload bytes into 4 characters.
  return Math.floor((maxBytes - HEADER_CHARS) / 4) * 3;
}

/**
 * An upper bound on the payload of the map once `more` further offsets are done, none above
 * `highest`, given `measured`: the payload of the map measured at `measuredAt` (0 when empty) with
 * `position` the commit position now (at or above `measuredAt`).
 *
 * Run-length: one more done offset adds at most 1 + the varint of a gap to the runs (it splits a
 * gap, extends a run, or starts one past the last; moving the position only drops runs). Bitset:
 * the position's varint (never longer than `highest`'s), the bit count, one bit per offset up to
 * `highest`, whatever is done. The bound is the smaller of the two, as the encoder picks.
 */
export function offsetMapBound(
  measured: number,
  measuredAt: number,
  position: number,
  highest: number,
  more: number,
): number {
  const highestBytes = varintLength(highest);
  const runs = (measured || highestBytes) + more * (1 + varintLength(Math.max(0, highest - measuredAt)));
  const bitCount = Math.max(0, highest - position + 1);
  return Math.min(runs, highestBytes + varintLength(bitCount) + Math.ceil(bitCount / 8));
}

/**
 * Decodes a map written for `position`: its done ranges, ascending. [] for empty, foreign, corrupt or
 * other-position metadata. Ranges are clipped to offsets below position + maxSpan (dropping done
 * offsets is always safe: they run again; marking an offset done that is not would lose it). Cost is
 * O(metadata length).
 */
export function decodeOffsetMap(metadata: string | null | undefined, position: number, maxSpan: number): DoneRange[] {
  if (!metadata || !metadata.startsWith(PREFIX) || metadata.length <= HEADER_CHARS || !(maxSpan > 0)) return [];
  const kind = metadata[PREFIX.length];
  if (kind !== "r" && kind !== "b") return [];
  try {
    const reader = { bytes: fromBase64(metadata.slice(HEADER_CHARS)), at: 0 };
    if (readVarint(reader) !== position) return [];
    // The position itself is never done; nothing at or past the span is trusted.
    const out = new RangeCollector(position + 1, position + maxSpan - 1);
    if (kind === "r") readRuns(reader, position, out);
    else readBits(reader, position, maxSpan, out);
    return out.ranges;
  } catch {
    return []; // corrupt or foreign metadata: the map is an optimisation, the offset alone is safe
  }
}

/** The largest prefix of the done offsets that fits, as merged ranges, and both encodings' sizes. */
interface Plan {
  readonly firsts: number[];
  readonly lasts: number[];
  /** Gap (not-done run) before each range, as the run-length payload writes it. */
  readonly gaps: number[];
  runBytes: number;
  bitBytes: number;
  complete: boolean;
}

/**
 * Pulls ranges while the smaller encoding still fits `maxPayload` bytes. Both sizes only grow as offsets
 * are added, so the first range that does not fit whole ends the map: its largest fitting part (binary
 * search over its last offset, each step O(1)) is the last range taken, and the iterable is left there.
 * A range that does not continue the previous one adds at least two bits to the bitset and two bytes to
 * the runs, so at most about 4 × maxPayload ranges are pulled (when the iterable merges adjacent ones).
 */
function planPrefix(position: number, ranges: Iterable<DoneRange>, maxPayload: number): Plan {
  const plan: Plan = { firsts: [], lasts: [], gaps: [], runBytes: 0, bitBytes: 0, complete: true };
  const positionBytes = varintLength(position);
  /** Run-length bytes of every range but the last, which may still grow. */
  let closedBytes = positionBytes;
  /** Payload bytes of the smaller encoding when the map ends with the run `start..last`. */
  const size = (base: number, start: number, last: number): number =>
    Math.min(base + varintLength(last - start + 1), bitsetBytes(position, positionBytes, last));
  for (const [rawFirst, rawLast] of ranges) {
    const n = plan.firsts.length;
    const previousLast = n === 0 ? position : plan.lasts[n - 1]!;
    const first = Math.max(rawFirst, previousLast + 1);
    if (first > rawLast) continue;
    // An adjacent range continues the last run; otherwise the last run is closed and a new one starts.
    const extend = n > 0 && first === previousLast + 1;
    const closed = extend || n === 0 ? closedBytes : closedBytes + runPairBytes(plan, n - 1);
    const start = extend ? plan.firsts[n - 1]! : first;
    const gap = extend ? plan.gaps[n - 1]! : first - (n === 0 ? position : previousLast + 1);
    const base = closed + varintLength(gap);
    let last = rawLast;
    if (size(base, start, last) > maxPayload) {
      plan.complete = false;
      let low = first;
      let high = rawLast - 1;
      last = first - 1;
      while (low <= high) {
        const mid = Math.floor((low + high) / 2);
        if (size(base, start, mid) <= maxPayload) {
          last = mid;
          low = mid + 1;
        } else {
          high = mid - 1;
        }
      }
      if (last < first) break;
    }
    if (extend) {
      plan.lasts[n - 1] = last;
    } else {
      closedBytes = closed;
      plan.firsts.push(first);
      plan.lasts.push(last);
      plan.gaps.push(gap);
    }
    plan.runBytes = base + varintLength(last - start + 1);
    plan.bitBytes = bitsetBytes(position, positionBytes, last);
    if (!plan.complete) break;
  }
  return plan;
}

function runPairBytes(plan: Plan, index: number): number {
  return varintLength(plan.gaps[index]!) + varintLength(plan.lasts[index]! - plan.firsts[index]! + 1);
}

function bitsetBytes(position: number, positionBytes: number, last: number): number {
  const bitCount = last - position + 1;
  return positionBytes + varintLength(bitCount) + Math.ceil(bitCount / 8);
}

function runLengthPayload(position: number, plan: Plan): Uint8Array {
  const writer = { bytes: new Uint8Array(plan.runBytes), at: 0 };
  writeVarint(writer, position);
  for (let i = 0; i < plan.firsts.length; i++) {
    writeVarint(writer, plan.gaps[i]!); // not-done run
    writeVarint(writer, plan.lasts[i]! - plan.firsts[i]! + 1); // done run
  }
  return writer.bytes;
}

function bitsetPayload(position: number, plan: Plan): Uint8Array {
  const writer = { bytes: new Uint8Array(plan.bitBytes), at: 0 };
  writeVarint(writer, position);
  writeVarint(writer, plan.lasts[plan.lasts.length - 1]! - position + 1);
  const bits = writer.bytes.subarray(writer.at);
  for (let i = 0; i < plan.firsts.length; i++) setBits(bits, plan.firsts[i]! - position, plan.lasts[i]! - position);
  return writer.bytes;
}

/** Sets bits `from..to` (both included): whole bytes at once in the middle. */
function setBits(bits: Uint8Array, from: number, to: number): void {
  let bit = from;
  while (bit <= to && (bit & 7) !== 0) bits[bit >>> 3]! |= 1 << (bit++ & 7);
  while (bit + 7 <= to) {
    bits[bit >>> 3] = 0xff;
    bit += 8;
  }
  while (bit <= to) bits[bit >>> 3]! |= 1 << (bit++ & 7);
}

/** Collects decoded ranges, clipped to `[low, high]` and merged when adjacent, in ascending order. */
class RangeCollector {
  readonly ranges: [number, number][] = [];
  readonly #low: number;
  readonly #high: number;

  constructor(low: number, high: number) {
    this.#low = low;
    this.#high = high;
  }

  add(rawFirst: number, rawLast: number): void {
    const first = Math.max(rawFirst, this.#low);
    const last = Math.min(rawLast, this.#high);
    if (first > last) return;
    const previous = this.ranges[this.ranges.length - 1];
    if (previous !== undefined && first <= previous[1] + 1) previous[1] = Math.max(previous[1], last);
    else this.ranges.push([first, last]);
  }
}

/** O(payload bytes): each run costs at least two bytes, whatever length it claims. */
function readRuns(reader: Reader, position: number, out: RangeCollector): void {
  let cursor = position;
  while (reader.at < reader.bytes.length) {
    cursor += readVarint(reader);
    const length = readVarint(reader);
    // Clipped, so a huge run costs nothing; past the span, reading goes on only to reject a truncated map.
    out.add(cursor, cursor + length - 1);
    cursor += length;
  }
}

/** O(payload bytes): the bit count is checked against the bytes present before any bit is read. */
function readBits(reader: Reader, position: number, maxSpan: number, out: RangeCollector): void {
  const bitCount = readVarint(reader);
  if (Math.ceil(bitCount / 8) > reader.bytes.length - reader.at) throw new RangeError("truncated offset map");
  const end = Math.min(bitCount, maxSpan);
  let runStart = -1;
  for (let bit = 0; bit < end; bit++) {
    const set = (reader.bytes[reader.at + (bit >>> 3)]! & (1 << (bit & 7))) !== 0;
    if (set && runStart < 0) runStart = bit;
    if (!set && runStart >= 0) {
      out.add(position + runStart, position + bit - 1);
      runStart = -1;
    }
  }
  if (runStart >= 0) out.add(position + runStart, position + end - 1);
}

interface Reader {
  readonly bytes: Uint8Array;
  at: number;
}

/** Bytes of `value` as an unsigned LEB128 varint. */
function varintLength(value: number): number {
  let length = 1;
  for (let limit = 0x80; value >= limit; limit *= 0x80) length++;
  return length;
}

/** Unsigned LEB128 with arithmetic, not bit operators: offsets exceed 32 bits. */
function writeVarint(writer: Reader, value: number): void {
  while (value >= 0x80) {
    writer.bytes[writer.at++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  writer.bytes[writer.at++] = value;
}

function readVarint(reader: Reader): number {
  let value = 0;
  let scale = 1;
  for (;;) {
    const byte = reader.bytes[reader.at++];
    if (byte === undefined) throw new RangeError("truncated offset map");
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return value;
    scale *= 0x80;
    if (scale > 2 ** 56) throw new RangeError("varint too long in offset map");
  }
}

function toBase64(bytes: Uint8Array): string {
  return btoa(bytesToBinaryString(bytes));
}

function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
