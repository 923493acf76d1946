// A message as plain JSON, null bytes kept apart from empty ones: the worker engine tests compare
// what a worker received with what was sent.
import type { ConsumerMessage } from "../../../src/core/message.ts";

const bytes = (value: Uint8Array | null | undefined): number[] | null | "undefined" =>
  value === undefined ? "undefined" : value === null ? null : [...value];

/** Every field of `message` (offset as a string, headers in order), as JSON text. */
export function describeMessage(message: ConsumerMessage): string {
  return JSON.stringify({
    topic: message.topic,
    partition: message.partition,
    offset: String(message.offset),
    timestamp: message.timestamp,
    key: bytes(message.key),
    value: bytes(message.value),
    headers: [...message.headers].map(([name, value]) => [name, bytes(value)]),
  });
}
