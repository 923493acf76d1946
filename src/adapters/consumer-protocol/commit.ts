// Commits under the consumer group protocol. The coordinator checks the member epoch, never who
// owns a partition: a commit for a partition this member gave up (or lost when it was fenced and
// rejoined) would be accepted, and could land after the new owner's. So a partition is committed
// only while the member holds it, and never across a heartbeat whose answer may move the epoch.
import type { TopicPartition } from "../../core/message.ts";
import type { PartitionError, PartitionOffset } from "../../core/ports/kafka-adapter.ts";

/** The member a commit goes out as. */
export interface EpochMember {
  readonly memberId: string;
  /** The member epoch a commit carries (the generation of the classic protocol). */
  readonly epoch: number;
  /** Owned, or still being given up: a revoked partition's last commit goes out before it is released. */
  holds(partition: TopicPartition): boolean;
  /** Resolves when no heartbeat is in flight. */
  settled(): Promise<void>;
}

/**
 * Commits the partitions `member` holds with `send` (which must put the request on the wire
 * before it returns: a heartbeat sent after it on the same connection is processed after it);
 * the others are refused without asking the coordinator.
 */
export async function commitHeld(
  member: EpochMember,
  offsets: readonly PartitionOffset[],
  send: (held: readonly PartitionOffset[], memberId: string, epoch: number) => Promise<readonly PartitionError[]>,
): Promise<readonly PartitionError[]> {
  await member.settled();
  // From here on synchronous: the epoch and what the member holds cannot change before `send`.
  const held: PartitionOffset[] = [];
  const refused: PartitionError[] = [];
  for (const offset of offsets) {
    if (member.holds(offset)) held.push(offset);
    else {
      refused.push({
        topic: offset.topic,
        partition: offset.partition,
        error: new Error(
          `commit refused: this member no longer owns ${offset.topic}[${offset.partition}] (given up, or lost)`,
        ),
      });
    }
  }
  if (held.length === 0) return refused;
  const failed = await send(held, member.memberId, member.epoch);
  return refused.length === 0 ? failed : [...refused, ...failed];
}
