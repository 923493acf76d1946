// The `batch` and `batchHandler` options: their field checks, and the rules tying them to `handler`
// and the engine. Messages name the field and the fix, like the other fields'.
import * as v from "valibot";
import type { BatchHandler } from "../core/message.ts";
import { DEFAULTS } from "./defaults.ts";
import { int, objectMessage } from "./fields.ts";
import type { BatchOptions } from "./options.ts";
import type { Expect, Same } from "./same-type.ts";

export const batchHandlerSchema: v.GenericSchema<BatchHandler> = v.custom<BatchHandler>(
  (value) => typeof value === "function",
  "batchHandler must be a function (messages, context) => Promise<void>",
);

const batchFields = v.strictObject(
  {
    maxMessages: v.optional(int("batch.maxMessages", 1), DEFAULTS.batch.maxMessages),
    maxWaitMs: v.optional(int("batch.maxWaitMs", 0), DEFAULTS.batch.maxWaitMs),
  },
  objectMessage("batch", "an object like { maxMessages, maxWaitMs }"),
);

/** The fields the handler rules read, once each is valid on its own. */
interface HandlerFields {
  readonly engine: { readonly kind: "async" | "worker" };
  readonly handler?: unknown;
  readonly batchHandler?: unknown;
  readonly batch?: unknown;
}

/** One rule: when it holds, and what to say when it does not. */
interface HandlerRule {
  readonly field: "handler" | "batchHandler" | "batch";
  readonly holds: (fields: HandlerFields) => boolean;
  readonly message: string;
}

/**
 * Exactly one of `handler` and `batchHandler` with the async engine, neither with the worker engine
 * (its module decides), and `batch` only where a batch handler may run.
 */
export const HANDLER_RULES: readonly HandlerRule[] = [
  {
    field: "handler",
    holds: ({ engine, handler, batchHandler }) =>
      engine.kind !== "async" || handler !== undefined || batchHandler !== undefined,
    message: "handler is required with the async engine: (message, context) => Promise<void>, " +
      "or batchHandler: (messages, context) => Promise<void> for batches",
  },
  {
    field: "batchHandler",
    holds: ({ handler, batchHandler }) => handler === undefined || batchHandler === undefined,
    message: "handler and batchHandler are both set: keep handler for one message per call, " +
      "or batchHandler for batches",
  },
  {
    field: "handler",
    holds: ({ engine, handler }) => engine.kind !== "worker" || handler === undefined,
    message:
      "handler is not used by the worker engine: its handler lives in engine.module (runWorker(handler)); remove handler",
  },
  {
    field: "batchHandler",
    holds: ({ engine, batchHandler }) => engine.kind !== "worker" || batchHandler === undefined,
    message: "batchHandler is not used by the worker engine: its handler lives in engine.module " +
      "(runWorker({ batchHandler })); remove batchHandler and keep batch",
  },
  {
    field: "batch",
    holds: ({ engine, batch, batchHandler }) =>
      engine.kind !== "async" || batch === undefined || batchHandler !== undefined,
    message: "batch is set but there is no batchHandler: pass batchHandler instead of handler, or remove batch",
  },
];

/** The `batch` option, defaults applied. */
export const batchSchema: v.GenericSchema<BatchOptions, Required<BatchOptions>> = batchFields;

/** Compile-time drift check: the schema accepts exactly the hand-written option type. */
type BatchSchemaMatchesOptions = Expect<Same<v.InferInput<typeof batchFields>, BatchOptions>>;
