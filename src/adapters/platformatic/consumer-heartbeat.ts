// ConsumerGroupHeartbeat v1 (Kafka 4.0+) on the group coordinator, with the library's wire API:
// topic names to ids and back, the coordinator looked up again when it moved, and each error code
// sorted the way KIP-848 says to handle it.
import {
  apiVersionsV3,
  type Connection,
  consumerGroupHeartbeatV1,
  FindCoordinatorKeyTypes,
  findCoordinatorV6,
  findErrorBy,
} from "@platformatic/kafka";
import type { TopicPartition } from "../../core/message.ts";
import type {
  HeartbeatFailure,
  HeartbeatRequest,
  HeartbeatResponse,
  HeartbeatTransport,
} from "../consumer-protocol/heartbeat.ts";
import { retriable } from "../group/kafka-client.ts";
import { partitionsByTopic } from "./convert.ts";
import type { Coordinator } from "./coordinator.ts";
import { callMarked, markRetriable } from "./errors.ts";
import type { GroupConsumer } from "./library.ts";
import { existingTopics } from "./metadata.ts";
import { toBroker } from "./options.ts";

const CONSUMER_GROUP_HEARTBEAT = 68;
/** The version sent: v1 has the member id chosen by the client (KIP-1082), as Kafka 4.0+ expects. */
const VERSION = 1;

/** Errors after which the coordinator has to be looked up again. */
const COORDINATOR_MOVED = ["NOT_COORDINATOR", "COORDINATOR_NOT_AVAILABLE"];
/** The member must give up its partitions and rejoin with epoch 0. */
const FENCED = ["FENCED_MEMBER_EPOCH", "UNKNOWN_MEMBER_ID"];
/**
 * Retriable here although the protocol calls them final: an earlier instance of a static member
 * holds its id until its session ends (it was killed), then a join succeeds.
 */
const WAIT_AND_RETRY = ["UNRELEASED_INSTANCE_ID", "COORDINATOR_LOAD_IN_PROGRESS"];

/** The wire side of the consumer group protocol. */
export class ConsumerHeartbeats implements HeartbeatTransport {
  readonly #consumer: GroupConsumer;
  readonly #coordinator: Coordinator;
  /** Topic ids by name and names by id, from the cluster metadata. */
  readonly #ids = new Map<string, string>();
  readonly #names = new Map<string, string>();
  /** Whether the coordinator's ApiVersions were checked for ConsumerGroupHeartbeat v1. */
  #supported = false;

  constructor(consumer: GroupConsumer, coordinator: Coordinator) {
    this.#consumer = consumer;
    this.#coordinator = coordinator;
  }

  async heartbeat(request: HeartbeatRequest): Promise<HeartbeatResponse> {
    const connection = this.#coordinator.cached ?? await callMarked(() => this.#coordinator.find());
    if (!this.#supported) await this.#checkSupport(connection);
    if (request.subscribedTopicNames.some((topic) => !this.#ids.has(topic))) {
      await this.#learnTopics(request.subscribedTopicNames, false);
    }
    let response: consumerGroupHeartbeatV1.ConsumerGroupHeartbeatResponse;
    try {
      response = await consumerGroupHeartbeatV1.api.async(
        connection,
        this.#consumer.groupId,
        request.memberId,
        request.memberEpoch,
        request.instanceId,
        null,
        request.rebalanceTimeoutMs,
        [...request.subscribedTopicNames],
        null,
        null,
        this.#owned(request.ownedPartitions),
      );
    } catch (error) {
      if (COORDINATOR_MOVED.some((id) => findErrorBy(error as Error, "apiId", id)) || isNetworkError(error)) {
        this.#coordinator.forget();
      }
      throw error;
    }
    return {
      memberEpoch: response.memberEpoch,
      heartbeatIntervalMs: response.heartbeatIntervalMs,
      assignment: response.assignment === null ? null : await this.#named(response.assignment.topicPartitions),
    };
  }

  failureOf(error: unknown): HeartbeatFailure {
    if (FENCED.some((id) => findErrorBy(error as Error, "apiId", id))) return "fenced";
    if (findErrorBy(error as Error, "apiId", "FENCED_INSTANCE_ID")) return "replaced";
    if (WAIT_AND_RETRY.some((id) => findErrorBy(error as Error, "apiId", id))) return "retriable";
    return markRetriable(error).retriable ? "retriable" : "fatal";
  }

  /** Fails for good when the coordinator does not speak the consumer group protocol (Kafka < 4.0). */
  async #checkSupport(connection: Connection): Promise<void> {
    const versions = await callMarked(() => apiVersionsV3.api.async(connection, "pyrallel-consumer", "1"));
    const api = versions.apiKeys.find(({ apiKey }) => apiKey === CONSUMER_GROUP_HEARTBEAT);
    if (api === undefined || api.maxVersion < VERSION) {
      throw new Error(
        "the broker does not support the consumer group protocol (KIP-848, ConsumerGroupHeartbeat v1, " +
          'Kafka 4.0 and later): set kafka.groupProtocol to "classic"',
      );
    }
    this.#supported = true;
  }

  /** Owned partitions by topic id (every owned topic was assigned, so its id is known). */
  #owned(
    partitions: readonly TopicPartition[],
  ): consumerGroupHeartbeatV1.ConsumerGroupHeartbeatRequestTopicPartition[] {
    return partitionsByTopic(partitions).map(([topic, indexes]) => ({
      topicId: this.#ids.get(topic)!,
      partitions: indexes,
    }));
  }

  /** An assignment in topic names; a topic id not in the metadata yet is asked for once more, then left out. */
  async #named(
    assignment: readonly { readonly topicId: string; readonly partitions: readonly number[] }[],
  ): Promise<TopicPartition[]> {
    if (assignment.some(({ topicId }) => !this.#names.has(topicId))) {
      // A subscribed topic deleted meanwhile must not fail the heartbeat: only those there are learnt.
      this.#learn(await existingTopics(this.#consumer, [...this.#ids.keys()], true));
    }
    const partitions: TopicPartition[] = [];
    for (const { topicId, partitions: indexes } of assignment) {
      const topic = this.#names.get(topicId);
      if (topic === undefined) continue;
      for (const partition of indexes) partitions.push({ topic, partition });
    }
    return partitions;
  }

  /** Fails on a missing topic: the first join's check that every subscribed topic exists. */
  async #learnTopics(topics: readonly string[], refresh: boolean): Promise<void> {
    this.#learn(
      (await callMarked(() => this.#consumer.metadata({ topics: [...topics], forceUpdate: refresh }))).topics,
    );
  }

  #learn(topics: ReadonlyMap<string, { readonly id: string }>): void {
    for (const [name, { id }] of topics) {
      this.#ids.set(name, id);
      this.#names.set(id, name);
    }
  }
}

/** FindCoordinator on a bootstrap broker: the coordinator's node id, asked fresh every time. */
export async function findCoordinator(consumer: GroupConsumer, bootstrapBrokers: readonly string[]): Promise<number> {
  const connection = await consumer.connections.getFirstAvailable(bootstrapBrokers.map(toBroker));
  const response = await findCoordinatorV6.api.async(connection, FindCoordinatorKeyTypes.GROUP, [consumer.groupId]);
  const found = response.coordinators.find(({ key }) => key === consumer.groupId);
  if (found === undefined) throw retriable(new Error("FindCoordinator named no coordinator for the group"));
  return found.nodeId;
}

function isNetworkError(error: unknown): boolean {
  return findErrorBy(error as Error, "code", "PLT_KFK_NETWORK") !== null ||
    findErrorBy(error as Error, "code", "PLT_KFK_TIMEOUT") !== null;
}
