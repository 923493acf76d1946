import type { Clock } from "./clock.ts";
import type { BatchSettings } from "./control-plane/batch-dispatcher.ts";
import type { RateLimitSettings } from "./control-plane/throttle.ts";
import type { DeadLetterSettings } from "./dead-letter.ts";
import type { Ordering } from "./partition-scheduler.ts";
import type { RetryPolicy } from "./retry-policy.ts";

/**
 * What to do with a message whose retries are exhausted: publish it to the dead-letter topic and
 * go on, `stop` the consumer (the offset stays uncommitted), or `skip` it. All emit `error`.
 */
export type FailurePolicy = "deadLetter" | "stop" | "skip";

/** Repeated final failures of one key open a cooldown in which its messages fail without running. */
export interface PoisonKeySettings {
  readonly maxFailures: number;
  readonly cooldownMs: number;
}

/** Where the consumer writes its few log lines (stalls). */
export interface Logger {
  warn(message: string): void;
}

/** Settings of the control plane, already validated. */
export interface ControlPlaneSettings {
  readonly ordering: Ordering;
  readonly maxInFlight: number;
  readonly maxInFlightBytes: number;
  /** Per partition: fetched offsets not yet passed by the commit position before it stops being fetched. */
  readonly maxUncommittedOffsets: number;
  /** Per partition: payload bytes of fetched messages not admitted yet before it stops being fetched. */
  readonly maxBufferedBytes: number;
  readonly retry: RetryPolicy;
  readonly failurePolicy: FailurePolicy;
  /** Required when `failurePolicy` is `deadLetter`. */
  readonly deadLetter?: DeadLetterSettings;
  /** A running message that blocks its partition's commit this long is failed (retry/DLQ path). */
  readonly maxBlockingMs?: number;
  readonly poisonKey?: PoisonKeySettings;
  /** Token buckets every start passes (consumer-wide and per key); none when omitted. */
  readonly rateLimit?: RateLimitSettings | undefined;
  /** How batches are built when the engine runs a batch handler (unused otherwise). */
  readonly batch: BatchSettings;
  readonly commitIntervalMs: number;
  readonly maxCommitMetadataBytes: number;
  readonly drainTimeoutMs: number;
  readonly maxRevokeGraceMs: number;
  /** A blocking offset held longer than this is reported as a stall. */
  readonly stallThresholdMs: number;
  readonly logger: Logger;
  /** Time and timers (the simulation passes a virtual clock). */
  readonly clock: Clock;
  /** Randomness of retry jitter, in [0, 1) (the simulation passes a seeded one). */
  readonly random: () => number;
}
