// The messages exchanged between the WorkerEngine (main side) and runWorker() (worker side).
// Everything here is structured-cloneable. A batch of tasks travels as one transferred buffer
// (wire-batch.ts): transferring costs per buffer (about 5 µs each on Node), copying small
// payloads into one buffer costs next to nothing.
import { describeThrown, nameOfThrown } from "../../core/thrown.ts";
import type { WireBatch } from "./wire-batch.ts";

/** An error thrown in a worker, flattened so any runtime can clone it. */
export interface WireError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
}

/**
 * Main → worker. `init` comes first: the worker's task board (see task-board.ts) and how many
 * handlers it runs at once. A `cancel` aborts the signal of a running handler. A `pause` (a
 * handler of another worker called `context.pause(ms)`) holds the worker's queued tasks for `ms`.
 * An `unfollow`: the task `id` was posted with a follower that will not come after all (chains).
 */
export type ToWorker =
  | { readonly type: "init"; readonly board: SharedArrayBuffer; readonly slots: number; readonly concurrency: number }
  | { readonly type: "run"; readonly batch: WireBatch }
  | { readonly type: "cancel"; readonly slot: number; readonly id: number; readonly reason: WireError }
  | { readonly type: "pause"; readonly ms: number }
  | { readonly type: "unfollow"; readonly id: number };

/** Results of tasks, by board slot, and the time (ms) some handler was running since the last report. */
export interface WorkerResults {
  readonly type: "done";
  readonly ok: number[];
  readonly failed: { slot: number; error: WireError }[];
  readonly busyMs: number;
}

/**
 * Worker → main. `ready` says whether the module's handler is a batch handler (then every task is
 * a batch). `exit` is sent by a Deno worker that ends itself (Deno reports nothing else).
 * `pause`: the handler of the task in `slot` called `context.pause(ms)` (posted at once, so it
 * arrives before that task's result).
 */
export type FromWorker =
  | { readonly type: "ready"; readonly batches?: boolean }
  | WorkerResults
  | { readonly type: "pause"; readonly slot: number; readonly id: number; readonly ms: number }
  | { readonly type: "exit" };

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
