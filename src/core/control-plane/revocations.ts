import { PartitionRevokedError } from "../errors.ts";
import { PartitionMap } from "../partition-map.ts";
import type { Waiters } from "../waiters.ts";
import type { PartitionState } from "./partition-state.ts";

/**
 * Revoked partitions while they drain: running work gets `maxRevokeGraceMs` to finish, then its
 * attempts abort and the state is dropped. Nothing is committed for a revoked partition: the
 * revoke is known only once the new owner may be committing, and a late commit would move the
 * group's offset backwards. The commit at the start of the rebalance is this member's last one.
 */
export class Revocations {
  readonly #waiters: Waiters;
  readonly #graceMs: number;
  /** Called once the drained states' held messages are released (abandoned). */
  readonly #onDrained: (states: readonly PartitionState[]) => void;
  /** The drain of each revoked partition still running: close and a returning partition wait for it. */
  readonly #draining = new PartitionMap<Promise<void>>();

  constructor(waiters: Waiters, graceMs: number, onDrained: (states: readonly PartitionState[]) => void) {
    this.#waiters = waiters;
    this.#graceMs = graceMs;
    this.#onDrained = onDrained;
  }

  /** Starts draining `states` (already removed from the owned partitions). */
  revoke(states: readonly PartitionState[]): void {
    if (states.length === 0) return;
    for (const state of states) state.phase = "revoking";
    const revocation = this.#drain(states);
    for (const { topic, partition } of states) {
      // An earlier ownership may still drain too (revoked again before it started): wait for both.
      const earlier = this.#draining.get(topic, partition);
      const drained = earlier === undefined ? revocation : Promise.all([earlier, revocation]).then(() => {});
      this.#draining.set(topic, partition, drained);
      void drained.then(() => {
        if (this.#draining.get(topic, partition) === drained) this.#draining.delete(topic, partition);
      });
    }
  }

  /**
   * A partition that comes back while its previous ownership still drains starts no work until
   * that drain ends (bounded by `maxRevokeGraceMs`): two epochs never run a key at once here.
   */
  afterDrainOf(state: PartitionState, resume: () => void): void {
    const draining = this.#draining.get(state.topic, state.partition);
    if (draining === undefined) return;
    state.waitingForDrain = true;
    void draining.then(() => {
      state.waitingForDrain = false;
      resume();
    });
  }

  /** Resolves once every revoked partition has drained. */
  async all(): Promise<void> {
    while (this.#draining.size > 0) await Promise.all([...this.#draining.values()]);
  }

  async #drain(states: readonly PartitionState[]): Promise<void> {
    await this.#waiters.until(() => states.every((state) => state.running === 0), this.#graceMs);
    for (const state of states) {
      state.phase = "revoked";
      state.abortRunning(new PartitionRevokedError(state.topic, state.partition));
    }
    this.#onDrained(states);
  }
}
