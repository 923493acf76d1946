// Where partitions are led, and one fetch from one broker, sent with the library's Fetch request
// writers (v13–v17, topics by id) on that broker's connection and read with our own response
// parser (fetch-response.ts: records straight from the bytes), in the port's shapes
// (per-partition error codes included).
//
// The fetch is sent as asked, once: not through the library's Consumer.fetch, which retries a
// failed fetch three times a second apart (against the leader it had cached) and sends a request to
// whichever broker its own metadata names. The fetcher (../group/fetcher.ts) owns leader changes:
// it has to hear at once that a broker is gone or a partition moved, to ask for the leaders again.
import {
  type API,
  apiVersionsV3,
  type Connection,
  createAPI,
  fetchV13,
  fetchV14,
  fetchV15,
  fetchV16,
  fetchV17,
} from "@platformatic/kafka";
import {
  type FetchedPartition,
  type FetchPartitionError,
  type FetchRequest,
  type PartitionLeader,
  retriable,
} from "../group/kafka-client.ts";
import { groupByTopic, toIsolationLevel } from "./convert.ts";
import { callMarked, fetchError } from "./errors.ts";
import { type FetchResponse, fetchResponseParser, type FetchResponsePartition } from "./fetch-response.ts";
import type { FetchConnections, GroupConsumer } from "./library.ts";
import { existingTopics } from "./metadata.ts";

/** The API key of Fetch. */
const FETCH = fetchV17.api.key;
/** The Fetch versions spoken, newest first: all name topics by id and share one request shape. */
const FETCH_VERSIONS = [fetchV17, fetchV16, fetchV15, fetchV14, fetchV13];
type FetchApi = API<Parameters<typeof fetchV17.createRequest>, FetchResponse>;
/** Without a fetch session (KIP-227): id 0 and the final epoch, so every request is complete in itself. */
const NO_SESSION_ID = 0;
const NO_SESSION_EPOCH = -1;

/**
 * The leader of every partition of `topics` that has one; `refresh` asks the cluster again instead
 * of a cache. A partition without a leader (-1: an election pending, no replica in sync), or of a
 * topic the cluster does not have (deleted), is left out: the fetcher treats it as unknown and asks
 * again.
 */
export async function partitionLeaders(
  consumer: GroupConsumer,
  topics: readonly string[],
  refresh: boolean,
): Promise<readonly PartitionLeader[]> {
  const described = await existingTopics(consumer, topics, refresh);
  const leaders: PartitionLeader[] = [];
  for (const topic of topics) {
    const partitions = described.get(topic)?.partitions ?? [];
    partitions.forEach((partition, index) => {
      if (partition.leader >= 0) leaders.push({ topic, partition: index, node: partition.leader });
    });
  }
  return leaders;
}

/** The Fetch version each client uses, learnt from the first broker it fetches from, with its parser. */
const fetchApis = new WeakMap<GroupConsumer, FetchApi>();

async function fetchApi(consumer: GroupConsumer, connection: Connection, checkCrcs: boolean): Promise<FetchApi> {
  const known = fetchApis.get(consumer);
  if (known !== undefined) return known;
  const versions = await callMarked(() => apiVersionsV3.api.async(connection, "pyrallel-consumer", "1"));
  const range = versions.apiKeys.find(({ apiKey }) => apiKey === FETCH);
  const spoken = range &&
    FETCH_VERSIONS.find(({ api }) => api.version >= range.minVersion && api.version <= range.maxVersion);
  if (spoken === undefined) {
    throw new Error(
      `the broker speaks Fetch v${range?.minVersion ?? "?"}–v${range?.maxVersion ?? "?"}; ` +
        "this client needs v13–v17 (Kafka 3.1 and later)",
    );
  }
  const api: FetchApi = createAPI(FETCH, spoken.api.version, spoken.createRequest, fetchResponseParser(checkCrcs));
  fetchApis.set(consumer, api);
  return api;
}

/**
 * One fetch from one broker. Rejects when the request as a whole failed (retriable when the broker
 * is gone or not known any more: the leaders have to be asked for again). A partition whose records
 * cannot be read (with `checkCrcs`, a batch whose CRC-32C does not match) comes back with a fatal
 * error naming it.
 */
export async function fetchPartitions(
  consumer: GroupConsumer,
  connections: FetchConnections,
  request: FetchRequest,
  checkCrcs: boolean,
): Promise<readonly FetchedPartition[]> {
  const byTopic = groupByTopic(request.partitions);
  const metadata = await callMarked(() => consumer.metadata({ topics: [...byTopic.keys()] }));
  const broker = metadata.brokers.get(request.node);
  if (broker === undefined) {
    throw retriable(new Error(`broker ${request.node} is not in the cluster metadata (any more)`));
  }
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
        // The epoch the leader is checked against: a stale one answers FENCED_LEADER_EPOCH.
        currentLeaderEpoch: described.partitions[partition]?.leaderEpoch ?? -1,
        fetchOffset: offset,
        lastFetchedEpoch: -1,
        partitionMaxBytes: maxBytes,
      })),
    };
  });
  const connection = await callMarked(() => connections.get(broker));
  const api = await fetchApi(consumer, connection, checkCrcs);
  // Partition errors come back as data; a request-level error code rejects (nothing to use).
  const response = await callMarked(() =>
    api.async(
      connection,
      request.maxWaitMs,
      1,
      request.maxBytes,
      toIsolationLevel(request.isolationLevel),
      NO_SESSION_ID,
      NO_SESSION_EPOCH,
      topics,
      [],
      "",
    )
  );
  const fetched: FetchedPartition[] = [];
  for (const topicResponse of response.responses) {
    const topic = names.get(topicResponse.topicId) ?? topicResponse.topicId;
    for (const p of topicResponse.partitions) {
      const error = p.unreadable === undefined ? fetchError(p.errorCode) : unreadableRecords(topic, p);
      fetched.push({
        topic,
        partition: p.partitionIndex,
        ...(error === undefined ? {} : { error }),
        highWatermark: p.highWatermark,
        lastStableOffset: p.lastStableOffset,
        logStartOffset: p.logStartOffset,
        abortedTransactions: p.abortedTransactions,
        batches: p.batches,
        recordBytes: p.recordBytes,
      });
    }
  }
  return fetched;
}

/** Records of a partition that cannot be read: the consumer stops there, naming where. */
function unreadableRecords(topic: string, { partitionIndex, unreadable }: FetchResponsePartition): FetchPartitionError {
  return {
    kind: "fatal",
    error: new Error(`cannot read the records of ${topic}[${partitionIndex}]: ${unreadable?.message}`, {
      cause: unreadable,
    }),
  };
}
