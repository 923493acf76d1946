// What happened in a run, kept for the invariant checker: accepted commits, generations,
// partition ownership as each member saw it, records produced, and an optional text trace.
import type { OutgoingRecord } from "../../../src/core/ports/kafka-adapter.ts";
import type { TopicPartition } from "../../../src/core/message.ts";

/** A commit the coordinator accepted for one partition. */
export interface CommitRecord {
  /** The client's name (stable across a fenced member's rejoin). */
  readonly member: string;
  readonly memberId: string;
  readonly generation: number;
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly metadata: string;
  /** Virtual time the coordinator applied it. */
  readonly at: number;
}

/** One generation as the coordinator formed it (at the end of the join phase). */
export interface GenerationRecord {
  readonly generation: number;
  readonly at: number;
  readonly members: readonly {
    readonly member: string;
    readonly memberId: string;
    readonly partitions: readonly TopicPartition[];
  }[];
}

/**
 * A member's ownership of one partition, from the `joined` event that gave it until the member
 * was told otherwise (`rebalancing`, `failed`, or its own `close()`).
 */
export interface OwnershipRecord extends TopicPartition {
  readonly member: string;
  readonly memberId: string;
  readonly generation: number;
  readonly from: number;
  /** `null` while the member still owns it. */
  to: number | null;
  /**
   * When the coordinator dropped the member while it still believed it owned the partition
   * (fenced: a zombie until its next heartbeat); `null` otherwise.
   */
  droppedAt: number | null;
}

/** A record a member produced (a dead letter, in practice) and where it landed. */
export interface ProducedRecord {
  readonly member: string;
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly record: OutgoingRecord;
  readonly at: number;
}

/** Append-only history of one cluster. */
export class History {
  readonly commits: CommitRecord[] = [];
  readonly generations: GenerationRecord[] = [];
  readonly ownership: OwnershipRecord[] = [];
  readonly produced: ProducedRecord[] = [];
  /** When the coordinator dropped a member (fenced, session expired, failed), by member name. */
  readonly drops: { readonly member: string; readonly at: number }[] = [];
  /** Calls to `produce()` after `close()` over all clients: each one a violation. */
  producedAfterClose = 0;
  /** Text events, only when tracing is on (building them costs time in thousands of runs). */
  readonly trace: string[] = [];
  readonly #tracing: boolean;
  readonly #now: () => number;
  /** Open ownership records per member name. */
  readonly #owning = new Map<string, OwnershipRecord[]>();

  constructor(tracing: boolean, now: () => number) {
    this.#tracing = tracing;
    this.#now = now;
  }

  /** Adds a trace line; `line` is only evaluated when tracing. */
  log(line: () => string): void {
    if (this.#tracing) this.trace.push(`${this.#now()} ${line()}`);
  }

  /** The member was told it owns `partitions` in `generation`. */
  own(member: string, memberId: string, generation: number, partitions: readonly TopicPartition[]): void {
    this.release(member);
    const from = this.#now();
    const records = partitions.map((tp): OwnershipRecord => ({
      member,
      memberId,
      generation,
      topic: tp.topic,
      partition: tp.partition,
      from,
      to: null,
      droppedAt: null,
    }));
    this.ownership.push(...records);
    this.#owning.set(member, records);
  }

  /** The member was told it no longer owns anything. */
  release(member: string): void {
    const now = this.#now();
    for (const record of this.#owning.get(member) ?? []) record.to = now;
    this.#owning.delete(member);
  }

  /** The coordinator dropped the member before telling it. */
  dropped(member: string): void {
    const now = this.#now();
    this.drops.push({ member, at: now });
    for (const record of this.#owning.get(member) ?? []) record.droppedAt ??= now;
  }
}
