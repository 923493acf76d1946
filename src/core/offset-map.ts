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
 */

import { bytesToBinaryString } from "./binary-string.ts";

const PREFIX = "pc1";

/** Result of encoding under a size limit. */
export interface EncodedOffsetMap {
  /** The metadata string; empty when nothing above the position is done. */
  readonly metadata: string;
  /** How many done offsets the map holds; fewer than given when the limit cut it short. */
  readonly encodedCount: number;
}

/**
 * Encodes `done` (sorted ascending, all above `position`) in at most `maxBytes` characters. When
 * it does not fit, the highest done offsets are left out: they would run again after a restart,
 * which is a duplicate, never a loss.
 */
export function encodeOffsetMap(position: number, done: readonly number[], maxBytes: number): EncodedOffsetMap {
  if (done.length === 0) return { metadata: "", encodedCount: 0 };
  const full = encodeSmallest(position, done, done.length);
  if (full.length <= maxBytes) return { metadata: full, encodedCount: done.length };
  // Largest prefix that fits: encoded size grows with the count, so binary search.
  let low = 0;
  let high = done.length - 1;
  let best = "";
  while (low <= high) {
    const mid = (low + high) >>> 1;
    const candidate = mid === 0 ? "" : encodeSmallest(position, done, mid);
    if (candidate.length <= maxBytes) {
      best = candidate;
      low = mid + 1;
    } else {
      high = mid - 1;
    }
  }
  return { metadata: best, encodedCount: Math.max(0, low - 1) };
}

/**
 * Decodes a map written for `position`. Returns the done offsets, or `[]` when the metadata is
 * empty, foreign (another tool's string) or was written for another position.
 */
export function decodeOffsetMap(metadata: string | null | undefined, position: number): number[] {
  if (!metadata || !metadata.startsWith(PREFIX) || metadata.length < PREFIX.length + 1) return [];
  try {
    const reader = { bytes: fromBase64(metadata.slice(PREFIX.length + 1)), at: 0 };
    if (readVarint(reader) !== position) return [];
    const kind = metadata[PREFIX.length];
    if (kind === "r") return decodeRuns(reader, position);
    if (kind === "b") return decodeBits(reader, position);
    return [];
  } catch {
    return []; // corrupt or foreign metadata: the map is an optimisation, the offset alone is safe
  }
}

function encodeSmallest(position: number, done: readonly number[], count: number): string {
  const runs = runLengthPayload(position, done, count);
  const bits = bitsetPayload(position, done, count);
  return runs.length <= bits.length ? `${PREFIX}r${toBase64(runs)}` : `${PREFIX}b${toBase64(bits)}`;
}

function runLengthPayload(position: number, done: readonly number[], count: number): Uint8Array {
  const out: number[] = [];
  writeVarint(out, position);
  let cursor = position; // first offset not yet described
  let i = 0;
  while (i < count) {
    const start = done[i]!;
    let end = start;
    while (i + 1 < count && done[i + 1] === end + 1) end = done[++i]!;
    i++;
    writeVarint(out, start - cursor); // not-done run
    writeVarint(out, end - start + 1); // done run
    cursor = end + 1;
  }
  return Uint8Array.from(out);
}

function bitsetPayload(position: number, done: readonly number[], count: number): Uint8Array {
  const bitCount = done[count - 1]! - position + 1;
  const header: number[] = [];
  writeVarint(header, position);
  writeVarint(header, bitCount);
  const out = new Uint8Array(header.length + Math.ceil(bitCount / 8));
  out.set(header);
  for (let i = 0; i < count; i++) {
    const bit = done[i]! - position;
    out[header.length + (bit >>> 3)]! |= 1 << (bit & 7);
  }
  return out;
}

function decodeRuns(reader: Reader, position: number): number[] {
  const done: number[] = [];
  let cursor = position;
  while (reader.at < reader.bytes.length) {
    cursor += readVarint(reader);
    const length = readVarint(reader);
    for (let k = 0; k < length; k++) done.push(cursor + k);
    cursor += length;
  }
  return done;
}

function decodeBits(reader: Reader, position: number): number[] {
  const bitCount = readVarint(reader);
  const done: number[] = [];
  for (let bit = 0; bit < bitCount; bit++) {
    const byte = reader.bytes[reader.at + (bit >>> 3)];
    if (byte === undefined) throw new RangeError("truncated offset map");
    if (byte & (1 << (bit & 7))) done.push(position + bit);
  }
  return done;
}

interface Reader {
  readonly bytes: Uint8Array;
  at: number;
}

/** Unsigned LEB128 with arithmetic, not bit operators: offsets exceed 32 bits. */
function writeVarint(out: number[], value: number): void {
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
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
