import { decodeOffsetMap } from "../offset-map.ts";
import { PartitionMap } from "../partition-map.ts";
import { PoisonKeys } from "../poison-keys.ts";
import type { AssignedPartition, PartitionPosition } from "../ports/kafka-adapter.ts";
import type { TopicPartition } from "../message.ts";
import type { ControlPlaneSettings } from "../settings.ts";
import { PartitionState } from "./partition-state.ts";
import type { Revocations } from "./revocations.ts";

/**
 * The partitions this member owns now, one {@linkcode PartitionState} per assignment epoch: seeded
 * from the committed offset and offset map when assigned, handed to the revocations when removed.
 */
export class OwnedPartitions {
  readonly #settings: Pick<ControlPlaneSettings, "poisonKey" | "maxUncommittedOffsets" | "maxCommitMetadataBytes">;
  readonly #now: () => number;
  readonly #revocations: Revocations;
  /** A partition whose previous epoch drained: its work may start now. */
  readonly #onDrained: (state: PartitionState) => void;
  readonly #states = new PartitionMap<PartitionState>();

  constructor(
    settings: Pick<ControlPlaneSettings, "poisonKey" | "maxUncommittedOffsets" | "maxCommitMetadataBytes">,
    now: () => number,
    revocations: Revocations,
    onDrained: (state: PartitionState) => void,
  ) {
    this.#settings = settings;
    this.#now = now;
    this.#revocations = revocations;
    this.#onDrained = onDrained;
  }

  values(): IterableIterator<PartitionState> {
    return this.#states.values();
  }

  /** The state of an owned partition, created on first sight (a fetch may come before `assign`). */
  stateOf(topic: string, partition: number): PartitionState {
    let state = this.#states.get(topic, partition);
    if (!state) {
      const { poisonKey, maxCommitMetadataBytes } = this.#settings;
      const poison = poisonKey && new PoisonKeys(poisonKey, this.#now);
      state = new PartitionState(topic, partition, this.#now, maxCommitMetadataBytes, poison);
      this.#states.set(topic, partition, state);
      const created = state;
      this.#revocations.afterDrainOf(state, () => this.#onDrained(created));
    }
    return state;
  }

  assign(partitions: readonly AssignedPartition[]): void {
    for (const { topic, partition, committedOffset, committedMetadata, startOffset } of partitions) {
      const position = toSafeOffset(startOffset);
      // The map is trusted only beside the offset it was written with.
      const done = committedOffset === startOffset
        ? decodeOffsetMap(committedMetadata, position, this.#settings.maxUncommittedOffsets)
        : [];
      const committed = committedOffset === null ? undefined : toSafeOffset(committedOffset);
      this.stateOf(topic, partition).seed(position, done, committed);
    }
  }

  /** Stops owning `partitions` and returns their states, for the revocations to drain. */
  remove(partitions: readonly TopicPartition[]): PartitionState[] {
    const states: PartitionState[] = [];
    for (const { topic, partition } of partitions) {
      const state = this.#states.get(topic, partition);
      if (!state) continue;
      // A new assignment of the same partition gets a fresh state; this one only drains.
      this.#states.delete(topic, partition);
      states.push(state);
    }
    return states;
  }

  /** Lets commits pass offsets the client skipped (transaction markers), once all below are delivered. */
  advanceTo(positions: readonly PartitionPosition[]): void {
    for (const { topic, partition, position } of positions) {
      this.#states.get(topic, partition)?.tracker.advanceTo(toSafeOffset(position));
    }
  }
}

/**
 * Offsets are tracked as numbers: exact up to 2^53, which no real partition reaches. Converting
 * first and checking the number is cheaper than comparing bigints, and as strict: anything above
 * 2^53 - 1 converts to at least 2^53.
 */
export function toSafeOffset(offset: bigint): number {
  const value = Number(offset);
  if (value < 0 || value > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(`offset ${offset} is outside the supported range 0..2^53-1`);
  }
  return value;
}
