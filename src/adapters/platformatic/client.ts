// The client port over @platformatic/kafka. Each call is one wire job in its own file: membership
// (join, rebalance events, leave), fetch (leaders, Fetch), offsets (OffsetCommit / OffsetFetch on
// the coordinator, ListOffsets), produce (dead letters). Everything above this folder is ours and
// runs against any implementation of the port (the simulation has one).
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
import { Coordinator } from "./coordinator.ts";
import { fetchPartitions, partitionLeaders } from "./fetch.ts";
import { type ClientLibrary, type GroupConsumer, platformaticLibrary } from "./library.ts";
import { Membership } from "./membership.ts";
import { commitOffsets, committedOffsets, listOffsets } from "./offsets.ts";
import type { PlatformaticClientOptions } from "./options.ts";
import { LazyProducer } from "./produce.ts";

/** A {@linkcode KafkaClient} built on @platformatic/kafka. */
export class PlatformaticClient implements KafkaClient {
  readonly #consumer: GroupConsumer;
  readonly #membership: Membership;
  readonly #coordinator: Coordinator;
  readonly #producer: LazyProducer;
  #closed = false;

  /** `library` makes the library's consumer and producer; tests pass fakes. */
  constructor(options: PlatformaticClientOptions, library: ClientLibrary = platformaticLibrary) {
    this.#consumer = library.consumer(options);
    this.#membership = new Membership(this.#consumer, options);
    this.#coordinator = new Coordinator(this.#consumer);
    this.#producer = new LazyProducer(() => library.producer(options));
  }

  join(topics: readonly string[], events: GroupEvents): Promise<void> {
    return this.#membership.join(topics, events);
  }

  leaders(topics: readonly string[], refresh: boolean): Promise<readonly PartitionLeader[]> {
    return partitionLeaders(this.#consumer, topics, refresh);
  }

  fetch(request: FetchRequest): Promise<readonly FetchedPartition[]> {
    return fetchPartitions(this.#consumer, request);
  }

  /** Sent in this tick when the coordinator is known (see {@linkcode commitOffsets}). */
  commit(offsets: readonly PartitionOffset[]): Promise<readonly PartitionError[]> {
    return commitOffsets(this.#consumer, this.#coordinator, offsets);
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
      await this.#producer.close();
    }
  }
}
