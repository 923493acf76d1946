// Benchmark messages: values are 32-byte views into one shared buffer, as fetched records are.
import type { ConsumerMessage } from "../../src/core/message.ts";

/** `count` messages, each asking for `rounds` SHA-256 rounds, `repeat` times over. */
export function makeMessages(count: number, rounds: number, repeat = 1): ConsumerMessage[] {
  const shared = new Uint8Array(count * 40);
  for (let i = 0; i < shared.length; i++) shared[i] = (i * 2654435761) >>> 24;
  const headers = new Map([["rounds", uint32(rounds)], ["repeat", uint32(repeat)]]);
  return Array.from({ length: count }, (_, i) => ({
    topic: "bench",
    partition: 0,
    offset: BigInt(i),
    key: null,
    value: shared.subarray(i * 40, i * 40 + 32),
    headers,
    timestamp: 0,
  }));
}

/** Reads a numeric header written by makeMessages (4 bytes, big-endian: cheap to read). */
export function numberHeader(message: ConsumerMessage, name: string): number {
  const bytes = message.headers.get(name)!;
  return ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
}

function uint32(value: number): Uint8Array {
  return Uint8Array.of(value >>> 24, value >>> 16, value >>> 8, value);
}
