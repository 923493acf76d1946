// deno-lint-ignore no-unused-vars -- MessageFailedError is named in the TSDoc below
import type { MessageFailedError, PyrallelError } from "./errors.ts";

/** A partition whose commit has been held by one offset for longer than `stallThresholdMs`. */
export interface StallEvent {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  /** Key of the blocking message: the likely poison pill. */
  readonly key: Uint8Array | null;
  readonly blockingDurationSec: number;
}

/** Events of a running consumer. */
export interface ConsumerEvents {
  /**
   * A message failed for good ({@linkcode MessageFailedError}), a commit or dead letter failed, the
   * client or the engine failed: `error.code` says which.
   */
  error: (error: PyrallelError) => void;
  /** An offset has blocked its partition's commit for longer than `stallThresholdMs`. */
  stall: (event: StallEvent) => void;
}

/** The stall log line: names partition, offset and key, the first things to look at. */
export function describeStall(event: StallEvent): string {
  return `pyrallel: ${event.topic}[${event.partition}] commit blocked at offset ${event.offset} ` +
    `(key ${describeKey(event.key)}) for ${event.blockingDurationSec.toFixed(1)} s: ` +
    `its handler may be stuck (a poison pill?)`;
}

/** A key for a log line: text when it is printable UTF-8, else hex; never long. */
function describeKey(key: Uint8Array | null): string {
  if (key === null) return "null";
  const text = new TextDecoder().decode(key.subarray(0, 64));
  // deno-lint-ignore no-control-regex -- control characters are exactly what makes a key unprintable
  const shown = /[\u0000-\u001f\ufffd]/.test(text)
    ? `0x${[...key.subarray(0, 32)].map((byte) => byte.toString(16).padStart(2, "0")).join("")}`
    : JSON.stringify(text);
  return key.byteLength > 64 ? `${shown}…` : shown;
}
