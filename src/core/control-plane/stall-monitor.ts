import { describeStall, type StallEvent } from "../consumer-events.ts";
import { BlockedTooLongError } from "../errors.ts";
import type { Logger } from "../settings.ts";
import type { PartitionState } from "./partition-state.ts";

/** What the stall monitor needs to know. */
export interface StallSettings {
  /** A running blocker is given up on after this long (off when undefined). */
  readonly maxBlockingMs?: number | undefined;
  /** A blocking offset held longer than this is reported as a stall. */
  readonly stallThresholdMs: number;
  readonly logger: Logger;
}

/**
 * Watches each partition's blocking offset on every tick: aborts a blocker running past
 * `maxBlockingMs`, and reports a stall (log line and `stall` event) once per blocking offset.
 */
export class StallMonitor {
  readonly #settings: StallSettings;
  readonly #now: () => number;
  readonly #onStall: (event: StallEvent) => void;
  /** The blocking offset already reported per partition epoch (one report per offset). */
  readonly #reported = new WeakMap<PartitionState, number>();

  constructor(settings: StallSettings, now: () => number, onStall: (event: StallEvent) => void) {
    this.#settings = settings;
    this.#now = now;
    this.#onStall = onStall;
  }

  check(states: Iterable<PartitionState>): void {
    for (const state of states) {
      const offset = state.tracker.blockingOffset;
      if (offset === null) continue;
      this.#abortIfBlockedTooLong(state, offset);
      const blockedMs = state.tracker.blockingDurationMs();
      if (offset === this.#reported.get(state) || blockedMs < this.#settings.stallThresholdMs) continue;
      this.#reported.set(state, offset);
      const event: StallEvent = {
        topic: state.topic,
        partition: state.partition,
        offset: BigInt(offset),
        key: state.held(offset)?.message.key ?? null,
        blockingDurationSec: blockedMs / 1000,
      };
      this.#settings.logger.warn(describeStall(event));
      this.#onStall(event);
    }
  }

  /**
   * Gives up on the blocker's running attempt: its signal aborts, and once the handler returns the
   * attempt counts as failed (retry/DLQ path). A function cannot be stopped, so the retry waits for
   * it: two attempts of one message never run at once.
   */
  #abortIfBlockedTooLong(state: PartitionState, offset: number): void {
    const limit = this.#settings.maxBlockingMs;
    const attempt = state.held(offset)?.running;
    if (limit === undefined || attempt === undefined || attempt.aborted) return;
    if (this.#now() - attempt.startedAt >= limit) attempt.abort(new BlockedTooLongError(limit));
  }
}
