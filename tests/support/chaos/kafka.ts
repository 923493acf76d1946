// Broker access for the chaos suite, with the brokers passed in (the full run uses its own broker
// on another port, so tests/support/kafka.ts's fixed BROKERS do not fit).
import { Admin, ConfigResourceTypes, IncrementalAlterConfigOperationTypes, Producer } from "@platformatic/kafka";
import { groupCoordinator, type PartitionState, partitionStates } from "../../../scripts/kafka/cluster-info.ts";
import { readTopic } from "../read-topic.ts";

/** One record read back from a topic. */
export interface LogRecord {
  partition: number;
  offset: number;
  key: string | null;
  value: string | null;
  timestamp: number;
  headers: Map<string, string | null>;
}

/** Committed position and metadata (the consumer's offset map) of one partition; -1 / null when none. */
export interface Committed {
  offset: number;
  metadata: string | null;
}

/** Admin operations on one set of brokers; the admin client is replaced after a failure. */
export class ChaosKafka {
  readonly brokers: string[];
  #admin: Admin | undefined;

  constructor(brokers: string[]) {
    this.brokers = brokers;
  }

  async #withAdmin<T>(fn: (admin: Admin) => Promise<T>): Promise<T> {
    this.#admin ??= new Admin({
      clientId: "pyrallel-chaos-admin",
      bootstrapBrokers: this.brokers,
      retries: 1,
      retryDelay: 200,
      timeout: 3000,
    });
    const admin = this.#admin;
    try {
      return await fn(admin);
    } catch (error) {
      // A broker restart can leave the client's connections or metadata stale: start over next time.
      if (this.#admin === admin) this.#admin = undefined;
      void admin.close().catch(() => {});
      throw error;
    }
  }

  createTopic(topic: string, partitions: number, replicas = 1): Promise<void> {
    return this.#withAdmin(async (admin) => {
      await admin.createTopics({ topics: [topic], partitions, replicas });
    });
  }

  /** Leaders and ISRs of `topics` (of every topic, internal ones included, when `null`), asked of the cluster. */
  partitionStates(topics: readonly string[] | null): Promise<PartitionState[]> {
    return this.#withAdmin((admin) => partitionStates(admin, this.brokers, topics));
  }

  /** Node id of the group's coordinator. */
  coordinator(groupId: string): Promise<number> {
    return this.#withAdmin((admin) => groupCoordinator(admin, groupId));
  }

  /**
   * The consumer group protocol's session timeout and heartbeat interval for `groupId` (group
   * configuration: the clients' settings do not apply under that protocol). Resolves false when the
   * broker refuses them, being below its `group.consumer.min.*` settings (45 s and 5 s by default).
   */
  async groupTimeouts(groupId: string, sessionTimeoutMs: number, heartbeatIntervalMs: number): Promise<boolean> {
    const set = (name: string, value: number) => ({
      name,
      configOperation: IncrementalAlterConfigOperationTypes.SET,
      value: String(value),
    });
    try {
      await this.#withAdmin((admin) =>
        admin.incrementalAlterConfigs({
          resources: [{
            resourceType: ConfigResourceTypes.GROUP,
            resourceName: groupId,
            configs: [
              set("consumer.session.timeout.ms", sessionTimeoutMs),
              set("consumer.heartbeat.interval.ms", heartbeatIntervalMs),
            ],
          }],
        })
      );
      return true;
    } catch {
      return false;
    }
  }

  /** Log end offset of each partition. */
  endOffsets(topic: string, partitions: number): Promise<number[]> {
    return this.#withAdmin(async (admin) => {
      const [listed] = await admin.listOffsets({
        topics: [{
          name: topic,
          partitions: Array.from({ length: partitions }, (_, partitionIndex) => ({ partitionIndex, timestamp: -1n })),
        }],
      });
      const offsets = new Array<number>(partitions).fill(-1);
      for (const { partitionIndex, offset } of listed?.partitions ?? []) offsets[partitionIndex] = Number(offset);
      return offsets;
    });
  }

  /** Committed offset and metadata of each partition for a group. */
  committed(groupId: string, topic: string, partitions: number): Promise<Committed[]> {
    return this.#withAdmin(async (admin) => {
      const [group] = await admin.listConsumerGroupOffsets({ groups: [groupId] });
      const result: Committed[] = Array.from({ length: partitions }, () => ({ offset: -1, metadata: null }));
      for (const t of group?.topics ?? []) {
        if (t.name !== topic) continue;
        for (const p of t.partitions) {
          result[p.partitionIndex] = { offset: Number(p.committedOffset), metadata: p.metadata ?? null };
        }
      }
      return result;
    });
  }

  /** Reads `count` records of `topic` from the beginning (outside any group), or fails after `timeoutMs`. */
  async readAll(topic: string, count: number, timeoutMs = 60_000): Promise<LogRecord[]> {
    const records = await readTopic(topic, count, timeoutMs, this.brokers);
    return records.map((record) => ({ ...record, offset: Number(record.offset) }));
  }

  async close(): Promise<void> {
    const admin = this.#admin;
    this.#admin = undefined;
    await admin?.close();
  }
}

/**
 * A producer for the test process: idempotent (so acks=all, and the client's own retries never
 * duplicate a batch), retrying for about as long as a broker takes to restart or to be replaced as
 * a leader before a send fails (and is sent again as new records).
 */
export function chaosProducer(brokers: string[]): Producer {
  return new Producer({
    clientId: "pyrallel-chaos-producer",
    bootstrapBrokers: brokers,
    idempotent: true,
    retries: 40,
    retryDelay: 250,
  });
}
