// Where partitions are led, and one fetch from one broker with the library's Fetch v17, answered
// in the port's shapes (per-partition error codes included).
import { type fetchV17, IS_CONTROL, IS_TRANSACTIONAL } from "@platformatic/kafka";
import {
  type FetchedPartition,
  type FetchRequest,
  type PartitionLeader,
  type RecordBatch,
  retriable,
} from "../group/kafka-client.ts";
import { groupByTopic, toIsolationLevel } from "./convert.ts";
import { callMarked, fetchError, markRetriable } from "./errors.ts";
import type { GroupConsumer } from "./library.ts";

type FetchResponse = fetchV17.FetchResponse;
type Batches = NonNullable<FetchResponse["responses"][number]["partitions"][number]["records"]>;

/** The leader of every partition of `topics`; `refresh` asks the cluster again instead of a cache. */
export async function partitionLeaders(
  consumer: GroupConsumer,
  topics: readonly string[],
  refresh: boolean,
): Promise<readonly PartitionLeader[]> {
  const metadata = await callMarked(() => consumer.metadata({ topics: [...topics], forceUpdate: refresh }));
  const leaders: PartitionLeader[] = [];
  for (const topic of topics) {
    const partitions = metadata.topics.get(topic)?.partitions ?? [];
    partitions.forEach((partition, index) => leaders.push({ topic, partition: index, node: partition.leader }));
  }
  return leaders;
}

/** One fetch from one broker. Rejects when the request as a whole failed. */
export async function fetchPartitions(
  consumer: GroupConsumer,
  request: FetchRequest,
): Promise<readonly FetchedPartition[]> {
  const byTopic = groupByTopic(request.partitions);
  const metadata = await callMarked(() => consumer.metadata({ topics: [...byTopic.keys()] }));
  // Fetch v13+ names topics by id: the response is mapped back with this.
  const names = new Map<string, string>();
  const topics = [...byTopic].map(([topic, partitions]) => {
    const described = metadata.topics.get(topic);
    if (described === undefined) throw retriable(new Error(`topic ${topic} is not in the cluster metadata yet`));
    names.set(described.id, topic);
    return {
      topicId: described.id,
      partitions: partitions.map(({ partition, offset, maxBytes }) => ({
        partition,
        fetchOffset: offset,
        partitionMaxBytes: maxBytes,
        currentLeaderEpoch: described.partitions[partition]?.leaderEpoch ?? -1,
        lastFetchedEpoch: -1,
      })),
    };
  });
  let response: FetchResponse;
  try {
    response = await consumer.fetch({
      node: request.node,
      topics,
      maxWaitTime: request.maxWaitMs,
      maxBytes: request.maxBytes,
      isolationLevel: toIsolationLevel(request.isolationLevel),
    });
  } catch (error) {
    // Partition-level errors reject the whole call; the response inside still has the rest.
    const partial = (error as { response?: FetchResponse }).response;
    if (!partial?.responses) throw markRetriable(error);
    response = partial;
  }
  const fetched: FetchedPartition[] = [];
  for (const topicResponse of response.responses) {
    const topic = names.get(topicResponse.topicId) ?? topicResponse.topicId;
    for (const p of topicResponse.partitions) {
      const error = fetchError(p.errorCode);
      fetched.push({
        topic,
        partition: p.partitionIndex,
        ...(error === undefined ? {} : { error }),
        highWatermark: p.highWatermark,
        lastStableOffset: p.lastStableOffset,
        logStartOffset: p.logStartOffset,
        abortedTransactions: p.abortedTransactions ?? [],
        batches: p.records ? toBatches(p.records) : [],
      });
    }
  }
  return fetched;
}

/** The client's batches in the port's shape (records pass through: Buffer is a Uint8Array). */
function toBatches(records: Batches): RecordBatch[] {
  const batches: RecordBatch[] = new Array(records.length);
  for (let i = 0; i < records.length; i++) {
    const batch = records[i]!;
    batches[i] = {
      firstOffset: batch.firstOffset,
      lastOffsetDelta: batch.lastOffsetDelta,
      firstTimestamp: batch.firstTimestamp,
      producerId: batch.producerId,
      isTransactional: (batch.attributes & IS_TRANSACTIONAL) !== 0,
      isControl: (batch.attributes & IS_CONTROL) !== 0,
      records: batch.records,
    };
  }
  return batches;
}
