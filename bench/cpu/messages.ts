// Benchmark messages: values are 32-byte views into one shared buffer, as fetched records are.
import type { ConsumerMessage } from "../../src/core/message.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** `count` messages, each asking for `rounds` SHA-256 rounds, `repeat` times over. */
export function makeMessages(count: number, rounds: number, repeat = 1): ConsumerMessage[] {
  const shared = new Uint8Array(count * 40);
  for (let i = 0; i < shared.length; i++) shared[i] = (i * 2654435761) >>> 24;
  const headers = new Map([["rounds", encoder.encode(String(rounds))], ["repeat", encoder.encode(String(repeat))]]);
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

/** Reads a numeric header written by makeMessages. */
export function numberHeader(message: ConsumerMessage, name: string): number {
  return Number(decoder.decode(message.headers.get(name)));
}
