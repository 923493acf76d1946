// The messages exchanged between the WorkerEngine (main side) and runWorker() (worker side).
// Everything here is structured-cloneable. The payload bytes of a batch travel together in one
// transferred ArrayBuffer: transferring costs per buffer (about 5 µs each on Node), copying
// small payloads into one buffer costs next to nothing.
import type { ConsumerMessage } from "../../core/message.ts";
import { describeThrown, nameOfThrown } from "../../core/thrown.ts";

/**
 * One message to run, as sent to a worker. Payloads are spans of the batch's buffer: a start
 * and a length, the length -1 for a null key, value or header value.
 */
export interface WireTask {
  readonly id: number;
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly keyStart: number;
  readonly keyLength: number;
  readonly valueStart: number;
  readonly valueLength: number;
  /** Name, start, length (-1: a header without a value). */
  readonly headers: [string, number, number][];
  readonly timestamp: number;
  readonly attempt: number;
}

/** An error thrown in a worker, flattened so any runtime can clone it. */
export interface WireError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
}

/**
 * Main → worker. `init` comes first: `posted` counts (Int32 at index 0) the messages posted to
 * this worker so far, which tells the worker how much work is queued for it (see Reporter).
 */
export type ToWorker =
  | { readonly type: "init"; readonly posted: SharedArrayBuffer; readonly lowWater: number }
  | { readonly type: "run"; readonly tasks: WireTask[]; readonly payloads: ArrayBuffer }
  | { readonly type: "cancel"; readonly ids: number[]; readonly reason: WireError };

/** Worker → main. `exit` is sent by a Deno worker that ends itself (Deno reports nothing else). */
export type FromWorker =
  | { readonly type: "ready" }
  | { readonly type: "done"; readonly ok: number[]; readonly failed: { id: number; error: WireError }[] }
  | { readonly type: "exit" };

/** A message to send, with its id and attempt number. */
export interface OutgoingTask {
  readonly id: number;
  readonly message: ConsumerMessage;
  readonly context: { readonly attempt: number };
}

/**
 * Main side: a batch as sent to a worker, its payloads copied into one fresh buffer (to be
 * transferred). Never send a message's own `bytes.buffer`: a fetched message is a view into a
 * large buffer shared with other messages (cloning would copy all of it, transferring would
 * detach the others).
 */
export function encodeBatch(batch: readonly OutgoingTask[]): { tasks: WireTask[]; payloads: ArrayBuffer } {
  let size = 0;
  for (const { message } of batch) {
    size += (message.key?.byteLength ?? 0) + (message.value?.byteLength ?? 0);
    for (const bytes of message.headers.values()) size += bytes?.byteLength ?? 0;
  }
  const payloads = new Uint8Array(size);
  let end = 0;
  // A missing value (null, or undefined from an untyped caller) is the span [0, -1].
  const place = (bytes: Uint8Array | null | undefined): [start: number, length: number] => {
    if (!bytes) return [0, -1];
    payloads.set(bytes, end);
    end += bytes.byteLength;
    return [end - bytes.byteLength, bytes.byteLength];
  };
  const tasks = batch.map(({ id, message, context }): WireTask => {
    const headers: [string, number, number][] = [];
    for (const [name, bytes] of message.headers) headers.push([name, ...place(bytes)]);
    const [keyStart, keyLength] = place(message.key);
    const [valueStart, valueLength] = place(message.value);
    return {
      id,
      topic: message.topic,
      partition: message.partition,
      offset: message.offset,
      keyStart,
      keyLength,
      valueStart,
      valueLength,
      headers,
      timestamp: message.timestamp,
      attempt: context.attempt,
    };
  });
  return { tasks, payloads: payloads.buffer };
}

/** Worker side: the message handed to the user's handler; its bytes are views of `payloads`. */
export function decodeTask(task: WireTask, payloads: ArrayBuffer): ConsumerMessage {
  const headers = new Map<string, Uint8Array | null>();
  for (const [name, start, length] of task.headers) {
    headers.set(name, length < 0 ? null : new Uint8Array(payloads, start, length));
  }
  return {
    topic: task.topic,
    partition: task.partition,
    offset: task.offset,
    key: task.keyLength < 0 ? null : new Uint8Array(payloads, task.keyStart, task.keyLength),
    value: task.valueLength < 0 ? null : new Uint8Array(payloads, task.valueStart, task.valueLength),
    headers,
    timestamp: task.timestamp,
  };
}

/**
 * Flattens anything thrown into name, message and stack (strings only, so any runtime can clone
 * it). Never throws: a handler may throw an object whose String() or `stack` getter throws.
 */
export function toWireError(error: unknown): WireError {
  const flat = { name: nameOfThrown(error), message: describeThrown(error) };
  const stack = stackOf(error);
  return stack === undefined ? flat : { ...flat, stack };
}

function stackOf(error: unknown): string | undefined {
  try {
    const stack: unknown = error instanceof Error ? error.stack : undefined;
    return typeof stack === "string" ? stack : undefined;
  } catch {
    return undefined;
  }
}

/** Rebuilds an Error from its flattened form, keeping the worker's name and stack. */
export function fromWireError(wire: WireError): Error {
  const error = new Error(wire.message);
  error.name = wire.name;
  if (wire.stack !== undefined) error.stack = wire.stack;
  return error;
}
