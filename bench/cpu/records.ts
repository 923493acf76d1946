// What the CPU benchmark's topics hold, as pure functions: the consumer runs read these records from
// Kafka, the plain pool regenerates the same values here. No Kafka client: worker modules import it.

/** Bytes of every value. */
export const VALUE_BYTES = 32;

/** The value of message `index`: `VALUE_BYTES` bytes derived from the index (the same everywhere). */
export function valueOf(index: number): Uint8Array {
  const value = new Uint8Array(VALUE_BYTES);
  let state = (index + 1) * 0x9e3779b1;
  for (let i = 0; i < VALUE_BYTES; i++) {
    // xorshift32: cheap, and every message gets different bytes
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    value[i] = state >>> 24;
  }
  return value;
}

/** The "rounds" header: 4 bytes, big-endian (cheap to read in a handler). */
export function encodeRounds(rounds: number): Uint8Array {
  return Uint8Array.of(rounds >>> 24, rounds >>> 16, rounds >>> 8, rounds);
}

/** Reads the "rounds" header written by {@link encodeRounds}. */
export function roundsHeader(headers: ReadonlyMap<string, Uint8Array | null>): number {
  const bytes = headers.get("rounds");
  if (!bytes || bytes.length !== 4) throw new Error('record without a 4-byte "rounds" header');
  return ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
}
