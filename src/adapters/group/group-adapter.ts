import type { Clock } from "../../core/clock.ts";
import { Delays } from "../../core/delays.ts";
import { backoffMs } from "../../core/retry-policy.ts";
import type { TopicPartition } from "../../core/message.ts";
import type { Logger } from "../../core/settings.ts";
import { PartitionMap } from "../../core/partition-map.ts";
import type {
  AdapterListener,
  AssignedPartition,
  KafkaAdapter,
  OutgoingRecord,
  PartitionError,
  PartitionOffset,
  PartitionPosition,
} from "../../core/ports/kafka-adapter.ts";
import { Fetcher } from "./fetcher.ts";
import {
  type GroupAssignment,
  type GroupEvents,
  type IsolationLevel,
  isRetriable,
  type KafkaClient,
} from "./kafka-client.ts";

/** Backoff of join retries: doubling from 200 ms to 5 s. */
const joinRetryDelay = (attempt: number): number => backoffMs(200, 5_000, attempt);
/**
 * Backoff of committed-offset reads: doubling from 200 ms to 1 s, as Kafka's own clients
 * (retry.backoff.max.ms). A partition is fetched only once its committed offset is read: assigned
 * while the group coordinator moves, at a 5 s cap it could sit unfetched for 5 s after the new
 * coordinator answered.
 */
const loadRetryDelay = (attempt: number): number => backoffMs(200, 1_000, attempt);

/** How the adapter consumes. */
export interface GroupAdapterSettings {
  readonly topics: readonly string[];
  /** Where a partition without a committed offset starts. */
  readonly startFrom: "earliest" | "latest";
  readonly isolationLevel: IsolationLevel;
  readonly fetchMaxWaitMs: number;
  readonly fetchMaxBytes: number;
  readonly fetchMaxBytesPerPartition: number;
  /** How long start() keeps retrying a join the cluster refuses for now (a coordinator moving). */
  readonly joinTimeoutMs: number;
  /** Hears each join start() retries, so that a wrong address is not a silent minute. */
  readonly logger: Logger;
  /** Classic protocol: how often the topics' partition counts are read again (see `#watchPartitions`). */
  readonly metadataMaxAgeMs: number;
  readonly clock: Clock;
}

/** One partition owned in one assignment epoch; a returning partition gets a new one. */
interface Ownership {
  /** The listener heard `assigned` for it (and will hear `revoked`). */
  announced: boolean;
}

/**
 * The consumer-group adapter: turns a {@linkcode KafkaClient}'s membership, fetches and offsets
 * into the control plane's events.
 *
 * - Ownership comes from the member's assignments. A partition kept from one generation to the
 *   next by the same member stays as it is; after a gap (the member was fenced and rejoined under
 *   a new id, or generations passed it by, or the membership reported its partitions `lost`)
 *   every partition is revoked and assigned afresh, since another member may have owned and
 *   committed it meanwhile.
 * - Consumer protocol: a partition the group takes away is held until the control plane has
 *   released it (its running work finished or abandoned, its progress committed); only then does
 *   the membership report it given up, and only then may another member fetch it.
 * - A newly owned partition's committed offset and offset map are read before it is announced
 *   and fetched; a read that finishes after the partition was revoked (or revoked and assigned
 *   again) is dropped, so a stale commit never seeds a newer assignment. Reads are retried while
 *   the partition is owned: a coordinator can take a while after a failover.
 */
export class GroupAdapter implements KafkaAdapter {
  readonly #client: KafkaClient;
  readonly #settings: GroupAdapterSettings;
  readonly #owned = new PartitionMap<Ownership>();
  /** Partitions being given back (the control plane drains and commits them): lost with the rest. */
  readonly #releasing = new PartitionMap<true>();
  #listener: AdapterListener | undefined;
  #fetcher: Fetcher | undefined;
  #membership: { generation: number; memberId: string } | undefined;
  /** The group events given to the client's join: a rejoin passes them again. */
  #events: GroupEvents | undefined;
  /** Classic protocol: the partition watch runs (started at the first classic assignment). */
  #watching = false;
  /** Backoffs of join and load retries: they end at close(). */
  readonly #delays: Delays;
  #closed = false;

  constructor(client: KafkaClient, settings: GroupAdapterSettings) {
    this.#client = client;
    this.#settings = settings;
    this.#delays = new Delays(settings.clock);
  }

  async start(listener: AdapterListener): Promise<void> {
    if (this.#closed) throw new Error("the Kafka adapter was closed before it started");
    const settings = this.#settings;
    this.#listener = listener;
    this.#fetcher = new Fetcher(this.#client, {
      startFrom: settings.startFrom,
      isolationLevel: settings.isolationLevel,
      maxWaitMs: settings.fetchMaxWaitMs,
      maxBytes: settings.fetchMaxBytes,
      maxBytesPerPartition: settings.fetchMaxBytesPerPartition,
      clock: settings.clock,
    }, {
      messages: (batch) => listener.messages(batch),
      restart: (partition, offset) => this.#restart(partition, offset),
      failed: (error) => this.#fail(error),
    });
    const events: GroupEvents = {
      joined: (assignment) => this.#joined(assignment),
      revoking: (partitions) => this.#revoking(partitions),
      lost: () => this.#lost(),
      rebalancing: () => {
        if (!this.#closed) listener.rebalancing();
      },
      failed: (error) => this.#fail(error),
    };
    this.#events = events;
    const deadline = settings.clock.now() + settings.joinTimeoutMs;
    for (let attempt = 0;; attempt++) {
      try {
        return await this.#client.join(settings.topics, events);
      } catch (error) {
        if (!isRetriable(error) || this.#closed || settings.clock.now() >= deadline) throw error;
        // From the second failure: a new cluster refuses a first join for a moment, which is no news.
        if (attempt > 0) {
          const left = Math.ceil((deadline - settings.clock.now()) / 1000);
          settings.logger.warn(
            `${(error as Error).message}; start() tries again for up to ${left} s more (kafka.rebalanceTimeoutMs)`,
          );
        }
      }
      if (!(await this.#delays.wait(joinRetryDelay(attempt)))) {
        throw new Error("the Kafka adapter was closed while joining the group");
      }
    }
  }

  pause(partitions?: readonly TopicPartition[]): void {
    this.#fetcher?.pause(partitions);
  }

  resume(partitions?: readonly TopicPartition[]): void {
    this.#fetcher?.resume(partitions);
  }

  commit(offsets: readonly PartitionOffset[]): Promise<readonly PartitionError[]> {
    if (this.#closed) return Promise.reject(new Error("the Kafka adapter is closed"));
    return this.#client.commit(offsets);
  }

  fetchPositions(): readonly PartitionPosition[] {
    return this.#fetcher?.positions() ?? [];
  }

  publish(records: readonly OutgoingRecord[]): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("the consumer is closed: the dead letter was not published"));
    return this.#client.produce(records);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#delays.cancelAll();
    this.#fetcher?.close();
    await this.#client.close();
  }

  #fail(error: Error): void {
    if (!this.#closed) this.#listener?.failed(error);
  }

  /** Announces what the new assignment revokes, and starts loading what it adds. */
  #joined({ generation, memberId, partitions, protocol }: GroupAssignment): void {
    if (this.#closed) return;
    const previous = this.#membership;
    this.#membership = { generation, memberId };
    // Consumer protocol: epochs skip, and the membership reports a break itself (`lost`).
    // A rejoin that did not rebalance (`#watchPartitions`, as a follower) answers the same generation.
    const continuous = previous !== undefined && previous.memberId === memberId &&
      (protocol === "consumer" || generation === previous.generation + 1 || generation === previous.generation);
    const next = new PartitionMap<true>();
    for (const { topic, partition } of partitions) next.set(topic, partition, true);
    this.#revoke(this.#forget((tp) => !continuous || !next.has(tp.topic, tp.partition)));
    const added: [TopicPartition, Ownership][] = [];
    for (const [tp] of next.entries()) {
      if (this.#owned.has(tp.topic, tp.partition)) continue;
      const ownership: Ownership = { announced: false };
      this.#owned.set(tp.topic, tp.partition, ownership);
      added.push([tp, ownership]);
    }
    if (added.length > 0) void this.#load(added);
    if (protocol !== "consumer" && !this.#watching) {
      this.#watching = true;
      void this.#watchPartitions();
    }
  }

  /**
   * Classic protocol: the group's assignment is made by one member when it rebalances, and
   * nothing makes it rebalance when a subscribed topic gains partitions or is deleted (Java's
   * group leader reads its metadata every `metadata.max.age.ms` and rejoins; @platformatic/kafka's
   * does not). Every `metadataMaxAgeMs` the partition counts are read again; when a topic grew,
   * vanished or came back, the member commits as before any rebalance and rejoins, subscribed to
   * the topics there are (the client's join fails on a topic the cluster does not have). As the
   * group's leader that rebalances the group, which then assigns the new partitions and none of a
   * deleted topic; a follower's rejoin changes nothing (same generation), and the leader sees the
   * change in its own round.
   */
  async #watchPartitions(): Promise<void> {
    const { topics, metadataMaxAgeMs } = this.#settings;
    const read = () => this.#client.partitionCounts(topics).catch(() => undefined);
    let known = await read();
    // Closed while reading: no new wait (close() cancels only the waits it finds).
    while (!this.#closed && (await this.#delays.wait(metadataMaxAgeMs))) {
      const counts = await read();
      if (counts === undefined) continue; // the next round asks again
      const present = topics.filter((topic) => counts.has(topic));
      const changed = known !== undefined &&
        topics.some((topic) => counts.has(topic) !== known!.has(topic) || counts.get(topic)! > known!.get(topic)!);
      // With no topic left there is nothing to rejoin for: the next round sees one come back.
      if (changed && present.length > 0 && !this.#closed) {
        this.#listener!.rebalancing();
        try {
          await this.#client.join(present, this.#events!);
        } catch (error) {
          if (!isRetriable(error)) this.#fail(error as Error);
          continue; // not rejoined: the next round sees the change again
        }
      }
      known = counts;
    }
  }

  /**
   * The revoke barrier (consumer protocol): stops fetching `partitions` and resolves once the
   * control plane has released them; the membership keeps them until then. A partition still
   * loading was never announced: it is simply dropped.
   */
  async #revoking(partitions: readonly TopicPartition[]): Promise<void> {
    if (this.#closed) return;
    const taken = new PartitionMap<true>();
    for (const { topic, partition } of partitions) taken.set(topic, partition, true);
    const release = this.#forget((tp) => taken.has(tp.topic, tp.partition));
    if (release.length === 0) return;
    for (const tp of release) this.#releasing.set(tp.topic, tp.partition, true);
    try {
      await this.#listener!.releasing(release);
    } catch {
      // The listener resolves, never rejects; should it, the partitions are given up all the same.
    } finally {
      for (const tp of release) this.#releasing.delete(tp.topic, tp.partition);
    }
  }

  /**
   * Every partition was lost without being given up: revoked at once, nothing committed. That
   * includes those still being given back: another member may own them now, and their commit
   * would go out with this member's next epoch, which may hold them again (and be further on).
   */
  #lost(): void {
    if (this.#closed) return;
    this.#membership = undefined;
    const lost = new PartitionMap<TopicPartition>();
    for (const tp of this.#forget(() => true)) lost.set(tp.topic, tp.partition, tp);
    for (const [tp] of this.#releasing.entries()) lost.set(tp.topic, tp.partition, tp);
    this.#revoke([...lost.entries()].map(([tp]) => tp));
  }

  /** Stops owning and fetching the partitions `which` selects; returns the announced ones. */
  #forget(which: (partition: TopicPartition) => boolean): TopicPartition[] {
    const announced: TopicPartition[] = [];
    for (const [tp, ownership] of [...this.#owned.entries()]) {
      if (!which(tp)) continue;
      this.#owned.delete(tp.topic, tp.partition);
      this.#fetcher!.remove(tp);
      if (ownership.announced) announced.push(tp);
    }
    return announced;
  }

  #revoke(partitions: readonly TopicPartition[]): void {
    if (partitions.length > 0) this.#listener!.revoked(partitions);
  }

  /** The log restarted below the partition's position: a new assignment epoch from `offset`. */
  #restart(partition: TopicPartition, offset: bigint): void {
    const ownership = this.#owned.get(partition.topic, partition.partition);
    if (ownership === undefined || this.#closed) return;
    const fresh: Ownership = { announced: true };
    this.#owned.set(partition.topic, partition.partition, fresh);
    this.#listener!.revoked([partition]);
    this.#listener!.assigned([{ ...partition, committedOffset: null, committedMetadata: null, startOffset: offset }]);
    this.#fetcher!.add(partition, offset);
  }

  /** Reads committed offsets (or the start per `startFrom`), then announces and fetches. */
  async #load(entries: readonly [TopicPartition, Ownership][]): Promise<void> {
    const { startFrom, isolationLevel } = this.#settings;
    const current = () => entries.filter(([tp, ownership]) => this.#owned.get(tp.topic, tp.partition) === ownership);
    let assigned: AssignedPartition[] | undefined;
    for (let attempt = 0; assigned === undefined; attempt++) {
      const wanted = current().map(([tp]) => tp);
      if (wanted.length === 0 || this.#closed) return;
      try {
        const committed = await this.#client.committed(wanted);
        const missing = committed.filter(({ offset }) => offset === null);
        const listed = missing.length === 0 ? [] : await this.#client.listOffsets(missing, startFrom, isolationLevel);
        const starts = new PartitionMap<bigint>();
        for (const { topic, partition, offset } of listed) starts.set(topic, partition, offset);
        assigned = committed.map(({ topic, partition, offset, metadata }) => ({
          topic,
          partition,
          committedOffset: offset,
          committedMetadata: offset === null ? null : metadata,
          startOffset: offset ?? starts.get(topic, partition)!,
        }));
      } catch (error) {
        if (!isRetriable(error)) {
          this.#fail(new Error("could not read the group's committed offsets", { cause: error }));
          return;
        }
        if (!(await this.#delays.wait(loadRetryDelay(attempt)))) return;
      }
    }
    if (this.#closed) return;
    // Revoked (or revoked and assigned again) while loading: this read is not theirs any more.
    const still = new PartitionMap<Ownership>();
    for (const [{ topic, partition }, ownership] of current()) still.set(topic, partition, ownership);
    const announce = assigned.filter(({ topic, partition }) => still.has(topic, partition));
    if (announce.length === 0) return;
    for (const ownership of still.values()) ownership.announced = true;
    this.#listener!.assigned(announce);
    for (const partition of announce) this.#fetcher!.add(partition, partition.startOffset);
  }
}
