// The cluster's metadata of the subscribed topics it has. The library fails a metadata request as a
// whole when one of its topics is missing (a UserError "Unknown topic X.", whose X is not always
// the missing one), so a subscribed topic deleted while the group runs would stop every other
// topic's fetches and heartbeats. Here the topics are then asked one by one, and the missing ones
// are left out: their partitions have no leader, and the group takes them away.
import type { ClusterMetadata } from "@platformatic/kafka";
import { isUnknownTopic } from "./connection-errors.ts";
import { markRetriable } from "./errors.ts";
import type { GroupConsumer } from "./library.ts";

/**
 * The metadata of those of `topics` the cluster has (`refresh`: asked again instead of a cache).
 * Rejects, marked retriable or not, on any other failure.
 */
export async function existingTopics(
  consumer: GroupConsumer,
  topics: readonly string[],
  refresh: boolean,
): Promise<ClusterMetadata["topics"]> {
  try {
    return (await consumer.metadata({ topics: [...topics], forceUpdate: refresh })).topics;
  } catch (error) {
    if (!isUnknownTopic(error)) throw markRetriable(error);
    if (topics.length === 1) return new Map();
  }
  const found: ClusterMetadata["topics"] = new Map();
  await Promise.all(topics.map(async (topic) => {
    const described = (await existingTopics(consumer, [topic], refresh)).get(topic);
    if (described !== undefined) found.set(topic, described);
  }));
  return found;
}
