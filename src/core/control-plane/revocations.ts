import { PartitionRevokedError } from "../errors.ts";
import { PartitionMap } from "../partition-map.ts";
import type { TopicPartition } from "../message.ts";
import type { Waiters } from "../waiters.ts";
import type { PartitionState } from "./partition-state.ts";

/**
 * Partitions taken away while they drain: attempts whose handler has not started are withdrawn at
 * once; running work (and dead letters being published) get `maxRevokeGraceMs` to finish, then the
 * attempts still running abort and the state is dropped.
 *
 * - Released partitions (the revoke barrier: the group waits for this member) commit their
 *   progress and offset map after the drain and before the adapter gives them back.
 * - Revoked (lost) partitions commit nothing: another member may own and commit them already,
 *   and a late commit would move the group's offset backwards.
 */
export class Revocations {
  readonly #waiters: Waiters;
  readonly #graceMs: number;
  /** Called once the drained states' held messages are released (abandoned). */
  readonly #onDrained: (states: readonly PartitionState[]) => void;
  /** The drain of each revoked partition still running: close and a returning partition wait for it. */
  readonly #draining = new PartitionMap<Promise<void>>();
  /** States being released, and those of them lost meanwhile (they commit nothing). */
  readonly #releasing = new Set<PartitionState>();
  readonly #lost = new WeakSet<PartitionState>();

  constructor(waiters: Waiters, graceMs: number, onDrained: (states: readonly PartitionState[]) => void) {
    this.#waiters = waiters;
    this.#graceMs = graceMs;
    this.#onDrained = onDrained;
  }

  /** Starts draining lost partitions (already removed from the owned partitions); nothing is committed. */
  revoke(states: readonly PartitionState[]): void {
    if (states.length > 0) this.#track(states, this.#drain(states, undefined));
  }

  /**
   * Drains partitions given back (already removed from the owned partitions), then `commit`s the
   * progress of those not lost meanwhile (`kept`, asked again before each try; the commit reports
   * its own failures); resolves once the commit ended, failed or not, after which the adapter may
   * release them. Never rejects.
   */
  release(states: readonly PartitionState[], commit: (kept: () => PartitionState[]) => Promise<void>): Promise<void> {
    if (states.length === 0) return Promise.resolve();
    for (const state of states) this.#releasing.add(state);
    const released = this.#drain(states, commit);
    this.#track(states, released);
    void released.then(() => {
      for (const state of states) this.#releasing.delete(state);
    });
    return released;
  }

  /**
   * `partitions` were lost (the member was fenced) while being given back: their release still
   * drains, but commits nothing for them. Another member may own them already, and the commit
   * would carry this member's next epoch, under which it may even hold them again, further on.
   */
  lose(partitions: readonly TopicPartition[]): void {
    for (const state of this.#releasing) {
      if (partitions.some(({ topic, partition }) => state.topic === topic && state.partition === partition)) {
        this.#lost.add(state);
      }
    }
  }

  #track(states: readonly PartitionState[], revocation: Promise<void>): void {
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

  async #drain(
    states: readonly PartitionState[],
    commit: ((kept: () => PartitionState[]) => Promise<void>) | undefined,
  ): Promise<void> {
    for (const state of states) {
      state.phase = "revoking";
      // Work queued in a worker would start after the partition is gone: the grace is for running work.
      state.withdrawUnstarted(new PartitionRevokedError(state.topic, state.partition));
    }
    await this.#waiters.until(() => states.every((state) => !state.busy(false)), this.#graceMs);
    for (const state of states) {
      // From here on completions are ignored: the commit below is final.
      state.phase = "revoked";
      state.abortRunning(new PartitionRevokedError(state.topic, state.partition));
    }
    try {
      const kept = () => states.filter((state) => !this.#lost.has(state));
      if (commit && kept().length > 0) await commit(kept);
    } catch {
      // The commit reports its own failures; the barrier must end either way (it never rejects).
    } finally {
      this.#onDrained(states);
    }
  }
}
