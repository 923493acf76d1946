// A deterministic model of a Kafka cluster (single-replica brokers + one consumer group, under the
// classic protocol or KIP-848's consumer protocol) for the seeded simulation: the real adapter runs against `client(name)`, the driver builds
// logs and injects faults in virtual time, and the invariant checker reads the histories.
// Every choice (latencies, rebalance delays, orders "in any order") comes from one seeded Random.
import type { Clock } from "../../src/core/clock.ts";
import { FakeClient } from "./cluster/client.ts";
import { ConsumerGroupCoordinator } from "./cluster/consumer-group.ts";
import type { ClusterContext, Faults, Timings } from "./cluster/context.ts";
import {
  type Assignor,
  type DelayRange,
  GroupCoordinator,
  type GroupState,
  type StoredOffset,
} from "./cluster/group.ts";
import {
  type CommitRecord,
  type GenerationRecord,
  History,
  type OwnershipRecord,
  type ProducedRecord,
} from "./cluster/history.ts";
import { PartitionLog, type PartitionView, type RecordInput } from "./cluster/log.ts";
import { type SendResult, TestProducer } from "./cluster/producer.ts";
import { Random } from "./random.ts";
import type { VirtualClock } from "./virtual-clock.ts";

export type { FakeClient } from "./cluster/client.ts";
export { SimulatedKafkaError } from "./cluster/errors.ts";
export type { Assignor, DelayRange, GroupState, StoredOffset } from "./cluster/group.ts";
export type { CommitRecord, GenerationRecord, OwnershipRecord, ProducedRecord } from "./cluster/history.ts";
export type { PartitionTransaction, PartitionView, RecordInput, TransactionState } from "./cluster/log.ts";
export type { SendResult, TestProducer } from "./cluster/producer.ts";

/** How to build a cluster; every timing is an inclusive range of virtual milliseconds. */
export interface FakeClusterOptions {
  /** All of the cluster's timers are created on `clock.clock("cluster")`. */
  readonly clock: VirtualClock;
  /** A seed, or a generator the driver forked for the cluster. */
  readonly seed: number | Random;
  /** Default "simulation". */
  readonly groupId?: string;
  /** Brokers, numbered 1..nodes; default 1. */
  readonly nodes?: number;
  /** The broker's `offset.metadata.max.bytes`; default 4096. */
  readonly offsetMetadataMaxBytes?: number;
  /** The group protocol the members speak; default "classic". */
  readonly groupProtocol?: "classic" | "consumer";
  /** Classic protocol: default "roundrobin" (the consumer protocol's assignor is sticky). */
  readonly assignor?: Assignor;
  /** Consumer protocol: the heartbeat interval the coordinator asks for; default [5, 50]. */
  readonly heartbeatIntervalMs?: DelayRange;
  /** Consumer protocol: the broker's session timeout; default 400. */
  readonly sessionTimeoutMs?: number;
  /** Consumer protocol: the rebalance timeout members send; default 60000. */
  readonly rebalanceTimeoutMs?: number;
  /** Latency of every answer and of `joined`; default [0, 3]. */
  readonly latencyMs?: DelayRange;
  /** From a rebalance's start to a Stable member hearing `rebalancing()`; default [0, 2]. */
  readonly rebalancingDelayMs?: DelayRange;
  /** From a rebalance's start to the new generation (the join phase); default [5, 50]. */
  readonly rebalanceDelayMs?: DelayRange;
  /** From the new generation to the assignments (the sync phase); default [1, 5]. */
  readonly syncDelayMs?: DelayRange;
  /** From being fenced to the member's heartbeat noticing it; default [5, 50]. */
  readonly heartbeatMs?: DelayRange;
  /** Classic protocol: from a member's first assignment to its join() resolving; default [0, 0]. */
  readonly joinAnswerMs?: DelayRange;
  /** Record timestamps are this plus virtual time; default 1_700_000_000_000n. */
  readonly baseTimestamp?: bigint;
  /** Keep a text trace of events (`trace`); default false, as it costs time in long runs. */
  readonly trace?: boolean;
}

/** A partition's committed offset. */
export interface CommittedEntry extends StoredOffset {
  readonly topic: string;
  readonly partition: number;
}

/** The fake cluster: builder, faults and inspection. */
export class FakeCluster {
  readonly groupId: string;
  /** Number of brokers (node ids 1..nodes). */
  readonly nodes: number;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #history: History;
  readonly #group: GroupCoordinator;
  readonly #consumerGroup: ConsumerGroupCoordinator | undefined;
  readonly #faults: Faults = {
    coordinatorDownUntil: 0,
    fetchErrorsUntil: 0,
    commitRequestFailures: 0,
    commitPartitionFailures: 0,
    produceFailures: 0,
    joinRefused: new Set(),
  };
  readonly #topics = new Map<string, PartitionLog[]>();
  readonly #clients = new Map<string, FakeClient>();
  readonly #producers = new Map<bigint, TestProducer>();
  readonly #ctx: ClusterContext;
  readonly #baseTimestamp: bigint;
  /** Null-key produce spreads over partitions in turn. */
  #nextPartition = 0;

  constructor(options: FakeClusterOptions) {
    this.groupId = options.groupId ?? "simulation";
    this.nodes = options.nodes ?? 1;
    if (!Number.isInteger(this.nodes) || this.nodes < 1) throw new RangeError(`nodes must be >= 1, got ${this.nodes}`);
    const clock = options.clock.clock("cluster");
    const random = typeof options.seed === "number" ? new Random(options.seed) : options.seed;
    this.#clock = clock;
    this.#random = random;
    this.#baseTimestamp = options.baseTimestamp ?? 1_700_000_000_000n;
    const history = new History(options.trace ?? false, () => clock.now());
    this.#history = history;
    const timings: Timings = {
      latencyMs: options.latencyMs ?? [0, 3],
      rebalancingDelayMs: options.rebalancingDelayMs ?? [0, 2],
      heartbeatMs: options.heartbeatMs ?? [5, 50],
      joinAnswerMs: options.joinAnswerMs ?? [0, 0],
    };
    this.#group = new GroupCoordinator({
      clock,
      random,
      history,
      assignor: options.assignor ?? "roundrobin",
      rebalanceDelayMs: options.rebalanceDelayMs ?? [5, 50],
      syncDelayMs: options.syncDelayMs ?? [1, 5],
      partitionCount: (topic) => this.#topics.get(topic)?.length ?? 0,
      coordinatorBackAt: () => this.#faults.coordinatorDownUntil,
    });
    if (options.groupProtocol === "consumer") {
      this.#consumerGroup = new ConsumerGroupCoordinator({
        clock,
        random,
        history,
        heartbeatIntervalMs: options.heartbeatIntervalMs ?? [5, 50],
        sessionTimeoutMs: options.sessionTimeoutMs ?? 400,
        partitionCount: (topic) => this.#topics.get(topic)?.length ?? 0,
        coordinatorBackAt: () => this.#faults.coordinatorDownUntil,
      });
    }
    const virtual = options.clock;
    this.#ctx = {
      clock,
      random,
      history,
      group: this.#group,
      consumerGroup: this.#consumerGroup,
      rebalanceTimeoutMs: options.rebalanceTimeoutMs ?? 60_000,
      memberClock: (name) => virtual.clock(name),
      faults: this.#faults,
      timings,
      offsetMetadataMaxBytes: options.offsetMetadataMaxBytes ?? 4096,
      partitions: (topic) => this.#topics.get(topic),
      logForProduce: (topic, key) => this.#logForProduce(topic, key),
      timestamp: () => this.#timestamp(),
      delay: ([min, max]) => random.int(min, max),
    };
  }

  // ---- building -------------------------------------------------------------------------------

  /** Creates a topic; its logs start at `startOffset` (default 0, e.g. 2n ** 60n to test big offsets). */
  createTopic(name: string, partitions: number, options: { readonly startOffset?: bigint } = {}): void {
    if (this.#topics.has(name)) throw new Error(`topic ${name} already exists`);
    if (!Number.isInteger(partitions) || partitions < 1) {
      throw new RangeError(`partitions must be >= 1, got ${partitions}`);
    }
    const logs: PartitionLog[] = [];
    this.#topics.set(name, logs);
    this.#appendLogs(name, partitions, options.startOffset ?? 0n);
    this.#history.log(() => `topic ${name} created with ${partitions} partition(s)`);
    // Classic groups are left alone (a topic created again is noticed by the members, as growth is).
    this.#consumerGroup?.topicChanged(name);
  }

  /**
   * Deletes a topic (as `kafka-topics --delete`): its logs are gone (fetches of its partitions get
   * UNKNOWN_TOPIC_OR_PARTITION, metadata leaves it out, commits of it are refused), and so are the
   * group's committed offsets of it. The consumer group's target assignment follows; classic groups
   * are left alone, as Kafka's coordinator leaves them: members that read the partition counts
   * (kafka.metadataMaxAgeMs) rejoin without it. It may be created again: new, empty logs.
   */
  deleteTopic(name: string): void {
    const logs = this.#topics.get(name);
    if (logs === undefined) throw new Error(`no topic ${name}`);
    this.#topics.delete(name);
    this.#group.deleteOffsets(name);
    this.#history.log(() => `topic ${name} deleted`);
    this.#consumerGroup?.topicChanged(name);
    // Long polls waiting on its logs answer now, with the error (as a broker stopping the replicas).
    for (const log of logs) log.notify();
  }

  /**
   * Adds `count` partitions to a topic (as `kafka-topics --alter --partitions`): empty logs, led
   * like the others; the consumer group's target assignment follows.
   */
  addPartitions(name: string, count: number): void {
    if (!this.#topics.has(name)) throw new Error(`no topic ${name}`);
    const logs = this.#appendLogs(name, count, 0n);
    this.#history.log(() => `topic ${name} grew to ${logs.length} partition(s)`);
    // Classic groups are left alone, as Kafka's coordinator leaves them: a member that reads the
    // new count (kafka.metadataMaxAgeMs) rejoins, and the rebalance assigns the new partitions.
    this.#consumerGroup?.topicChanged(name);
  }

  /** Appends `count` empty logs to a topic's, led in turn by the nodes (offset by the topic's index). */
  #appendLogs(name: string, count: number, startOffset: bigint): PartitionLog[] {
    const logs = this.#topics.get(name)!;
    const index = [...this.#topics.keys()].indexOf(name);
    for (let i = 0; i < count; i++) {
      const partition = logs.length;
      logs.push(new PartitionLog(name, partition, 1 + ((index + partition) % this.nodes), startOffset));
    }
    return logs;
  }

  /** The producer with this id (the same object for the same id). */
  producer(producerId: bigint | number): TestProducer {
    const id = BigInt(producerId);
    let producer = this.#producers.get(id);
    if (producer === undefined) {
      producer = new TestProducer(id, {
        log: (topic, partition) => this.#log(topic, partition),
        timestamp: () => this.#timestamp(),
      });
      this.#producers.set(id, producer);
    }
    return producer;
  }

  /** Appends a non-transactional batch from a non-idempotent producer (producer id -1). */
  append(topic: string, partition: number, records: readonly RecordInput[]): SendResult {
    return this.#log(topic, partition).appendData(-1n, records, this.#timestamp(), false);
  }

  /** Removes records as compaction does (holes stay; batch bounds stay; emptied batches go). */
  compact(topic: string, partition: number, offsets: Iterable<bigint>): void {
    this.#log(topic, partition).compact(offsets);
  }

  /** Moves the log start up (retention / DeleteRecords); fetches below it get offsetOutOfRange. */
  truncateLogStart(topic: string, partition: number, offset: bigint): void {
    this.#log(topic, partition).truncateStart(offset);
  }

  /** A new group member's client; `name` is unique per cluster and names it in every history. */
  client(name: string): FakeClient {
    if (this.#clients.has(name)) throw new Error(`client ${name} already exists`);
    const client = new FakeClient(name, 1000n + BigInt(this.#clients.size), this.#ctx);
    this.#clients.set(name, client);
    return client;
  }

  // ---- faults ---------------------------------------------------------------------------------

  /** commit / committed / join reject with COORDINATOR_NOT_AVAILABLE (retriable) for `ms`. */
  coordinatorOutage(ms: number): void {
    this.#faults.coordinatorDownUntil = Math.max(this.#faults.coordinatorDownUntil, this.#clock.now() + ms);
    this.#history.log(() => `fault: coordinator down for ${ms} ms`);
  }

  /**
   * The next `n` commit requests fail: `"request"` rejects the whole request (REQUEST_TIMED_OUT,
   * retriable, not applied); `"partition"` fails one seeded partition with UNKNOWN_TOPIC_OR_PARTITION.
   */
  failNextCommits(n: number, kind: "request" | "partition"): void {
    if (kind === "request") this.#faults.commitRequestFailures += n;
    else this.#faults.commitPartitionFailures += n;
  }

  /** The next `n` produce calls reject with NOT_ENOUGH_REPLICAS (retriable, nothing appended). */
  failNextProduces(n: number): void {
    this.#faults.produceFailures += n;
  }

  /** Fetches reject as a whole with NETWORK_EXCEPTION (retriable) for `ms`. */
  fetchErrors(ms: number): void {
    this.#faults.fetchErrorsUntil = Math.max(this.#faults.fetchErrorsUntil, this.#clock.now() + ms);
    this.#history.log(() => `fault: fetch errors for ${ms} ms`);
  }

  /** Moves a partition's leadership; fetches to the old node get a retriable error. */
  moveLeader(topic: string, partition: number, node: number): void {
    if (!Number.isInteger(node) || node < 1 || node > this.nodes) throw new RangeError(`no node ${node}`);
    const log = this.#log(topic, partition);
    log.leader = node;
    this.#history.log(() => `fault: ${topic}-${partition} leader -> ${node}`);
    log.notify();
  }

  /** The coordinator drops the member (session timeout); it rejoins as a new member at its next heartbeat. */
  fence(member: string): void {
    this.#history.log(() => `fault: fence ${member}`);
    this.#client(member).onFenced();
  }

  /** `join()` of `member` (of everyone with "*") rejects with SASL_AUTHENTICATION_FAILED while refused. */
  refuseJoins(member: string = "*", refused: boolean = true): void {
    if (refused) this.#faults.joinRefused.add(member);
    else this.#faults.joinRefused.delete(member);
  }

  /** The member's membership fails for good: it leaves the group and hears `failed(error)`. */
  failMember(member: string, error: Error = new Error("group membership failed (simulated)")): void {
    this.#history.log(() => `fault: fail ${member}`);
    this.#client(member).onMembershipFailed(error);
  }

  // ---- inspection -----------------------------------------------------------------------------

  /** The injected faults now: outage ends, and commit and produce failures still to come. */
  get faults(): Readonly<Faults> {
    return this.#faults;
  }

  /** A partition's log, transactions and offsets. */
  log(topic: string, partition: number): PartitionView {
    return this.#log(topic, partition);
  }

  /** Whether the cluster has the partition (its topic may have been deleted). */
  has(topic: string, partition: number): boolean {
    return this.#topics.get(topic)?.[partition] !== undefined;
  }

  /**
   * Whether the group still gives a partition of `topic` to a member (classic: in the last
   * generation; consumer protocol: owned or being given up).
   */
  assigns(topic: string): boolean {
    return this.#consumerGroup?.assigns(topic) ?? this.#group.assigns(topic);
  }

  /** Every topic and its partition count, in creation order. */
  topics(): { readonly name: string; readonly partitions: number }[] {
    return [...this.#topics].map(([name, logs]) => ({ name, partitions: logs.length }));
  }

  get groupState(): GroupState {
    return this.#group.state;
  }

  get generation(): number {
    return this.#group.generation;
  }

  /** The group protocol its members speak. */
  get groupProtocol(): "classic" | "consumer" {
    return this.#consumerGroup === undefined ? "classic" : "consumer";
  }

  /** Consumer protocol: the group epoch (it grows with every membership change). */
  get groupEpoch(): number {
    return this.#consumerGroup?.groupEpoch ?? 0;
  }

  /** Member ids currently in the group, in join order. */
  get memberIds(): string[] {
    return this.#consumerGroup?.memberIds ?? this.#group.memberIds;
  }

  /**
   * Consumer protocol: commits the coordinator accepted from a member that neither owned the
   * partition nor was giving it up. Kafka accepts them; our client must never send one.
   */
  get foreignCommits(): readonly string[] {
    return this.#consumerGroup?.foreignCommits ?? [];
  }

  /** The group's committed offset of a partition, if any. */
  committedOffset(topic: string, partition: number): StoredOffset | undefined {
    return this.#group.committed(topic, partition);
  }

  /** Every committed offset, by topic and partition. */
  committedOffsets(): CommittedEntry[] {
    const found: CommittedEntry[] = [];
    for (const [topic, logs] of this.#topics) {
      for (const { partition } of logs) {
        const stored = this.#group.committed(topic, partition);
        if (stored !== undefined) found.push({ topic, partition, ...stored });
      }
    }
    return found;
  }

  /** Every accepted partition commit, in the order applied (Kafka does not check ownership; the checker does). */
  get commits(): readonly CommitRecord[] {
    return this.#history.commits;
  }

  get generations(): readonly GenerationRecord[] {
    return this.#history.generations;
  }

  /** Partition ownership intervals as each member was told them. */
  get ownership(): readonly OwnershipRecord[] {
    return this.#history.ownership;
  }

  /** Whether the coordinator dropped `member` (fenced, session expired, failed) at or after `since`. */
  droppedSince(member: string, since: number): boolean {
    return this.#history.drops.some((drop) => drop.member === member && drop.at >= since);
  }

  /** When the coordinator dropped `member` (fenced, session expired, failed), in order. */
  dropsOf(member: string): number[] {
    return this.#history.drops.filter((drop) => drop.member === member).map((drop) => drop.at);
  }

  /** Records members produced (dead letters). */
  get produced(): readonly ProducedRecord[] {
    return this.#history.produced;
  }

  /** `produce()` calls after `close()`, over all clients. */
  get producedAfterClose(): number {
    return this.#history.producedAfterClose;
  }

  /** Clients in creation order. */
  get clients(): readonly FakeClient[] {
    return [...this.#clients.values()];
  }

  /** Text events (only with `trace: true`), each prefixed by its virtual time. */
  get trace(): readonly string[] {
    return this.#history.trace;
  }

  #client(name: string): FakeClient {
    const client = this.#clients.get(name);
    if (client === undefined) throw new Error(`no client ${name}`);
    return client;
  }

  #log(topic: string, partition: number): PartitionLog {
    const log = this.#topics.get(topic)?.[partition];
    if (log === undefined) throw new Error(`no partition ${topic}[${partition}]`);
    return log;
  }

  #logForProduce(topic: string, key: Uint8Array | null): PartitionLog {
    if (!this.#topics.has(topic)) this.createTopic(topic, 1);
    const logs = this.#topics.get(topic)!;
    if (logs.length === 1) return logs[0]!;
    const index = key === null ? this.#nextPartition++ % logs.length : fnv1a(key) % logs.length;
    return logs[index]!;
  }

  #timestamp(): bigint {
    return this.#baseTimestamp + BigInt(Math.floor(this.#clock.now()));
  }
}

/** A stable hash of a key for partitioning (any deterministic one will do here). */
function fnv1a(bytes: Uint8Array): number {
  let hash = 0x811c9dc5;
  for (const byte of bytes) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash;
}
