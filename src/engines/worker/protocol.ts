// The messages exchanged between the WorkerEngine (main side) and runWorker() (worker side).
// Everything here is structured-cloneable; payload bytes travel as transferred ArrayBuffers.
import type { ConsumerMessage } from "../../core/message.ts";

/** One message to run, as sent to a worker. */
export interface WireTask {
  readonly id: number;
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly key: ArrayBuffer | null;
  readonly value: ArrayBuffer | null;
  readonly headers: [string, ArrayBuffer][];
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
  | { readonly type: "run"; readonly tasks: WireTask[] }
  | { readonly type: "cancel"; readonly ids: number[]; readonly reason: WireError };

/** Worker → main. `exit` is sent by a Deno worker that ends itself (Deno reports nothing else). */
export type FromWorker =
  | { readonly type: "ready" }
  | { readonly type: "done"; readonly ok: number[]; readonly failed: { id: number; error: WireError }[] }
  | { readonly type: "exit" };

/**
 * Copies `bytes` into a fresh, exact-size ArrayBuffer and adds it to `transfer`. Never transfer
 * or clone `bytes.buffer` itself: a fetched message is a view into a large buffer shared with
 * other messages (cloning would copy all of it, transferring would detach the others).
 */
function copyOut(bytes: Uint8Array, transfer: ArrayBuffer[]): ArrayBuffer {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  transfer.push(copy.buffer);
  return copy.buffer;
}

/** Main side: a message as sent to a worker; its payload buffers are appended to `transfer`. */
export function encodeTask(id: number, attempt: number, message: ConsumerMessage, transfer: ArrayBuffer[]): WireTask {
  const headers: [string, ArrayBuffer][] = [];
  for (const [name, bytes] of message.headers) headers.push([name, copyOut(bytes, transfer)]);
  return {
    id,
    topic: message.topic,
    partition: message.partition,
    offset: message.offset,
    key: message.key === null ? null : copyOut(message.key, transfer),
    value: message.value === null ? null : copyOut(message.value, transfer),
    headers,
    timestamp: message.timestamp,
    attempt,
  };
}

/** Worker side: the message handed to the user's handler. */
export function decodeTask(task: WireTask): ConsumerMessage {
  const headers = new Map<string, Uint8Array>();
  for (const [name, buffer] of task.headers) headers.set(name, new Uint8Array(buffer));
  return {
    topic: task.topic,
    partition: task.partition,
    offset: task.offset,
    key: task.key === null ? null : new Uint8Array(task.key),
    value: task.value === null ? null : new Uint8Array(task.value),
    headers,
    timestamp: task.timestamp,
  };
}

/** Flattens anything thrown into name, message and stack. */
export function toWireError(error: unknown): WireError {
  if (error instanceof Error) {
    return { name: error.name, message: error.message, ...(error.stack === undefined ? {} : { stack: error.stack }) };
  }
  return { name: "Error", message: String(error) };
}

/** Rebuilds an Error from its flattened form, keeping the worker's name and stack. */
export function fromWireError(wire: WireError): Error {
  const error = new Error(wire.message);
  error.name = wire.name;
  if (wire.stack !== undefined) error.stack = wire.stack;
  return error;
}
