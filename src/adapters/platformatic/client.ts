// The client port over @platformatic/kafka. Each call is one wire job in its own file: membership
// (classic: the library's join, rebalance events, leave; consumer protocol: our heartbeats on its
// wire API), fetch (leaders, Fetch), offsets (OffsetCommit / OffsetFetch on the coordinator,
// ListOffsets), produce (dead letters). Everything above this folder is ours and runs against any
// implementation of the port (the simulation has one).
import type { TopicPartition } from "../../core/message.ts";
import type { OutgoingRecord, PartitionError, PartitionOffset } from "../../core/ports/kafka-adapter.ts";
import type {
  CommittedOffset,
  FetchedPartition,
  FetchRequest,
  GroupEvents,
  IsolationLevel,
  KafkaClient,
  ListedOffset,
  PartitionLeader,
} from "../group/kafka-client.ts";
import { systemClock } from "../../core/clock.ts";
import { findCoordinator } from "./consumer-heartbeat.ts";
import type { EpochMember } from "../consumer-protocol/commit.ts";
import { ConsumerGroupMembership } from "./consumer-membership.ts";
import { Coordinator } from "./coordinator.ts";
import { fetchPartitions, partitionLeaders } from "./fetch.ts";
import { type ClientLibrary, type FetchConnections, type GroupConsumer, platformaticLibrary } from "./library.ts";
import { Membership } from "./membership.ts";
import { existingTopics } from "./metadata.ts";
import { commitOffsets, committedOffsets, listOffsets } from "./offsets.ts";
import type { PlatformaticClientOptions } from "./options.ts";
import { LazyProducer } from "./produce.ts";

/** A {@linkcode KafkaClient} built on @platformatic/kafka. */
export class PlatformaticClient implements KafkaClient {
  readonly #consumer: GroupConsumer;
  /** Fetches wait on the broker for data: on connections of their own, commits never queue behind them. */
  readonly #fetchConnections: FetchConnections;
  readonly #membership: Membership | ConsumerGroupMembership;
  readonly #coordinator: Coordinator;
  /** Consumer protocol: who commits (member epoch, held partitions); classic: the library's consumer. */
  readonly #member: EpochMember | undefined;
  readonly #producer: LazyProducer;
  readonly #checkCrcs: boolean;
  #closed = false;

  /** `library` makes the library's consumer and producer; tests pass fakes. */
  constructor(options: PlatformaticClientOptions, library: ClientLibrary = platformaticLibrary) {
    const consumer = library.consumer(options);
    this.#consumer = consumer;
    this.#fetchConnections = library.fetchConnections(options);
    if (options.groupProtocol === "consumer") {
      // Our own heartbeats: the coordinator is looked up again whenever they say it moved.
      this.#coordinator = new Coordinator(consumer, () => findCoordinator(consumer, options.bootstrapBrokers));
      const membership = new ConsumerGroupMembership(consumer, this.#coordinator, options, systemClock);
      this.#membership = membership;
      this.#member = membership.member;
    } else {
      this.#coordinator = new Coordinator(consumer);
      this.#membership = new Membership(consumer, options);
    }
    this.#producer = new LazyProducer(() => library.producer(options));
    this.#checkCrcs = options.checkCrcs ?? false;
  }

  join(topics: readonly string[], events: GroupEvents): Promise<void> {
    return this.#membership.join(topics, events);
  }

  leaders(topics: readonly string[], refresh: boolean): Promise<readonly PartitionLeader[]> {
    return partitionLeaders(this.#consumer, topics, refresh);
  }

  async partitionCounts(topics: readonly string[]): Promise<ReadonlyMap<string, number>> {
    const counts = new Map<string, number>();
    for (const [topic, { partitionsCount }] of await existingTopics(this.#consumer, topics, true)) {
      counts.set(topic, partitionsCount);
    }
    return counts;
  }

  fetch(request: FetchRequest): Promise<readonly FetchedPartition[]> {
    return fetchPartitions(this.#consumer, this.#fetchConnections, request, this.#checkCrcs);
  }

  /** Sent in this tick when the coordinator is known (see {@linkcode commitOffsets}). */
  commit(offsets: readonly PartitionOffset[]): Promise<readonly PartitionError[]> {
    const committing = commitOffsets(this.#consumer, this.#coordinator, offsets, this.#member);
    const membership = this.#membership;
    // Classic: a commit can be the first to hear that another consumer took this one's instance id.
    if (membership instanceof Membership) committing.catch((error: unknown) => membership.failedWith(error));
    return committing;
  }

  committed(partitions: readonly TopicPartition[]): Promise<readonly CommittedOffset[]> {
    return committedOffsets(this.#consumer, this.#coordinator, partitions);
  }

  listOffsets(
    partitions: readonly TopicPartition[],
    at: "earliest" | "latest",
    isolationLevel: IsolationLevel,
  ): Promise<readonly ListedOffset[]> {
    return listOffsets(this.#consumer, partitions, at, isolationLevel);
  }

  async produce(records: readonly OutgoingRecord[]): Promise<void> {
    if (this.#closed) throw new Error("the Kafka client is closed");
    await this.#producer.produce(records);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#membership.leave();
    } finally {
      await Promise.all([this.#producer.close(), this.#fetchConnections.close()]);
    }
  }
}
