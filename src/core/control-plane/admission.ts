import type { InFlightBudget } from "../backpressure.ts";
import { Rotation } from "../rotation.ts";
import type { Lifecycle } from "./lifecycle.ts";
import type { PartitionState } from "./partition-state.ts";

/**
 * Moves fetched messages from the partitions' buffers into the in-flight window while the budget
 * has room: one message per partition per turn, and within a partition only the first message of
 * each key (see `PartitionScheduler`), so the window is spent on distinct keys of every partition
 * rather than on whatever a fetch brought first. Admission stops once the consumer closes: only
 * admitted work drains.
 */
export class Admission {
  readonly #budget: InFlightBudget;
  readonly #lifecycle: Pick<Lifecycle, "phase">;
  /** Called for each admitted message's partition: it has ready work now. */
  readonly #admitted: (state: PartitionState) => void;
  readonly #rotation = new Rotation<"inAdmission", PartitionState>("inAdmission");

  constructor(
    budget: InFlightBudget,
    lifecycle: Pick<Lifecycle, "phase">,
    admitted: (state: PartitionState) => void,
  ) {
    this.#budget = budget;
    this.#lifecycle = lifecycle;
    this.#admitted = admitted;
  }

  /** The partition may have admissible messages: it takes turns (once). */
  join(state: PartitionState): void {
    if (state.scheduler.admissibleCount > 0) this.#rotation.add(state);
  }

  /** Admits messages while the budget has room. */
  admit(): void {
    const budget = this.#budget;
    if (this.#lifecycle.phase !== "running") return;
    while (budget.hasRoom) {
      const state = this.#rotation.next();
      if (state === undefined) return;
      if (state.phase !== "active") continue;
      const item = state.admit();
      if (item === undefined) continue;
      budget.add(item.bytes);
      this.join(state);
      this.#admitted(state);
    }
  }
}
