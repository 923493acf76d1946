// The group's offsets: commit and read them with the wire APIs OffsetCommit v9 / OffsetFetch v9 on
// the group coordinator (the library's own commit and committed-offset calls drop the metadata,
// which holds our offset map), and list a partition's earliest or latest offset.
import { type Connection, findErrorBy, ListOffsetTimestamps, offsetCommitV9, offsetFetchV9 } from "@platformatic/kafka";
import type { TopicPartition } from "../../core/message.ts";
import { PartitionMap } from "../../core/partition-map.ts";
import type { PartitionError, PartitionOffset } from "../../core/ports/kafka-adapter.ts";
import { type CommittedOffset, type IsolationLevel, type ListedOffset, retriable } from "../group/kafka-client.ts";
import { groupByTopic, partitionsByTopic, toIsolationLevel } from "./convert.ts";
import { commitHeld, type EpochMember } from "../consumer-protocol/commit.ts";
import type { Coordinator } from "./coordinator.ts";
import { callMarked, markRetriable, partitionFailures } from "./errors.ts";
import type { GroupConsumer } from "./library.ts";

/**
 * Commits `offsets` with their metadata in the member's current generation. Resolves with the
 * partitions the coordinator refused; rejects (retriable where it can help) when the request as a
 * whole failed, and then looks the coordinator up again next time.
 *
 * Classic protocol: the library's consumer knows the generation. Consumer protocol: `member` knows
 * the member epoch and which partitions it may still commit.
 */
export function commitOffsets(
  consumer: GroupConsumer,
  coordinator: Coordinator,
  offsets: readonly PartitionOffset[],
  member?: EpochMember,
): Promise<readonly PartitionError[]> {
  if (member !== undefined) return commitAsMember(consumer, coordinator, offsets, member);
  // With a known coordinator the request is queued on its connection right now, in this tick.
  // That matters when a rebalance starts: the commit must reach the coordinator before the
  // client's own JoinGroup, which moves the group to a new generation (requests on one
  // connection are processed in order).
  return sendCommit(coordinator, offsets, (connection, topics) =>
    offsetCommitV9.api.async(
      connection,
      consumer.groupId,
      consumer.generationId,
      consumer.memberId ?? "",
      consumer.groupInstanceId,
      topics,
    ), coordinator.cached);
}

/** A commit under the consumer protocol: the member epoch, and only partitions the member holds. */
function commitAsMember(
  consumer: GroupConsumer,
  coordinator: Coordinator,
  offsets: readonly PartitionOffset[],
  member: EpochMember,
): Promise<readonly PartitionError[]> {
  return commitHeld(
    member,
    offsets,
    (held, memberId, epoch) =>
      sendCommit(
        coordinator,
        held,
        (connection, topics) =>
          offsetCommitV9.api.async(connection, consumer.groupId, epoch, memberId, consumer.groupInstanceId, topics),
        coordinator.cached,
      ),
  );
}

type CommitRequest = (
  connection: Connection,
  topics: offsetCommitV9.OffsetCommitRequestTopic[],
) => Promise<offsetCommitV9.OffsetCommitResponse>;

/** Sends one OffsetCommit (on `connection`, or on a coordinator found first) and sorts its errors. */
async function sendCommit(
  coordinator: Coordinator,
  offsets: readonly PartitionOffset[],
  request: CommitRequest,
  connection: Connection | undefined,
): Promise<readonly PartitionError[]> {
  const topics = [...groupByTopic(offsets)].map(([name, partitions]): offsetCommitV9.OffsetCommitRequestTopic => ({
    name,
    partitions: partitions.map(({ partition, offset, metadata }) => ({
      partitionIndex: partition,
      committedOffset: offset,
      committedLeaderEpoch: -1,
      committedMetadata: metadata,
    })),
  }));
  try {
    await (connection ? request(connection, topics) : request(await coordinator.find(), topics));
    return [];
  } catch (error) {
    const failed = partitionFailures(error);
    if (failed !== undefined) return failed;
    coordinator.forget();
    // The epoch moved (a heartbeat answer crossed the commit): the next one carries the new epoch.
    if (findErrorBy(error as Error, "apiId", "STALE_MEMBER_EPOCH")) throw retriable(markRetriable(error));
    throw markRetriable(error);
  }
}

/** The group's committed offsets and metadata, `null` for a partition without a commit. */
export async function committedOffsets(
  consumer: GroupConsumer,
  coordinator: Coordinator,
  partitions: readonly TopicPartition[],
): Promise<readonly CommittedOffset[]> {
  const response = await callMarked(async () =>
    offsetFetchV9.api.async(
      await coordinator.find(),
      [{
        groupId: consumer.groupId,
        memberId: null,
        memberEpoch: -1,
        topics: partitionsByTopic(partitions).map(([name, partitionIndexes]) => ({ name, partitionIndexes })),
      }],
      false,
    )
  );
  const found = new PartitionMap<{ offset: bigint; metadata: string | null }>();
  for (const topic of response.groups[0]?.topics ?? []) {
    for (const p of topic.partitions) {
      found.set(topic.name, p.partitionIndex, { offset: p.committedOffset, metadata: p.metadata ?? null });
    }
  }
  return partitions.map(({ topic, partition }) => {
    const entry = found.get(topic, partition);
    // The broker answers -1 for a partition the group never committed.
    const known = entry !== undefined && entry.offset >= 0n;
    return { topic, partition, offset: known ? entry.offset : null, metadata: known ? entry.metadata : null };
  });
}

/** The earliest or latest offset of each partition (latest: read_committed's last stable offset). */
export async function listOffsets(
  consumer: GroupConsumer,
  partitions: readonly TopicPartition[],
  at: "earliest" | "latest",
  isolationLevel: IsolationLevel,
): Promise<readonly ListedOffset[]> {
  const byTopic = partitionsByTopic(partitions);
  await learnPartitions(consumer, byTopic);
  const offsets = await callMarked(() =>
    consumer.listOffsets({
      topics: byTopic.map(([topic]) => topic),
      partitions: Object.fromEntries(byTopic),
      timestamp: at === "earliest" ? ListOffsetTimestamps.EARLIEST : ListOffsetTimestamps.LATEST,
      isolationLevel: toIsolationLevel(isolationLevel),
    })
  );
  return partitions.map(({ topic, partition }) => {
    const offset = offsets.get(topic)?.[partition];
    if (offset === undefined) throw retriable(new Error(`no ${at} offset listed for ${topic}[${partition}]`));
    return { topic, partition, offset };
  });
}

/**
 * Makes sure the client's metadata knows every partition of `byTopic`: the client lists offsets
 * only for the partitions its cached metadata has, and fails the whole request otherwise ("Specified
 * partition(s) not found"), which is what a topic that gained partitions gets until its cache
 * expires. Asks the cluster again once; a partition still unknown is a retriable error.
 */
async function learnPartitions(
  consumer: GroupConsumer,
  byTopic: readonly (readonly [string, readonly number[]])[],
): Promise<void> {
  const topics = byTopic.map(([topic]) => topic);
  const unknown = (metadata: Awaited<ReturnType<GroupConsumer["metadata"]>>) =>
    byTopic.find(([topic, indexes]) => {
      const count = metadata.topics.get(topic)?.partitionsCount ?? 0;
      return indexes.some((index) => index >= count);
    });
  if (unknown(await callMarked(() => consumer.metadata({ topics }))) === undefined) return;
  const missing = unknown(await callMarked(() => consumer.metadata({ topics, forceUpdate: true })));
  if (missing !== undefined) {
    throw retriable(
      new Error(`partitions ${missing[1].join(", ")} of ${missing[0]} are not in the cluster metadata yet`),
    );
  }
}
