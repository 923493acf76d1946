import type { InFlightBudget } from "../backpressure.ts";
import type { PauseReason } from "../metrics-snapshot.ts";
import type { KafkaAdapter } from "../ports/kafka-adapter.ts";
import type { FetchLimits, PartitionState } from "./partition-state.ts";

/**
 * Whether the adapter fetches: all partitions pause at an in-flight limit (and resume below its
 * low water mark), or while closing or failed; one partition pauses while its uncommitted window
 * or its buffer is full, and the others go on.
 */
export class FetchPause {
  readonly #adapter: Pick<KafkaAdapter, "pause" | "resume">;
  readonly #budget: InFlightBudget;
  readonly #limits: FetchLimits;
  #reason: PauseReason = null;

  constructor(adapter: Pick<KafkaAdapter, "pause" | "resume">, budget: InFlightBudget, limits: FetchLimits) {
    this.#adapter = adapter;
    this.#budget = budget;
    this.#limits = limits;
  }

  /** Why all partitions are paused, or `null`. */
  get reason(): PauseReason {
    return this.#reason;
  }

  /** Pauses (or, with `null`, resumes) every partition. */
  set(reason: PauseReason): void {
    const wasPaused = this.#reason !== null;
    this.#reason = reason;
    if (reason !== null && !wasPaused) this.#adapter.pause();
    if (reason === null && wasPaused) this.#adapter.resume();
  }

  /** Messages were admitted: pause at an in-flight limit. */
  admitted(): void {
    const limit = this.#budget.limitReached;
    if (this.#reason === null && limit) this.set(limit);
  }

  /** Messages were released: resume once the budget is below its low water mark. */
  released(): void {
    const reason = this.#reason;
    if ((reason === "maxInFlight" || reason === "maxInFlightBytes") && this.#budget.belowLowWater) this.set(null);
  }

  /** The consumer failed: if it is paused already (closing), the reason still has to say so. */
  failed(): void {
    if (this.#reason !== null) this.#reason = "failed";
  }

  /** Stops fetching a partition whose window or buffer is full, and fetches it again once both shrank. */
  check(state: PartitionState): void {
    const held = state.fetchHoldChanged(this.#limits);
    if (held === true) this.#adapter.pause([state]);
    else if (held === false && state.phase === "active") this.#adapter.resume([state]);
  }
}
