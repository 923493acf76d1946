// Records of every legal shape, by sequence number: null and empty keys and values, headers
// without a value, empty header values, a repeated header name, a 1 MB value. Shared by the test that writes them and the
// handlers (async and worker) that check what arrived.
import type { ConsumerMessage } from "../../src/core/message.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One record's fields as written (strings are UTF-8; `null` is absent). */
export interface Shape {
  readonly key: string | null;
  readonly value: string | null;
  readonly headers: readonly (readonly [string, string | null])[];
}

export const LARGE_SEQ = 100;

/** The record written with sequence number `seq`; header "seq" carries it. */
export function shapeOf(seq: number): Shape {
  const key = seq % 3 === 0 ? null : seq % 5 === 0 ? "" : `key-${seq % 10}`;
  const value = seq === LARGE_SEQ ? "x".repeat(1_000_000) : seq % 4 === 0 ? null : seq % 7 === 0 ? "" : `value-${seq}`;
  const headers: [string, string | null][] = [["seq", String(seq)]];
  if (seq % 2 === 0) headers.push(["no-value", null]);
  if (seq % 6 === 0) headers.push(["empty", ""]);
  if (seq % 10 === 9) headers.push(["fail", "1"]);
  // Kafka allows a name more than once: the map keeps the last value, the list every header.
  if (seq % 5 === 4) headers.push(["hop", "first"], ["hop", seq % 2 === 0 ? null : "second"]);
  return { key, value, headers };
}

/** A shape's fields as bytes. */
export interface ShapeBytes {
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
  readonly headers: readonly (readonly [string, Uint8Array | null])[];
}

/** The shape's fields as bytes, for a producer. */
export function bytesOf(shape: Shape): ShapeBytes {
  return {
    key: shape.key === null ? null : encoder.encode(shape.key),
    value: shape.value === null ? null : encoder.encode(shape.value),
    headers: shape.headers.map(([name, value]) => [name, value === null ? null : encoder.encode(value)] as const),
  };
}

/** What differs between a delivered message and the record written with its "seq" header, or `undefined`. */
export function mismatch(message: ConsumerMessage): string | undefined {
  const seqBytes = message.headers.get("seq");
  if (!seqBytes) return "no seq header";
  const seq = Number(decoder.decode(seqBytes));
  const expected = shapeOf(seq);
  const text = (bytes: Uint8Array | null) => (bytes === null ? null : decoder.decode(bytes));
  if (text(message.key) !== expected.key) {
    return `seq ${seq}: key ${JSON.stringify(text(message.key))}, expected ${JSON.stringify(expected.key)}`;
  }
  if (text(message.value) !== expected.value) {
    return `seq ${seq}: value of ${message.value?.byteLength ?? "null"} bytes differs`;
  }
  const headers = (message.headerList ?? []).map(([name, value]) => [name, text(value)]);
  if (JSON.stringify(headers) !== JSON.stringify(expected.headers)) {
    return `seq ${seq}: headers ${JSON.stringify(headers)}, expected ${JSON.stringify(expected.headers)}`;
  }
  const last = new Map(expected.headers);
  const byName = [...message.headers].map(([name, value]) => [name, text(value)]);
  if (JSON.stringify(byName) !== JSON.stringify([...last])) {
    return `seq ${seq}: headers by name ${JSON.stringify(byName)}, expected ${JSON.stringify([...last])}`;
  }
  return undefined;
}

/** Whether the record asks its handler to fail (to be dead-lettered). */
export function failsOn(message: ConsumerMessage): boolean {
  return message.headers.has("fail");
}
