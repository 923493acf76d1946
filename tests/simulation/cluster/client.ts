// One group member's connection to the fake cluster: the `KafkaClient` port our adapter uses.
// Requests take effect when called (in call order, as one connection processes them); answers and group
// events arrive after seeded latencies on the virtual clock, so interleavings vary by seed.
// Classic protocol: the group side is modelled (membership.ts, as the library's client behaves).
// Consumer protocol: the real membership of src/adapters/consumer-protocol/ heartbeats to the
// model coordinator, and commits go out as the real client sends them (commitHeld).
import {
  type OutgoingRecord,
  type PartitionError,
  type PartitionOffset,
  RecordTooLargeError,
} from "../../../src/core/ports/kafka-adapter.ts";
import type {
  CommittedOffset,
  FetchedPartition,
  FetchRequest,
  GroupEvents,
  IsolationLevel,
  KafkaClient,
  ListedOffset,
  PartitionLeader,
} from "../../../src/adapters/group/kafka-client.ts";
import type { TopicPartition } from "../../../src/core/message.ts";
import { commitHeld } from "../../../src/adapters/consumer-protocol/commit.ts";
import { ConsumerMembership } from "../../../src/adapters/consumer-protocol/membership.ts";
import { SimulatedHeartbeats } from "./consumer-heartbeats.ts";
import type { ClusterContext } from "./context.ts";
import {
  clientClosed,
  coordinatorNotAvailable,
  networkError,
  notEnoughReplicas,
  offsetMetadataTooLarge,
  requestTimedOut,
  saslAuthenticationFailed,
  unknownTopicOrPartition,
} from "./errors.ts";
import { evaluateFetch } from "./fetch.ts";
import type { PartitionLog, RecordInput } from "./log.ts";
import { Membership } from "./membership.ts";

type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: Error };

/** A call waiting for its answer: `close()` cancels it and rejects it. */
interface Pending {
  cancel(): void;
  reject(error: Error): void;
}

const encoder = new TextEncoder();

/** A group member's client of the fake cluster. */
export class FakeClient implements KafkaClient {
  /** The name histories use for this client (stable across a fenced member's rejoin). */
  readonly name: string;
  /** Whether `produce()` was ever called before `close()`. */
  producerCreated = false;
  /** Whether `close()` closed a created producer. */
  producerClosed = false;
  /** Calls to `produce()` after `close()`: each one a violation. */
  producedAfterClose = 0;
  readonly #ctx: ClusterContext;
  readonly #producerId: bigint;
  readonly #membership: Membership;
  /** Consumer protocol: the real membership and its heartbeats (classic: undefined). */
  readonly #consumer: { readonly membership: ConsumerMembership; readonly heartbeats: SimulatedHeartbeats } | undefined;
  #closing: Promise<void> | undefined;
  readonly #pending = new Set<Pending>();
  readonly #leaders = new Map<string, PartitionLeader[]>();
  /** Per connection, the time of its last answer. */
  readonly #channels = new Map<string, number>();

  constructor(name: string, producerId: bigint, ctx: ClusterContext) {
    this.name = name;
    this.#producerId = producerId;
    this.#ctx = ctx;
    this.#membership = new Membership(name, ctx);
    const coordinator = ctx.consumerGroup;
    if (coordinator !== undefined) {
      const heartbeats = new SimulatedHeartbeats(
        name,
        coordinator,
        (outcome) => this.#answer("coordinator", outcome),
        () => this.closed,
      );
      const membership = new ConsumerMembership(heartbeats, {
        instanceId: null,
        rebalanceTimeoutMs: ctx.rebalanceTimeoutMs,
        clock: ctx.memberClock(name),
        memberId: `${name}-uuid`,
      });
      this.#consumer = { membership, heartbeats };
    }
  }

  /** The member id the client sends, or `null` when it has none. */
  get memberId(): string | null {
    return this.#consumer?.membership.memberId ?? this.#membership.memberId;
  }

  /** The generation (consumer protocol: member epoch) the client sends with commits (-1 before its first join response). */
  get generation(): number {
    return this.#consumer?.membership.epoch ?? this.#membership.generation;
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  join(topics: readonly string[], events: GroupEvents): Promise<void> {
    if (this.closed) return Promise.reject(clientClosed());
    const { faults } = this.#ctx;
    if (faults.joinRefused.has("*") || faults.joinRefused.has(this.name)) {
      return this.#answer("coordinator", fail(saslAuthenticationFailed()));
    }
    if (this.#coordinatorDown()) return this.#answer("coordinator", fail(coordinatorNotAvailable()));
    if (this.#consumer !== undefined) return this.#consumer.membership.join(topics, this.#recorded(events));
    return this.#membership.join(topics, events);
  }

  leaders(topics: readonly string[], refresh: boolean): Promise<readonly PartitionLeader[]> {
    if (this.closed) return Promise.reject(clientClosed());
    const found: PartitionLeader[] = [];
    for (const topic of topics) {
      // Without `refresh`, a cached answer may be stale after a leader moved.
      let leaders = refresh ? undefined : this.#leaders.get(topic);
      if (leaders === undefined) {
        const logs = this.#ctx.partitions(topic);
        if (logs === undefined) continue;
        leaders = logs.map((log) => ({ topic, partition: log.partition, node: log.leader }));
        this.#leaders.set(topic, leaders);
      }
      found.push(...leaders);
    }
    return this.#answer("metadata", ok(found));
  }

  partitionCounts(topics: readonly string[]): Promise<ReadonlyMap<string, number>> {
    if (this.closed) return Promise.reject(clientClosed());
    const counts = new Map<string, number>();
    for (const topic of topics) {
      const logs = this.#ctx.partitions(topic);
      if (logs !== undefined) counts.set(topic, logs.length);
    }
    return this.#answer("metadata", ok(counts));
  }

  fetch(request: FetchRequest): Promise<readonly FetchedPartition[]> {
    if (this.closed) return Promise.reject(clientClosed());
    const ctx = this.#ctx;
    if (ctx.faults.fetchErrorsUntil > ctx.clock.now()) {
      return this.#answer(`fetch:${request.node}`, fail(networkError(request.node)));
    }
    const now = evaluateFetch(ctx, request);
    if (now.ready || request.maxWaitMs <= 0) return this.#answer(`fetch:${request.node}`, ok(now.partitions));
    // Long poll: answer when a watched partition changes so that there is data (or an error), else at maxWaitMs.
    return new Promise((resolve, reject) => {
      const logs = new Set<PartitionLog>();
      for (const wanted of request.partitions) {
        const log = ctx.partitions(wanted.topic)?.[wanted.partition];
        if (log !== undefined) logs.add(log);
      }
      const unwatch: (() => void)[] = [];
      const pending: Pending = {
        cancel: () => {
          ctx.clock.clearTimeout(timer);
          for (const stop of unwatch) stop();
        },
        reject,
      };
      const finish = (partitions: readonly FetchedPartition[]) => {
        pending.cancel();
        this.#pending.delete(pending);
        this.#deliver(`fetch:${request.node}`, ok(partitions), resolve, reject);
      };
      const timer = ctx.clock.setTimeout(() => finish(evaluateFetch(ctx, request).partitions), request.maxWaitMs);
      for (const log of logs) {
        unwatch.push(log.watch(() => {
          const later = evaluateFetch(ctx, request);
          if (later.ready) finish(later.partitions);
        }));
      }
      this.#pending.add(pending);
    });
  }

  commit(offsets: readonly PartitionOffset[]): Promise<readonly PartitionError[]> {
    if (this.closed) return Promise.reject(clientClosed());
    const consumer = this.#consumer;
    if (consumer === undefined) return this.#commitNow(offsets, this.memberId, this.generation);
    return commitHeld(consumer.membership, offsets, (held, memberId, epoch) => {
      if (this.closed) return Promise.reject(clientClosed());
      return this.#commitNow(held, memberId, epoch);
    });
  }

  /** The OffsetCommit request, applied now and answered after the coordinator connection's latency. */
  #commitNow(
    offsets: readonly PartitionOffset[],
    memberId: string | null,
    generation: number,
  ): Promise<readonly PartitionError[]> {
    const { faults, group, history, random, offsetMetadataMaxBytes } = this.#ctx;
    if (this.#coordinatorDown()) return this.#answer("coordinator", fail(coordinatorNotAvailable()));
    if (faults.commitRequestFailures > 0) {
      faults.commitRequestFailures--;
      return this.#answer("coordinator", fail(requestTimedOut()));
    }
    const consumerGroup = this.#ctx.consumerGroup;
    const refusal = consumerGroup === undefined
      ? group.validateCommit(memberId, generation)
      : consumerGroup.validateCommit(memberId, generation);
    if (refusal !== null) {
      history.log(() => `${this.name}: commit refused ${refusal.name} (generation ${generation})`);
      return this.#answer("coordinator", fail(refusal));
    }
    let failIndex = -1;
    if (faults.commitPartitionFailures > 0 && offsets.length > 0) {
      faults.commitPartitionFailures--;
      failIndex = random.int(0, offsets.length - 1);
    }
    const refused: PartitionError[] = [];
    offsets.forEach((entry, index) => {
      const { topic, partition, offset, metadata } = entry;
      // Kafka checks topic existence and metadata size per partition, but not ownership.
      if (index === failIndex || this.#ctx.partitions(topic)?.[partition] === undefined) {
        refused.push({ topic, partition, error: unknownTopicOrPartition(topic, partition) });
      } else if (metadata.length > offsetMetadataMaxBytes) {
        refused.push({ topic, partition, error: offsetMetadataTooLarge(metadata.length, offsetMetadataMaxBytes) });
      } else {
        if (consumerGroup !== undefined && !consumerGroup.owns(memberId, topic, partition)) {
          // Kafka accepts it (it checks the epoch only); our client must never send it.
          consumerGroup.foreignCommits.push(
            `${this.name} (${memberId}, epoch ${generation}) committed ${topic}[${partition}] at ${offset} without owning it`,
          );
        }
        group.store(topic, partition, offset, metadata);
        history.commits.push({
          member: this.name,
          memberId: memberId ?? "",
          generation,
          topic,
          partition,
          offset,
          metadata,
          at: this.#ctx.clock.now(),
        });
      }
    });
    history.log(() =>
      `${this.name}: commit ${offsets.map((o) => `${o.topic}-${o.partition}@${o.offset}`).join(",")}` +
      (refused.length > 0
        ? ` refused ${refused.map((r) => `${r.topic}-${r.partition}:${r.error.name}`).join(",")}`
        : "")
    );
    return this.#answer("coordinator", ok(refused));
  }

  committed(partitions: readonly TopicPartition[]): Promise<readonly CommittedOffset[]> {
    if (this.closed) return Promise.reject(clientClosed());
    if (this.#coordinatorDown()) return this.#answer("coordinator", fail(coordinatorNotAvailable()));
    // A deleted topic's partitions (their offsets went with it): retriable, as listOffsets.
    const missing = partitions.find(({ topic, partition }) => this.#ctx.partitions(topic)?.[partition] === undefined);
    if (missing !== undefined) {
      return this.#answer("coordinator", fail(unknownTopicOrPartition(missing.topic, missing.partition)));
    }
    const found = partitions.map(({ topic, partition }): CommittedOffset => {
      const stored = this.#ctx.group.committed(topic, partition);
      return { topic, partition, offset: stored?.offset ?? null, metadata: stored?.metadata ?? null };
    });
    return this.#answer("coordinator", ok(found));
  }

  listOffsets(
    partitions: readonly TopicPartition[],
    at: "earliest" | "latest",
    isolationLevel: IsolationLevel,
  ): Promise<readonly ListedOffset[]> {
    if (this.closed) return Promise.reject(clientClosed());
    const found: ListedOffset[] = [];
    for (const { topic, partition } of partitions) {
      const log = this.#ctx.partitions(topic)?.[partition];
      if (log === undefined) return this.#answer("metadata", fail(unknownTopicOrPartition(topic, partition)));
      const offset = at === "earliest"
        ? log.logStartOffset
        : isolationLevel === "read_committed"
        ? log.lastStableOffset
        : log.highWatermark;
      found.push({ topic, partition, offset });
    }
    return this.#answer("metadata", ok(found));
  }

  produce(records: readonly OutgoingRecord[]): Promise<void> {
    const { faults, history } = this.#ctx;
    if (this.closed) {
      this.producedAfterClose++;
      history.producedAfterClose++;
      history.log(() => `${this.name}: produce after close`);
      return Promise.reject(clientClosed());
    }
    this.producerCreated = true;
    if (faults.produceFailures > 0) {
      faults.produceFailures--;
      return this.#answer("producer", fail(notEnoughReplicas()));
    }
    // As a broker's MESSAGE_TOO_LARGE: a dead letter of the largest values (plus its headers) is over.
    const tooLarge = records.find((record) => recordBytes(record) > MAX_RECORD_BYTES);
    if (tooLarge !== undefined) {
      return this.#answer(
        "producer",
        fail(new RecordTooLargeError(`a record is larger than ${tooLarge.topic} accepts`)),
      );
    }
    // One batch per partition, records in call order (as the producer's accumulator).
    const byLog = new Map<PartitionLog, OutgoingRecord[]>();
    for (const record of records) {
      const log = this.#ctx.logForProduce(record.topic, record.key);
      const list = byLog.get(log);
      if (list === undefined) byLog.set(log, [record]);
      else list.push(record);
    }
    const at = this.#ctx.clock.now();
    for (const [log, list] of byLog) {
      const { firstOffset } = log.appendData(this.#producerId, list.map(toInput), this.#ctx.timestamp(), false);
      list.forEach((record, index) => {
        history.produced.push({
          member: this.name,
          topic: log.topic,
          partition: log.partition,
          offset: firstOffset + BigInt(index),
          record,
          at,
        });
      });
      history.log(() => `${this.name}: produced ${list.length} to ${log.topic}-${log.partition}@${firstOffset}`);
    }
    return this.#answer("producer", ok(undefined));
  }

  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    const { clock, history } = this.#ctx;
    this.producerClosed = this.producerCreated;
    const latency = () =>
      new Promise<void>((resolve) => clock.setTimeout(resolve, this.#ctx.delay(this.#ctx.timings.latencyMs)));
    // Consumer protocol: the membership leaves with its own heartbeat (epoch -1).
    const left = this.#consumer?.membership.leave();
    this.#closing = left === undefined ? latency() : left.then(latency);
    const error = clientClosed();
    for (const pending of this.#pending) {
      pending.cancel();
      pending.reject(error);
    }
    this.#pending.clear();
    history.log(() => `${this.name}: close`);
    if (this.#consumer === undefined) this.#membership.leave(error);
    else history.release(this.name);
    return this.#closing;
  }

  /**
   * Fault entry point (`FakeCluster.fence`): the coordinator drops this member (session timeout).
   * The client notices at its next heartbeat, then rejoins under a new member id.
   */
  onFenced(): void {
    const consumer = this.#consumer;
    if (consumer === undefined) return this.#membership.fenced();
    // The coordinator drops the member; its next heartbeat gets UNKNOWN_MEMBER_ID.
    if (!this.closed) this.#ctx.consumerGroup!.remove(consumer.membership.memberId, "fenced");
  }

  /** Fault entry point (`FakeCluster.failMember`): membership fails for good (`events.failed`). */
  onMembershipFailed(error: Error): void {
    const consumer = this.#consumer;
    if (consumer === undefined) return this.#membership.failed(error);
    if (this.closed) return;
    // Dropped from the group, and its next heartbeat fails for good.
    this.#ctx.consumerGroup!.remove(consumer.membership.memberId, "failed");
    consumer.heartbeats.failNext();
  }

  /** Consumer protocol: group events as they reach the adapter, recorded in the ownership history. */
  #recorded(events: GroupEvents): GroupEvents {
    const { history } = this.#ctx;
    return {
      joined: (assignment) => {
        history.own(this.name, assignment.memberId, assignment.generation, assignment.partitions);
        history.log(() =>
          `${this.name}: owns ${assignment.partitions.map((tp) => `${tp.topic}-${tp.partition}`).join(",")} ` +
          `(epoch ${assignment.generation})`
        );
        events.joined(assignment);
      },
      revoking: (partitions) => {
        history.log(() => `${this.name}: revoking ${partitions.map((tp) => `${tp.topic}-${tp.partition}`).join(",")}`);
        return events.revoking(partitions).finally(() =>
          history.log(() => `${this.name}: released ${partitions.map((tp) => `${tp.topic}-${tp.partition}`).join(",")}`)
        );
      },
      lost: () => {
        history.release(this.name);
        history.log(() => `${this.name}: lost its partitions`);
        events.lost();
      },
      rebalancing: () => events.rebalancing(),
      failed: (error) => {
        history.release(this.name);
        history.log(() => `${this.name}: failed ${error.message}`);
        events.failed(error);
      },
    };
  }

  #coordinatorDown(): boolean {
    return this.#ctx.faults.coordinatorDownUntil > this.#ctx.clock.now();
  }

  /**
   * Settles after the seeded latency unless `close()` comes first. Answers on one `channel` (a
   * connection: the coordinator's, a fetch node's, …) keep their request order, as Kafka's do.
   */
  #deliver<T>(
    channel: string,
    outcome: Outcome<T>,
    resolve: (value: T) => void,
    reject: (error: Error) => void,
  ): void {
    const { clock } = this.#ctx;
    const at = Math.max(this.#channels.get(channel) ?? 0, clock.now() + this.#ctx.delay(this.#ctx.timings.latencyMs));
    this.#channels.set(channel, at);
    const pending: Pending = { cancel: () => clock.clearTimeout(timer), reject };
    const timer = clock.setTimeout(() => {
      this.#pending.delete(pending);
      if (outcome.ok) resolve(outcome.value);
      else reject(outcome.error);
    }, at - clock.now());
    this.#pending.add(pending);
  }

  #answer<T>(channel: string, outcome: Outcome<T>): Promise<T> {
    return new Promise((resolve, reject) => this.#deliver(channel, outcome, resolve, reject));
  }
}

/**
 * The largest record a topic accepts here: below the largest values the writers write (1 MiB), so
 * that about half the dead letters of large values are refused, as `max.message.bytes` refuses
 * them on a broker (10 such refusals in seeds 0..2999 + 200 random).
 */
const MAX_RECORD_BYTES = 500_000;

/** A record's key, value, header names and values, in bytes. */
function recordBytes(record: OutgoingRecord): number {
  let bytes = (record.key?.length ?? 0) + (record.value?.length ?? 0);
  for (const [name, value] of record.headers) bytes += name.length + (value?.length ?? 0);
  return bytes;
}

function ok<T>(value: T): Outcome<T> {
  return { ok: true, value };
}

function fail<T>(error: Error): Outcome<T> {
  return { ok: false, error };
}

function toInput(record: OutgoingRecord): RecordInput {
  const headers: [Uint8Array, Uint8Array | null][] = [];
  for (const [name, value] of record.headers) headers.push([encoder.encode(name), value]);
  return { key: record.key, value: record.value, headers };
}
