// Pure converters between the port's shapes and the library's request shapes.
import { FetchIsolationLevels } from "@platformatic/kafka";
import type { TopicPartition } from "../../core/message.ts";
import type { IsolationLevel } from "../group/kafka-client.ts";

/** Items by topic, in first-seen order (the client's requests are per topic). */
export function groupByTopic<T extends TopicPartition>(items: readonly T[]): Map<string, T[]> {
  const byTopic = new Map<string, T[]>();
  for (const item of items) {
    const list = byTopic.get(item.topic);
    if (list) list.push(item);
    else byTopic.set(item.topic, [item]);
  }
  return byTopic;
}

/** Partition numbers by topic, in first-seen order. */
export function partitionsByTopic(partitions: readonly TopicPartition[]): [string, number[]][] {
  return [...groupByTopic(partitions)].map(([topic, list]) => [topic, list.map(({ partition }) => partition)]);
}

/** The port's isolation level as the library's fetch and list-offsets constant. */
export function toIsolationLevel(level: IsolationLevel): number {
  return level === "read_committed" ? FetchIsolationLevels.READ_COMMITTED : FetchIsolationLevels.READ_UNCOMMITTED;
}
