// The simulation's invariants, checked as things happen: every handler call against the log (was
// the record visible, is it what was written, may it run now), every commit request against what
// was finished, every step against the consumers' bounds, and the end state. Under the consumer
// protocol also the revoke barrier: a partition runs at one member at a time (unless the earlier
// one was dropped from the group), and a graceful hand-over commits everything its member finished.
import type { PartitionOffset } from "../../src/core/ports/kafka-adapter.ts";
import type { IsolationLevel, KafkaRecord } from "../../src/adapters/group/kafka-client.ts";
import type { ConsumerMessage, HandlerContext, Ordering, TopicPartition } from "../../mod.ts";
import { decodeOffsetMap } from "../../src/core/offset-map.ts";
import { bytesToBinaryString } from "../../src/core/binary-string.ts";
import { type MessageFailedError, PoisonKeyError } from "../../src/core/errors.ts";
import { MAX_FOLLOWERS } from "../../src/core/control-plane/dispatcher.ts";
import type { FakeCluster, PartitionView } from "./fake-cluster.ts";

const decoder = new TextDecoder();

/** What the checker needs to know of the consumers' settings. */
export interface CheckedSettings {
  readonly groupProtocol: "classic" | "consumer";
  readonly ordering: Ordering;
  readonly isolationLevel: IsolationLevel;
  /** With "latest", a group's first commit of a partition may skip what the log held before. */
  readonly startFrom: "earliest" | "latest";
  readonly maxInFlight: number;
  readonly maxUncommittedOffsets: number;
  readonly maxCommitMetadataBytes: number;
  /** A partition's window may pass its limit by one fetch response: at most this many bytes (a first batch more). */
  readonly fetchMaxBytesPerPartition: number;
  readonly maxBufferedBytes: number;
}

/** One handler call, from start to end. */
export interface Call {
  readonly member: string;
  readonly message: ConsumerMessage;
  readonly context: HandlerContext;
  readonly startedAt: number;
  /** Order among the checker's events: several may share one virtual millisecond. */
  readonly seq: number;
  /** The member's assignment epoch of the partition when the call started. */
  readonly epoch: string;
  ended: boolean;
  endedAt?: number;
  /** The handler returned normally (before its thread, if any, was gone). */
  succeeded?: boolean;
}

interface IndexedRecord {
  readonly record: KafkaRecord;
  readonly timestamp: bigint;
  readonly producerId: bigint;
  readonly transactional: boolean;
}

/**
 * Aborting for these reasons abandons an attempt: the consumer no longer waits for it. ThreadGone:
 * the fake worker thread running it was terminated or crashed (a real thread takes its handlers with it).
 */
const ABANDONED = new Set(["PartitionRevokedError", "ConsumerClosedError", "ThreadGone"]);
/** The fewest bytes a record takes in a fetch response (framing), and the most records a batch holds here. */
const MIN_RECORD_BYTES = 20;
const MAX_BATCH_RECORDS = 64;
const MAX_VIOLATIONS = 5;
/**
 * Liveness: how long a partition's blocking offset may stay unfinished at an idle member that owns
 * it while nothing legitimately holds it (see `#stuck`). What may still hold it then is one wait
 * at a time, bounded by the scenario's timings: the client's backoff after an error (fetch retries,
 * committed-offset reads: at most 1 s each), a fetch's long poll (fetchMaxWaitMs, at most 500 ms),
 * a retry's backoff (maxBackoffMs, 200 ms), a worker thread's reload (20 ms), the answers' latencies
 * (a few ms): 1.7 s in a row at worst (seeds 0..2999 saw at most 0.96 s). 2.5 s, so a partition held
 * for ever through a chaos phase of 5 s is still caught.
 */
const STUCK_MS = 2_500;
/**
 * A message being dead-lettered (its failure decided) waits only for its publish: a few ms, and
 * after a publish that failed a backoff of at most maxBackoffMs (200 ms); the injected produce
 * failures hold it until they are used up. Three backoffs (seeds 0..2999 saw at most 128 ms).
 */
const DEAD_LETTER_STUCK_MS = 600;

const tpKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;
const topicOf = (key: string) => key.slice(0, key.lastIndexOf("\u0000"));

export class Checker {
  readonly violations: string[] = [];
  /** Payload bytes of the largest batch written: a response may bring one whole. */
  #largestBatchCost = 0;
  readonly #cluster: FakeCluster;
  /** Most partitions each topic of the scenario had (it creates them before the checker; they may grow). */
  readonly #partitionsOf = new Map<string, number>();
  readonly #settings: CheckedSettings;
  readonly #now: () => number;
  /** Offsets finished for good (handled, skipped or dead-lettered) by anyone, per partition. */
  readonly #finished = new Map<string, Set<bigint>>();
  /**
   * Every record ever written, by partition and offset (compaction and retention do not erase it
   * here; a topic's deletion neither: its messages fetched before may still run, until it is
   * created again).
   */
  readonly #records = new Map<string, Map<bigint, IndexedRecord>>();
  /** Each partition's log as last indexed: a deleted topic's still tells what its records were. */
  readonly #logs = new Map<string, PartitionView>();
  /** Topics deleted and not created again. */
  readonly #gone = new Set<string>();
  /** Dead letters being published, by source topic. */
  readonly #publishing = new Map<string, number>();
  /** Per partition: records below this offset are indexed. */
  readonly #indexedUpTo = new Map<string, bigint>();
  /** Per partition, with startFrom "latest": where the group started; nothing below it is required. */
  readonly #floor = new Map<string, bigint>();
  /** Per partition: every required offset below this was found finished by an earlier commit check. */
  readonly #verifiedUpTo = new Map<string, bigint>();
  /** Live calls per member and slot (offset, key or partition). */
  readonly #running = new Map<string, Map<string, Call[]>>();
  /** Assignment epochs per member: "" for the member as a whole, else per partition. */
  readonly #epochs = new Map<string, Map<string, number>>();
  /**
   * Recent offsets dispatched per member and lane (the last is the latest), for the order check; a
   * chained message given back is taken out again. Cleared on a new assignment epoch.
   */
  readonly #lastStarted = new Map<string, Map<string, bigint[]>>();
  /** Handler calls per partition, live or recent (for the one-member-at-a-time check). */
  readonly #callsOn = new Map<string, Call[]>();
  /** Per member and partition: offsets whose attempt succeeded in the member's current ownership. */
  readonly #succeeded = new Map<string, Map<string, bigint[]>>();
  /** Per member: the partitions being released, and whether anything may have kept their commit from the group. */
  readonly #releases = new Map<string, { partitions: Set<string>; since: number; troubled: string | undefined }>();
  /** When each member heard that it lost its partitions (or its membership failed). */
  /** Poison keys: the last final failure of a message that ran, by member, partition and key. */
  readonly #keyFailedAt = new Map<string, number>();
  /** When each member heard it lost its partitions: virtual time and event order. */
  readonly #lostAt = new Map<string, { readonly at: number; readonly seq: number }[]>();
  /** Liveness: per partition, the lowest offset it requires that nobody finished, and since when. */
  readonly #blocking = new Map<string, { offset: bigint; since: number }>();
  /** Liveness: per member, each partition it owns: its epoch there, and since when nothing held it. */
  readonly #unheld = new Map<string, Map<string, { epoch: string; since: number }>>();
  /** Liveness: per member, its handler calls not ended. */
  readonly #live = new Map<string, Set<Call>>();
  /** Liveness: per member, when its last handler call ended. */
  readonly #lastBusy = new Map<string, number>();
  /** Liveness: messages whose final failure a member reported to dead-letter them, by member, partition and offset. */
  readonly #deadLettering = new Map<string, { readonly epoch: string; readonly at: number }>();
  /** Counts the calls started and losses heard, in order. */
  #seq = 0;
  /** Graceful hand-overs checked (statistics). */
  handovers = 0;
  /** Statistics. */
  calls = 0;
  commitsChecked = 0;

  constructor(cluster: FakeCluster, settings: CheckedSettings, now: () => number) {
    this.#cluster = cluster;
    for (const { name, partitions } of cluster.topics()) this.#partitionsOf.set(name, partitions);
    this.#settings = settings;
    this.#now = now;
  }

  get ok(): boolean {
    return this.violations.length === 0;
  }

  fail(text: string): void {
    if (this.violations.length < MAX_VIOLATIONS) this.violations.push(`t=${this.#now()}ms: ${text}`);
  }

  /** Indexes batches appended since the last call. */
  index(): void {
    for (const { name, partitions } of this.#cluster.topics()) {
      const most = this.#partitionsOf.get(name);
      if (most !== undefined && partitions > most) this.#partitionsOf.set(name, partitions);
      for (let partition = 0; partition < partitions; partition++) {
        const key = tpKey(name, partition);
        const log = this.#cluster.log(name, partition);
        this.#logs.set(key, log);
        let records = this.#records.get(key);
        if (!records) this.#records.set(key, records = new Map());
        const next = this.#indexedUpTo.get(key) ?? 0n;
        if (log.highWatermark <= next) continue;
        for (const batch of log.batches) {
          const last = batch.firstOffset + BigInt(batch.lastOffsetDelta);
          if (last < next || batch.isControl) continue;
          let cost = 0;
          for (const { key, value } of batch.records) cost += (key?.length ?? 0) + (value?.length ?? 0);
          if (cost > this.#largestBatchCost) this.#largestBatchCost = cost;
          for (const record of batch.records) {
            const offset = batch.firstOffset + BigInt(record.offsetDelta);
            if (offset < next) continue;
            records.set(offset, {
              record,
              timestamp: batch.firstTimestamp + BigInt(record.timestampDelta),
              producerId: batch.producerId,
              transactional: batch.isTransactional,
            });
          }
        }
        this.#indexedUpTo.set(key, log.highWatermark);
      }
    }
  }

  /** Whether the record at `offset` is one the consumer may see (now). */
  #visible(log: PartitionView, entry: IndexedRecord, offset: bigint): boolean {
    if (!entry.transactional || this.#settings.isolationLevel === "read_uncommitted") return true;
    const transaction = [...log.transactions].reverse().find((tx) =>
      tx.producerId === entry.producerId && tx.firstOffset <= offset &&
      (tx.markerOffset === null || offset < tx.markerOffset)
    );
    return transaction?.state === "committed";
  }

  // ---- a topic deleted, and maybe created again ----

  /**
   * The topic was deleted: its records need not be finished or committed any more (they are gone,
   * and so are the group's offsets of it). Its messages fetched before may still run: they are
   * checked against what was written, until the topic is created again.
   */
  deleted(topic: string): void {
    this.#gone.add(topic);
    for (const byPartition of this.#succeeded.values()) {
      for (const key of [...byPartition.keys()]) if (topicOf(key) === topic) byPartition.delete(key);
    }
  }

  /**
   * Nothing of the deleted topic's old logs can be finished or committed any more: no handler call
   * of it still runs (one aborted counts for nothing), no dead letter of it is being published, no
   * member is still giving one of its partitions up (a fenced one may not know it yet, and its
   * release commits). Only then may it be created again: the new logs' offsets are the old ones'.
   */
  settled(topic: string): boolean {
    if ((this.#publishing.get(topic) ?? 0) > 0) return false;
    for (const { partitions } of this.#releases.values()) {
      for (const key of partitions) if (topicOf(key) === topic) return false;
    }
    for (const [key, calls] of this.#callsOn) {
      if (topicOf(key) === topic && calls.some((call) => !call.ended && !call.context.signal.aborted)) return false;
    }
    return true;
  }

  /** The topic was created again: new logs from offset 0, whose records are required as any. */
  recreated(topic: string): void {
    this.#gone.delete(topic);
    for (
      const state of [
        this.#finished,
        this.#records,
        this.#logs,
        this.#indexedUpTo,
        this.#floor,
        this.#verifiedUpTo,
        this.#blocking,
      ]
    ) {
      for (const key of [...state.keys()]) if (topicOf(key) === topic) state.delete(key);
    }
    this.index();
  }

  /** Dead letters of `topics` (their source topics) start (`+1`) or end (`-1`) being published. */
  publishing(topics: readonly string[], change: 1 | -1): void {
    for (const topic of topics) this.#publishing.set(topic, (this.#publishing.get(topic) ?? 0) + change);
  }

  // ---- handler calls ----

  started(member: string, message: ConsumerMessage, context: HandlerContext): Call {
    this.calls++;
    const { topic, partition, offset } = message;
    const where = `${member} ${topic}[${partition}]@${offset}`;
    const entry = this.#records.get(tpKey(topic, partition))?.get(offset) ??
      (this.index(), this.#records.get(tpKey(topic, partition))?.get(offset));
    if (entry === undefined) this.fail(`${where}: handler got an offset that holds no data record`);
    else {
      if (!this.#visible(this.#logs.get(tpKey(topic, partition))!, entry, offset)) {
        this.fail(
          `${where}: handler got a record of an aborted or open transaction (${this.#settings.isolationLevel})`,
        );
      }
      const problem = differs(message, entry);
      if (problem) this.fail(`${where}: handler got a record that differs from the log: ${problem}`);
    }
    const call: Call = {
      member,
      message,
      context,
      startedAt: this.#now(),
      seq: this.#seq++,
      epoch: this.#epochOf(member, message),
      ended: false,
    };
    this.#oneMemberAtATime(call, where);
    let live = this.#live.get(member);
    if (!live) this.#live.set(member, live = new Set());
    live.add(call);
    const slots = this.#slots(message);
    let running = this.#running.get(member);
    if (!running) this.#running.set(member, running = new Map());
    for (const slot of slots) {
      const live = (running.get(slot) ?? []).filter((other) => !other.ended && !abandoned(other, call.epoch));
      // The messages of one batch share its context: a key's messages run together in one batch.
      const other = live.find((other) => other.context !== call.context);
      if (other !== undefined) {
        const state = `${
          other.context.signal.aborted ? `aborted: ${(other.context.signal.reason as Error)?.name}` : "not aborted"
        }, started at ${other.startedAt}`;
        this.fail(
          `${where}: started while ${
            slot.startsWith("o")
              ? "another attempt of it"
              : `offset ${other.message.offset} of its ${slot.startsWith("k") ? "key" : "partition"}`
          } still runs (${state}, attempt ${other.context.attempt})`,
        );
      }
      running.set(slot, [...live, call]);
    }
    return call;
  }

  ended(call: Call, succeeded: boolean): void {
    // A fake thread marks its calls ended when it stops: a later return is a dead thread's.
    if (!call.ended) call.succeeded = succeeded;
    call.ended = true;
    call.endedAt = this.#now();
    this.#live.get(call.member)?.delete(call);
    this.#lastBusy.set(call.member, call.endedAt);
    // An aborted attempt counts as failed even if its handler returned normally.
    if (succeeded && !call.context.signal.aborted) this.finished(call.message);
  }

  /**
   * The member's engine failed an attempt of `message` as a crash. Exactly one result per attempt:
   * if the worker's handler for that attempt had returned, its result was lost.
   */
  crashReported(member: string, message: ConsumerMessage, attempt: number): void {
    const offsetSlot = this.#slots(message)[0]!;
    const call = this.#running.get(member)?.get(offsetSlot)?.findLast((call) => call.context.attempt === attempt);
    if (call?.succeeded !== true) return;
    this.fail(
      `${member} ${message.topic}[${message.partition}]@${message.offset}: attempt ${attempt} returned in its ` +
        `worker at ${call.endedAt}, yet the engine reported it crashed: a finished result was lost`,
    );
  }

  /** The member's current ownership of the message's partition (see `succeeded`). */
  ownership(member: string, message: ConsumerMessage): string {
    return this.#epochOf(member, message);
  }

  /**
   * The member's engine reported a success of `message`'s attempt, which was not given up on, in
   * the ownership it was dispatched in (a success of an earlier one, e.g. a zombie's after it was
   * fenced, is not this ownership's to commit).
   */
  succeeded(member: string, { topic, partition, offset }: ConsumerMessage, ownership: string): void {
    // A deleted topic's work has nothing left to commit to.
    if (ownership !== this.#epochOf(member, { topic, partition }) || this.#gone.has(topic)) return;
    let byPartition = this.#succeeded.get(member);
    if (!byPartition) this.#succeeded.set(member, byPartition = new Map());
    const key = tpKey(topic, partition);
    let offsets = byPartition.get(key);
    if (!offsets) byPartition.set(key, offsets = []);
    offsets.push(offset);
  }

  /**
   * Consumer protocol: when a member starts a call on a partition, no other member still runs one
   * there (neither ended nor aborted), unless the coordinator dropped one of the two (fenced,
   * session expired, revocation timed out): a zombie until it hears so.
   */
  #oneMemberAtATime(call: Call, where: string): void {
    const key = tpKey(call.message.topic, call.message.partition);
    const calls = (this.#callsOn.get(key) ?? []).filter((other) => !other.ended && !other.context.signal.aborted);
    this.#callsOn.set(key, [...calls, call]);
    if (this.#settings.groupProtocol !== "consumer" || this.#zombie(call)) return;
    for (const other of calls) {
      if (other.member === call.member || this.#zombie(other)) continue;
      this.fail(
        `${where}: started while ${other.member} still runs offset ${other.message.offset} of the partition ` +
          `(started at ${other.startedAt}, not aborted): the partition was handed over before it was released`,
      );
    }
  }

  /**
   * Whether `call` ran at a member the coordinator had dropped and that did not know it yet: it
   * started before the member heard of its last drop (lost partitions, failed membership), in
   * event order (a start and the news can share a virtual millisecond).
   */
  #zombie(call: Call): boolean {
    const drops = this.#cluster.dropsOf(call.member);
    const dropped = drops[drops.length - 1];
    if (dropped === undefined) return false;
    const heard = (this.#lostAt.get(call.member) ?? []).find(({ at }) => at >= dropped);
    return heard === undefined || call.seq < heard.seq;
  }

  // ---- the revoke barrier (consumer protocol) ----

  /** The member starts giving `partitions` up. */
  releasing(member: string, partitions: readonly TopicPartition[]): void {
    const release = this.#releases.get(member) ??
      { partitions: new Set<string>(), since: this.#now(), troubled: undefined };
    for (const { topic, partition } of partitions) release.partitions.add(tpKey(topic, partition));
    this.#releases.set(member, release);
  }

  /** A commit of the member failed as a whole, or for `partitions`. */
  commitFailed(member: string, partitions: readonly TopicPartition[]): void {
    const release = this.#releases.get(member);
    if (release === undefined) return;
    const failed = partitions.find(({ topic, partition }) => release.partitions.has(tpKey(topic, partition)));
    if (failed !== undefined) release.troubled ??= `a commit of ${failed.topic}[${failed.partition}] failed`;
  }

  /** The member lost its partitions (fenced) or its membership failed: its releases prove nothing. */
  lost(member: string): void {
    let lost = this.#lostAt.get(member);
    if (!lost) this.#lostAt.set(member, lost = []);
    lost.push({ at: this.#now(), seq: this.#seq++ });
    const release = this.#releases.get(member);
    if (release !== undefined) release.troubled ??= "it lost its partitions";
    this.#succeeded.delete(member);
  }

  /**
   * The member released `partitions` (the barrier resolved): everything it finished there in this
   * ownership is covered by the group's committed offset or offset map, so the next owner runs none
   * of it again. Unless a commit failed meanwhile, or the member was dropped from the group.
   */
  released(member: string, partitions: readonly TopicPartition[]): void {
    const release = this.#releases.get(member);
    const dropped = this.#cluster.droppedSince(member, release?.since ?? this.#now());
    for (const { topic, partition } of partitions) {
      const key = tpKey(topic, partition);
      release?.partitions.delete(key);
      const succeeded = this.#succeeded.get(member)?.get(key) ?? [];
      this.#succeeded.get(member)?.delete(key);
      if (release?.troubled !== undefined || dropped || this.#gone.has(topic)) continue;
      this.handovers++;
      const committed = this.#cluster.committedOffset(topic, partition);
      const done = committed === undefined ? new Set<bigint>() : new Set(
        decodeOffsetMap(committed.metadata, Number(committed.offset), Number.MAX_SAFE_INTEGER).flatMap((
          [first, last],
        ) => Array.from({ length: last - first + 1 }, (_, i) => BigInt(first + i))),
      );
      for (const offset of succeeded) {
        if ((committed !== undefined && offset < committed.offset) || done.has(offset)) continue;
        this.fail(
          `${member} released ${topic}[${partition}] without committing offset ${offset}, which it finished ` +
            `(the group has ${committed?.offset ?? "nothing"}): the next owner runs it again`,
        );
        break;
      }
    }
    if (release !== undefined && release.partitions.size === 0) this.#releases.delete(member);
  }

  /**
   * Poison keys (`cooldownMs` when on): a message refused because its key is cooling (reported
   * with 0 attempts and a `PoisonKeyError`) is refused within `cooldownMs` of a final failure of a
   * message of that key that ran, at that member and partition. Refusals never open or renew a
   * cooldown (defect 3 of the correctness issue).
   */
  messageFailed(member: string, error: MessageFailedError, cooldownMs: number | undefined): void {
    if (cooldownMs === undefined) return;
    const { topic, partition, offset } = error;
    const key = this.#records.get(tpKey(topic, partition))?.get(offset)?.record.key;
    if (key === undefined || key === null) return;
    const id = `${member} ${tpKey(topic, partition)} ${bytesToBinaryString(key)}`;
    const now = this.#now();
    if (error.attempts > 0) {
      this.#keyFailedAt.set(id, now);
      return;
    }
    if (!(error.cause instanceof PoisonKeyError)) return;
    const failedAt = this.#keyFailedAt.get(id);
    if (failedAt === undefined || now - failedAt >= cooldownMs) {
      this.fail(
        `${member} ${topic}[${partition}]@${offset}: refused as its key cools down at ${now}, but no message of ` +
          `the key that ran failed in the ${cooldownMs} ms before (last at ${failedAt ?? "never"})`,
      );
    }
  }

  /**
   * The member reported the final failure of a message it dead-letters (failurePolicy
   * "deadLetter"): from now on only its publish holds it, which no handler call waits for.
   */
  deadLettering(member: string, { topic, partition, offset }: MessageFailedError): void {
    this.#deadLettering.set(`${member}\u0000${tpKey(topic, partition)}\u0000${offset}`, {
      epoch: this.#epochOf(member, { topic, partition }),
      at: this.#now(),
    });
  }

  /** The message is done for good (handled, skipped or dead-lettered). */
  finished({ topic, partition, offset }: TopicPartition & { readonly offset: bigint }): void {
    const key = tpKey(topic, partition);
    let set = this.#finished.get(key);
    if (!set) this.#finished.set(key, set = new Set());
    set.add(offset);
  }

  /** The member's partitions start a new epoch (a new assignment, not a continuation). */
  newEpoch(member: string, partitions?: readonly TopicPartition[]): void {
    if (partitions === undefined) this.#succeeded.delete(member);
    else for (const { topic, partition } of partitions) this.#succeeded.get(member)?.delete(tpKey(topic, partition));
    let epochs = this.#epochs.get(member);
    if (!epochs) this.#epochs.set(member, epochs = new Map());
    if (partitions === undefined) epochs.set("", (epochs.get("") ?? 0) + 1);
    else {for (const p of partitions) {
        epochs.set(tpKey(p.topic, p.partition), (epochs.get(tpKey(p.topic, p.partition)) ?? 0) + 1);
      }}
    const last = this.#lastStarted.get(member);
    if (!last) return;
    if (partitions === undefined) return void last.clear();
    for (const { topic, partition } of partitions) {
      const prefix = `${tpKey(topic, partition)}\u0000`;
      for (const lane of [...last.keys()]) if (lane.startsWith(prefix)) last.delete(lane);
    }
  }

  #epochOf(member: string, { topic, partition }: TopicPartition): string {
    const epochs = this.#epochs.get(member);
    return `${epochs?.get("") ?? 0}:${epochs?.get(tpKey(topic, partition)) ?? 0}`;
  }

  #slots(message: ConsumerMessage): string[] {
    const base = tpKey(message.topic, message.partition);
    const slots = [`o${base}\u0000${message.offset}`];
    const { ordering } = this.#settings;
    if (ordering === "partition") slots.push(`p${base}`);
    if (ordering === "key" && message.key !== null) slots.push(`k${base}\u0000${decoder.decode(message.key)}`);
    return slots;
  }

  /**
   * The control plane hands `message` to its engine: within one assignment epoch, the messages of
   * a key (or of a partition, in partition order) are dispatched in offset order (retries repeat an
   * offset; a chain's messages given back come again). Checked at dispatch, where the epoch is
   * known: a worker may start a message later.
   */
  dispatched(member: string, message: ConsumerMessage): void {
    const lane = this.#orderLane(message);
    if (lane === undefined) return;
    let last = this.#lastStarted.get(member);
    if (!last) this.#lastStarted.set(member, last = new Map());
    let recent = last.get(lane);
    if (!recent) last.set(lane, recent = []);
    const previous = recent.at(-1);
    if (previous !== undefined && message.offset < previous) {
      this.fail(
        `${member} ${message.topic}[${message.partition}]@${message.offset}: ${this.#settings.ordering} order went back from offset ${previous} within one assignment`,
      );
    }
    recent.push(message.offset);
    if (recent.length > 256) recent.splice(0, recent.length - 256);
  }

  /**
   * A chained message came back without running (a message before it did not succeed): it will be
   * dispatched again, after the one that broke the chain.
   */
  returned(member: string, message: ConsumerMessage): void {
    const lane = this.#orderLane(message);
    const recent = lane === undefined ? undefined : this.#lastStarted.get(member)?.get(lane);
    const at = recent?.lastIndexOf(message.offset) ?? -1;
    if (at >= 0) recent!.splice(at, 1);
  }

  /** The lane whose dispatches must be in offset order, or `undefined` when the message has no order. */
  #orderLane(message: ConsumerMessage): string | undefined {
    const { ordering } = this.#settings;
    if (ordering === "unordered" || (ordering === "key" && message.key === null)) return undefined;
    return `${tpKey(message.topic, message.partition)}\u0000${ordering === "key" ? decoder.decode(message.key!) : ""}`;
  }

  // ---- commits ----

  /**
   * A commit request, checked before the coordinator sees it. Returns the partitions it could not
   * check: their topic was deleted (see `commitAnswered`).
   */
  commitRequested(member: string, offsets: readonly PartitionOffset[]): readonly PartitionOffset[] {
    this.index();
    const unchecked: PartitionOffset[] = [];
    for (const { topic, partition, offset, metadata } of offsets) {
      this.commitsChecked++;
      const where = `${member} commit ${topic}[${partition}] at ${offset}`;
      if (metadata.length > this.#settings.maxCommitMetadataBytes) {
        this.fail(`${where}: metadata of ${metadata.length} bytes exceeds maxCommitMetadataBytes`);
      }
      // A deleted topic's commit is refused (the checks below hold for an existing log).
      if (!this.#cluster.has(topic, partition)) {
        unchecked.push({ topic, partition, offset, metadata });
        continue;
      }
      const log = this.#cluster.log(topic, partition);
      if (this.#settings.isolationLevel === "read_committed" && offset > log.lastStableOffset) {
        this.fail(`${where}: beyond the last stable offset ${log.lastStableOffset} (records may still become visible)`);
      }
      const key = tpKey(topic, partition);
      if (this.#settings.startFrom === "latest" && this.#cluster.committedOffset(topic, partition) === undefined) {
        // Where the group starts on a partition it never committed: anything below is skipped by choice.
        const latest = this.#settings.isolationLevel === "read_committed" ? log.lastStableOffset : log.highWatermark;
        if (offset <= latest && offset > (this.#floor.get(key) ?? 0n)) this.#floor.set(key, offset);
      }
      const floor = this.#floor.get(key);
      if (floor !== undefined && floor > (this.#verifiedUpTo.get(key) ?? 0n)) this.#verifiedUpTo.set(key, floor);
      const from = this.#verifiedUpTo.get(key) ?? 0n;
      const unfinished = this.#unfinished(log, from, offset);
      if (unfinished !== undefined) {
        this.fail(`${where}: passes offset ${unfinished}, which nobody finished`);
      } else if (offset > from) {
        this.#verifiedUpTo.set(key, offset);
      }
      for (const [first, last] of decodeOffsetMap(metadata, Number(offset), Number.MAX_SAFE_INTEGER)) {
        const open = this.#unfinished(log, BigInt(first), BigInt(last) + 1n);
        if (open !== undefined) this.fail(`${where}: its offset map marks ${open} done, which nobody finished`);
      }
    }
    return unchecked;
  }

  /**
   * The answer to a commit: a partition of a deleted topic, which could not be checked, must have
   * been refused (accepted, it landed unchecked on the topic created again).
   */
  commitAnswered(member: string, unchecked: readonly PartitionOffset[], refused: readonly TopicPartition[]): void {
    for (const { topic, partition, offset } of unchecked) {
      if (refused.some((r) => r.topic === topic && r.partition === partition)) continue;
      this.fail(
        `${member} commit ${topic}[${partition}] at ${offset}: asked while its topic was deleted, yet accepted`,
      );
    }
  }

  /** The first record in [from, to) that must be finished and is not. */
  #unfinished(log: PartitionView, from: bigint, to: bigint): bigint | undefined {
    const records = this.#records.get(tpKey(log.topic, log.partition));
    const finished = this.#finished.get(tpKey(log.topic, log.partition));
    if (!records) return undefined;
    const start = from > log.logStartOffset ? from : log.logStartOffset;
    const present = presentOffsets(log);
    for (let offset = start; offset < to; offset++) {
      const entry = records.get(offset);
      if (entry === undefined || !present.has(offset) || !this.#visible(log, entry, offset)) continue;
      if (!finished?.has(offset)) return offset;
    }
    return undefined;
  }

  // ---- bounds and end state ----

  /** After each step: the consumer's limits hold (`limits` when they differ from the scenario's). */
  bounds(
    member: string,
    limits: Pick<CheckedSettings, "maxInFlight" | "maxUncommittedOffsets" | "maxBufferedBytes"> | undefined,
    metrics: {
      readonly totalInFlight: number;
      readonly pauseReason: string | null;
      readonly startPauseReason: string | null;
      readonly partitions: readonly {
        topic: string;
        partition: number;
        uncommittedOffsets: number;
        commitMetadataBytes: number;
        bufferedBytes: number;
        bufferedCount: number;
        blockingOffset: bigint | null;
        queuedCount: number;
        pauseReason: string | null;
      }[];
    },
  ): void {
    this.#stuck(member, metrics);
    const settings = { ...this.#settings, ...limits };
    // Admission stops at the limit; a partition whose offset map is full admits its blocking offset
    // out of turn. Counted over every partition of the topics, not the member's current ones: a lost
    // partition's admitted work stays in the window until it ends (seed 813306332: 51 of 50 in
    // flight in the tick its member, fenced, lost both partitions).
    let partitionCount = 0;
    for (const partitions of this.#partitionsOf.values()) partitionCount += partitions;
    if (metrics.totalInFlight > settings.maxInFlight + partitionCount) {
      this.fail(`${member}: ${metrics.totalInFlight} in flight, maxInFlight is ${settings.maxInFlight}`);
    }
    // A partition stops being fetched at its limit, so it passes it by at most the response that crossed it.
    const overshoot = Math.ceil(settings.fetchMaxBytesPerPartition / MIN_RECORD_BYTES) + MAX_BATCH_RECORDS;
    for (const p of metrics.partitions) {
      if (p.uncommittedOffsets > settings.maxUncommittedOffsets + overshoot) {
        this.fail(
          `${member} ${p.topic}[${p.partition}]: window of ${p.uncommittedOffsets}, maxUncommittedOffsets is ${settings.maxUncommittedOffsets}`,
        );
      }
      // The response that crossed a buffer limit came whole: its payload, or one (large) batch. A
      // partition whose last response was larger than its limits is fetched again while less than
      // that response is left, so it holds at most two responses then. And the messages of a chain
      // given back (a failure before them) wait in the buffer again.
      const response = Math.max(settings.fetchMaxBytesPerPartition, this.#largestBatchCost);
      const givenBack = MAX_FOLLOWERS * this.#largestBatchCost;
      if (
        p.bufferedBytes > Math.max(settings.maxBufferedBytes, response) + response + givenBack ||
        p.bufferedCount > Math.max(settings.maxInFlight, overshoot) + overshoot + MAX_FOLLOWERS
      ) {
        this.fail(
          `${member} ${p.topic}[${p.partition}]: ${p.bufferedCount} messages (${p.bufferedBytes} bytes) buffered, ` +
            `maxBufferedBytes is ${settings.maxBufferedBytes}, maxInFlight ${settings.maxInFlight}`,
        );
      }
      if (p.commitMetadataBytes > settings.maxCommitMetadataBytes) {
        this.fail(`${member} ${p.topic}[${p.partition}]: offset map of ${p.commitMetadataBytes} bytes`);
      }
    }
  }

  /**
   * Liveness, after each step: a partition a member owns does not stay blocked for longer than
   * STUCK_MS while the member is idle and nothing legitimately holds it (a dead letter refused for
   * ever, a retry that never comes, a wake-up lost: the run would still end clean, as the drain
   * member finishes what was left). Blocked: the lowest offset the partition requires (visible,
   * still in the log, above where a "latest" group started) that nobody finished has not moved.
   * The count starts again while any of these legitimately holds it:
   * - the member runs a handler call (a busy engine, a slow or hanging handler, a held thread may
   *   keep the blocking offset waiting): only time after its last call ended counts;
   * - it is closing or stopped (failurePolicy "stop"), it is releasing the partition (revoke
   *   barrier), lost its partitions or got the partition in a new epoch, or the topic is deleted;
   * - its starts wait for the rate limit's tokens or a handler's context.pause() (startPauseReason);
   * - an injected fault is on: a coordinator outage or fetch errors (until they end), commit or
   *   produce failures still to come (dead letters and commits retry through them).
   * A blocking offset the member is dead-lettering (its failure decided) waits for its publish
   * only, not for handlers, tokens or pauses: it may stay for DEAD_LETTER_STUCK_MS after its failure.
   * The poison-key cooldown holds nothing (a refused message goes to the failure policy at once),
   * nor does a handler timeout (the aborted call ends, and is then a retry).
   */
  #stuck(
    member: string,
    metrics: Parameters<Checker["bounds"]>[2],
  ): void {
    const now = this.#now();
    const live = this.#live.get(member);
    // A fake thread marks its calls ended when it stops (without `ended`).
    for (const call of live ?? []) {
      if (!call.ended) continue;
      live!.delete(call);
      this.#lastBusy.set(member, Math.max(this.#lastBusy.get(member) ?? 0, call.endedAt ?? now));
    }
    const faults = this.#cluster.faults;
    const held = metrics.pauseReason === "closing" || metrics.pauseReason === "failed" ||
      faults.commitRequestFailures > 0 || faults.commitPartitionFailures > 0 || faults.produceFailures > 0;
    const heldUntil = Math.max(
      faults.coordinatorDownUntil,
      faults.fetchErrorsUntil,
      this.#lostAt.get(member)?.at(-1)?.at ?? 0,
    );
    const busy = (live?.size ?? 0) > 0 || metrics.startPauseReason !== null;
    const before = this.#unheld.get(member);
    const owned = new Map<string, { epoch: string; since: number }>();
    this.#unheld.set(member, owned);
    for (const p of metrics.partitions) {
      const key = tpKey(p.topic, p.partition);
      const epoch = this.#epochOf(member, p);
      const previous = before?.get(key);
      const entry = previous?.epoch === epoch ? previous : { epoch, since: now };
      owned.set(key, entry);
      const blocking = this.#blockingOffset(p.topic, p.partition);
      if (held || blocking === undefined || this.#releases.get(member)?.partitions.has(key) === true) {
        entry.since = now;
        continue;
      }
      // A dead letter being published waits for no handler, token or pause: only since its failure counts.
      const decided = this.#deadLettering.get(`${member}\u0000${key}\u0000${blocking.offset}`);
      if (decided?.epoch === epoch) entry.since = Math.max(entry.since, heldUntil, blocking.since, decided.at);
      else if (busy) {
        entry.since = now;
        continue;
      } else entry.since = Math.max(entry.since, heldUntil, blocking.since, this.#lastBusy.get(member) ?? 0);
      if (now - entry.since <= (decided?.epoch === epoch ? DEAD_LETTER_STUCK_MS : STUCK_MS)) continue;
      const committed = this.#cluster.committedOffset(p.topic, p.partition)?.offset;
      const doing = decided?.epoch === epoch
        ? `dead-letters it since its failure at ${Math.round(decided.at)}, no fault or rebalance holds it`
        : "runs no handler, no fault, pause or rebalance holds it";
      this.fail(
        `${member} ${p.topic}[${p.partition}]: stuck at offset ${blocking.offset} for ` +
          `${Math.round(now - entry.since)} ms (since ${Math.round(entry.since)}): the member owns the ` +
          `partition and ${doing}, yet the offset stays unfinished (the log ends at ${blocking.end}, the ` +
          `group committed ${committed ?? "nothing"}; the member's blocking offset is ${p.blockingOffset}, ` +
          `${p.queuedCount} queued, ${p.bufferedCount} buffered, paused: ${p.pauseReason ?? "no"})`,
      );
      entry.since = now; // once
    }
  }

  /**
   * The lowest offset of the partition's log that it requires and nobody finished, and since when
   * it is the lowest; `undefined` when there is none (or its topic is deleted, or a "latest" group
   * has not yet shown where it starts). It only moves up (offsets below the last stable offset do
   * not change visibility), so it is found from where it was.
   */
  #blockingOffset(topic: string, partition: number): { offset: bigint; since: number; end: bigint } | undefined {
    if (this.#gone.has(topic) || !this.#cluster.has(topic, partition)) return undefined;
    const key = tpKey(topic, partition);
    const floor = this.#floor.get(key);
    if (this.#settings.startFrom === "latest" && floor === undefined) return undefined;
    const log = this.#cluster.log(topic, partition);
    const end = this.#settings.isolationLevel === "read_committed" ? log.lastStableOffset : log.highWatermark;
    const records = this.#records.get(key);
    const finished = this.#finished.get(key);
    let cursor = this.#blocking.get(key);
    let offset = cursor?.offset ?? 0n;
    if (log.logStartOffset > offset) offset = log.logStartOffset;
    if (floor !== undefined && floor > offset) offset = floor;
    for (; offset < end; offset++) {
      if (finished?.has(offset)) continue;
      const entry = records?.get(offset);
      if (entry === undefined || !this.#visible(log, entry, offset)) continue;
      // Where it stopped before was in the log.
      if (cursor?.offset === offset || inLog(log, offset)) break;
    }
    if (offset >= end) return void this.#blocking.set(key, { offset, since: this.#now() });
    if (cursor?.offset !== offset) this.#blocking.set(key, cursor = { offset, since: this.#now() });
    return { offset, since: cursor.since, end };
  }

  /** At the end: every visible record of the log was finished, and the group committed to the end. */
  complete(): void {
    this.index();
    for (const { name, partitions } of this.#cluster.topics()) {
      if (name.endsWith(".dlq")) continue;
      for (let partition = 0; partition < partitions; partition++) {
        const log = this.#cluster.log(name, partition);
        const end = this.#settings.isolationLevel === "read_committed" ? log.lastStableOffset : log.highWatermark;
        const committed = this.#cluster.committedOffset(name, partition)?.offset;
        if (committed === undefined || committed < end) {
          this.fail(`${name}[${partition}]: the group committed ${committed ?? "nothing"}, the log ends at ${end}`);
        }
        const unfinished = this.#unfinished(log, this.#floor.get(tpKey(name, partition)) ?? 0n, end);
        if (unfinished !== undefined) this.fail(`${name}[${partition}]: offset ${unfinished} was never finished`);
      }
    }
  }
}

/**
 * Whether the consumer no longer waits for `call`: aborted for a reason that abandons it, or
 * aborted at all when it belongs to an earlier assignment epoch (whose revoke grace has ended:
 * the consumer starts a returning partition only after that).
 */
function abandoned(call: Call, epoch: string): boolean {
  const signal = call.context.signal;
  if (!signal.aborted) return false;
  return call.epoch !== epoch || ABANDONED.has((signal.reason as Error | undefined)?.name ?? "");
}

/** Offsets still in the log (compaction removes some). */
function presentOffsets(log: PartitionView): Set<bigint> {
  const present = new Set<bigint>();
  for (const batch of log.batches) {
    if (batch.isControl) continue;
    for (const record of batch.records) present.add(batch.firstOffset + BigInt(record.offsetDelta));
  }
  return present;
}

/** Whether the log still holds the data record at `offset` (compaction removes some). */
function inLog(log: PartitionView, offset: bigint): boolean {
  for (const batch of log.batches) {
    if (batch.isControl || offset < batch.firstOffset || offset > batch.firstOffset + BigInt(batch.lastOffsetDelta)) {
      continue;
    }
    return batch.records.some((record) => batch.firstOffset + BigInt(record.offsetDelta) === offset);
  }
  return false;
}

/** How a delivered message differs from the record in the log, if it does. */
function differs(message: ConsumerMessage, { record, timestamp }: IndexedRecord): string | undefined {
  if (!sameBytes(message.key, record.key)) return `key ${show(message.key)} instead of ${show(record.key)}`;
  if (!sameBytes(message.value, record.value)) {
    return `value of ${show(message.value)} instead of ${show(record.value)}`;
  }
  if (message.timestamp !== Number(timestamp)) return `timestamp ${message.timestamp} instead of ${timestamp}`;
  const list = message.headerList ?? [];
  if (list.length !== record.headers.length) {
    return `${list.length} headers in the list instead of ${record.headers.length}`;
  }
  for (let i = 0; i < list.length; i++) {
    const [name, value] = record.headers[i]!;
    if (list[i]![0] !== (name === null ? "" : decoder.decode(name)) || !sameBytes(list[i]![1], value)) {
      return `header ${i} of the list differs`;
    }
  }
  const expected = new Map<string, Uint8Array | null>();
  for (const [name, value] of record.headers) expected.set(name === null ? "" : decoder.decode(name), value);
  if (expected.size !== message.headers.size) return `${message.headers.size} headers instead of ${expected.size}`;
  for (const [name, value] of expected) {
    if (!message.headers.has(name) || !sameBytes(message.headers.get(name)!, value)) return `header ${name} differs`;
  }
  return undefined;
}

function sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

function show(bytes: Uint8Array | null): string {
  return bytes === null ? "null" : `${bytes.byteLength} bytes`;
}
