// Topic setup and broker-side offsets, with the @platformatic/kafka admin client.
import { Admin } from "@platformatic/kafka";

function withAdmin<T>(brokers: string[], fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Admin({ clientId: "pyrallel-demo-admin", bootstrapBrokers: brokers });
  return fn(admin).finally(() => admin.close());
}

/** Creates the topic; an existing topic is fine (its partition count is kept). */
export function ensureTopic(brokers: string[], topic: string, partitions: number): Promise<"created" | "exists"> {
  return withAdmin(brokers, async (admin) => {
    if ((await admin.listTopics()).includes(topic)) return "exists";
    try {
      await admin.createTopics({ topics: [topic], partitions, replicas: 1 });
      return "created";
    } catch (error) {
      // Another process may have created it meanwhile (TOPIC_ALREADY_EXISTS).
      if ((await admin.listTopics()).includes(topic)) return "exists";
      throw error;
    }
  });
}

export interface PartitionPosition {
  partition: number;
  /** Offset the group committed (the next one it reads); -1 when none. */
  committed: bigint;
  /** Log end offset: one past the last record. */
  end: bigint;
}

/** The group's committed offsets next to the log end offsets, per partition, as the broker sees them. */
export function groupPositions(brokers: string[], groupId: string, topic: string): Promise<PartitionPosition[]> {
  return withAdmin(brokers, async (admin) => {
    const [group] = await admin.listConsumerGroupOffsets({ groups: [groupId] });
    const committed = new Map<number, bigint>();
    for (const t of group?.topics ?? []) {
      if (t.name !== topic) continue;
      for (const p of t.partitions) committed.set(p.partitionIndex, p.committedOffset);
    }
    const partitions = [...committed.keys()].sort((a, b) => a - b);
    const [listed] = await admin.listOffsets({
      topics: [{ name: topic, partitions: partitions.map((partitionIndex) => ({ partitionIndex, timestamp: -1n })) }],
    });
    const ends = new Map<number, bigint>();
    for (const p of listed?.partitions ?? []) ends.set(p.partitionIndex, p.offset);
    return partitions.map((partition) => ({
      partition,
      committed: committed.get(partition) ?? -1n,
      end: ends.get(partition) ?? -1n,
    }));
  });
}
