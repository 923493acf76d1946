// The `rateLimit` option: its checks, and its resolution into the throttle's bucket settings (every
// burst filled in). Messages name the field and the fix, like the other fields'.
import * as v from "valibot";
import type { BucketSettings, RateLimitSettings } from "../core/control-plane/throttle.ts";
import { DEFAULTS } from "./defaults.ts";
import { objectMessage } from "./fields.ts";
import type { KeyRateLimitOptions, RateLimitOptions } from "./options.ts";
import type { Expect, Same } from "./same-type.ts";

/** A rate of messages per second: positive and finite (no limit is no `rateLimit`). */
function rate(field: string): v.GenericSchema<number> {
  return v.pipe(
    v.number(`${field} must be a number of messages per second`),
    v.check(
      (value) => Number.isFinite(value) && value > 0,
      `${field} must be a positive finite number of messages per second, e.g. 100 (omit the limit for none)`,
    ),
  );
}

/** A bucket's size: at least one token, or nothing could ever start. */
function burst(field: string): v.GenericSchema<number> {
  return v.pipe(
    v.number(`${field} must be a number of messages`),
    v.check(
      (value) => Number.isFinite(value) && value >= 1,
      `${field} must be a finite number of at least 1 (messages started at once after a quiet spell); omit it for the default`,
    ),
  );
}

const perKeySchema = v.strictObject(
  {
    messagesPerSecond: rate("rateLimit.perKey.messagesPerSecond"),
    burst: v.optional(burst("rateLimit.perKey.burst")),
  },
  objectMessage("rateLimit.perKey", "an object like { messagesPerSecond: 10 }"),
);

const fieldsSchema = v.strictObject(
  {
    messagesPerSecond: v.optional(rate("rateLimit.messagesPerSecond")),
    burst: v.optional(burst("rateLimit.burst")),
    perKey: v.optional(perKeySchema),
  },
  objectMessage("rateLimit", "an object like { messagesPerSecond: 500, perKey: { messagesPerSecond: 10 } }"),
);

/** Validates `rateLimit` and resolves it: each bucket with its burst. */
export const rateLimitSchema: v.GenericSchema<RateLimitOptions, RateLimitSettings> = v.pipe(
  fieldsSchema,
  v.check(
    (limit) => limit.messagesPerSecond !== undefined || limit.perKey !== undefined,
    "rateLimit needs messagesPerSecond, perKey or both, e.g. { messagesPerSecond: 500 }; omit rateLimit for no limit",
  ),
  v.forward(
    v.partialCheck(
      [["burst"], ["messagesPerSecond"]],
      (limit) => limit.burst === undefined || limit.messagesPerSecond !== undefined,
      "rateLimit.burst sizes the consumer-wide bucket: set rateLimit.messagesPerSecond too, or move it to rateLimit.perKey.burst",
    ),
    ["burst"],
  ),
  v.transform((limit): RateLimitSettings => ({
    global: limit.messagesPerSecond === undefined ? undefined : bucket(limit.messagesPerSecond, limit.burst),
    perKey: limit.perKey && bucket(limit.perKey.messagesPerSecond, limit.perKey.burst),
  })),
);

/** A bucket's settings; the default burst is `burstSeconds` of its rate, at least one message. */
function bucket(messagesPerSecond: number, burst: number | undefined): BucketSettings {
  return {
    messagesPerSecond,
    burst: burst ?? Math.max(1, Math.ceil(messagesPerSecond * DEFAULTS.rateLimit.burstSeconds)),
  };
}

/** Compile-time drift check against the hand-written option types (as in schema.ts). */
type SchemasMatchOptions = [
  Expect<Same<v.InferInput<typeof perKeySchema>, KeyRateLimitOptions>>,
  Expect<Same<v.InferInput<typeof fieldsSchema>, RateLimitOptions>>,
];
