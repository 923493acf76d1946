// Reconciliation: brings what the member owns to what the coordinator assigned, one step at a
// time. Revoked partitions first, through the revoke barrier (the member keeps them, and keeps
// reporting them as owned, until its listener has released them); then the added ones. Only
// after that does the next heartbeat tell the coordinator, which gives a released partition to its
// new owner only then.
import type { TopicPartition } from "../../core/message.ts";
import { PartitionMap } from "../../core/partition-map.ts";

/** Where the reconciler reports to. */
export interface ReconcilerSink {
  /** Takes `partitions` away; resolves once they are released. Must not reject. */
  revoking(partitions: readonly TopicPartition[]): Promise<void>;
  /** The member owns exactly `partitions` now (`first`: the first assignment of this membership). */
  owned(partitions: readonly TopicPartition[], first: boolean): void;
  /** Ownership changed: the coordinator should hear it now. */
  changed(): void;
}

/** Owned partitions and the way to the latest assignment. */
export class Reconciler {
  readonly #sink: ReconcilerSink;
  /** Owned now, as reported in heartbeats: revoked partitions stay until released. */
  #owned = new PartitionMap<true>();
  /** The latest assignment, `null` before the first one. */
  #target: readonly TopicPartition[] | null = null;
  /** Bumped when ownership is reset (partitions lost, member left): steps of older ones stop. */
  #incarnation = 0;
  #running = false;
  #announced = false;

  constructor(sink: ReconcilerSink) {
    this.#sink = sink;
  }

  /** Partitions to report as owned. */
  get owned(): TopicPartition[] {
    return [...this.#owned.entries()].map(([tp]) => tp);
  }

  /** Whether the member owns `partition` now (or is still releasing it). */
  holds(topic: string, partition: number): boolean {
    return this.#owned.has(topic, partition);
  }

  /** The coordinator's latest assignment: reconciles towards it (after a step in progress). */
  assign(target: readonly TopicPartition[]): void {
    this.#target = target;
    void this.#run();
  }

  /** Forgets everything owned (lost, or left) and stops a reconciliation in progress. */
  reset(): void {
    this.#incarnation++;
    this.#owned = new PartitionMap();
    this.#target = null;
    this.#running = false;
    this.#announced = false;
  }

  async #run(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    const incarnation = this.#incarnation;
    let changed = false;
    for (;;) {
      const target = this.#target;
      if (target === null) break;
      const wanted = new PartitionMap<true>();
      for (const { topic, partition } of target) wanted.set(topic, partition, true);
      const revoked = this.owned.filter(({ topic, partition }) => !wanted.has(topic, partition));
      if (revoked.length > 0) {
        await this.#sink.revoking(revoked);
        if (incarnation !== this.#incarnation) return;
        for (const { topic, partition } of revoked) this.#owned.delete(topic, partition);
        changed = true;
        // The assignment may have moved on meanwhile: start over from the latest one.
        continue;
      }
      for (const { topic, partition } of target) {
        if (this.#owned.has(topic, partition)) continue;
        this.#owned.set(topic, partition, true);
        changed = true;
      }
      if (changed || !this.#announced) {
        const first = !this.#announced;
        this.#announced = true;
        this.#sink.owned(this.owned, first);
      }
      break;
    }
    this.#running = false;
    if (changed) this.#sink.changed();
  }
}
