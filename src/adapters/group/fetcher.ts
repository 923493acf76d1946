import { type Clock, type Timer } from "../../core/clock.ts";
import type { ConsumerMessage, TopicPartition } from "../../core/message.ts";
import { PartitionMap } from "../../core/partition-map.ts";
import { backoffMs } from "../../core/retry-policy.ts";
import type { PartitionPosition } from "../../core/ports/kafka-adapter.ts";
import { toError } from "../../core/thrown.ts";
import {
  type FetchedPartition,
  type FetchPartitionRequest,
  type IsolationLevel,
  isRetriable,
  type KafkaClient,
  type RecordBatch,
} from "./kafka-client.ts";
import { decodePartition } from "./records.ts";

const RETRY_MIN_MS = 100;
/**
 * Shortest wait of a fetch while some partition is paused: one request is in flight per broker, so
 * a long poll on idle partitions would hold back a paused partition that resumes meanwhile. A
 * partition paused for longer lets the poll wait as long (see #waitMs).
 */
const WAIT_WHILE_PAUSED_MS = 10;
/**
 * At most this long between tries while a broker is gone: each try asks for the leaders again, so
 * this bounds how late a partition follows its new leader. (Kafka's own clients back off at most
 * 1 s too: reconnect.backoff.max.ms, retry.backoff.max.ms.)
 */
const RETRY_MAX_MS = 1_000;
/**
 * Never ask a partition for less than this (unless `maxBytesPerPartition` is smaller): with many
 * partitions their shares would be tiny, and the broker stops filling a response at `maxBytes` anyway.
 */
const MIN_ASK_BYTES = 64 * 1024;
/**
 * About this many records per response (1 MiB of 100-byte ones), shared by the request's
 * partitions and asked in bytes by each one's own record size, within the byte limits; the
 * request's own limit is their sum. Decoding and
 * handing over a response keeps the event loop, so small records come about this many at a time
 * however large the byte limits (4 MiB of 100-byte records held it for 100-180 ms and read 30%
 * slower), while large ones come up to the byte limits (10 KB records: 1 MiB asks instead of a
 * share of 1 MiB, four times fewer round trips, 1.4-1.8 times the rate).
 */
export const RECORDS_PER_RESPONSE: number = 10_000;
/** A partition's bytes per record (batch overhead included) until its first records came: small ones. */
const ASSUMED_RECORD_BYTES = 100;

/** How the fetcher fetches. */
export interface FetcherSettings {
  readonly startFrom: "earliest" | "latest";
  readonly isolationLevel: IsolationLevel;
  readonly maxWaitMs: number;
  readonly maxBytes: number;
  readonly maxBytesPerPartition: number;
  readonly clock: Clock;
}

/** Where the fetcher's results go. */
export interface FetcherSink {
  /** Fetched messages of owned partitions, in offset order per partition. */
  messages(batch: ConsumerMessage[]): void;
  /**
   * The log no longer has the partition's position and starting over moved it backwards (the
   * log was truncated or recreated): the partition starts a new assignment at `offset`.
   */
  restart(partition: TopicPartition, offset: bigint): void;
  /** Fetching cannot go on (e.g. not authorized). */
  failed(error: Error): void;
}

/** One partition being fetched, for one assignment: a revoked and returning partition is a new object. */
interface Fetching extends TopicPartition {
  /** Next offset to fetch. Everything below it was delivered. */
  position: bigint;
  paused: boolean;
  /** When its current pause began (while paused). */
  pausedAt: number;
  /** Part of a fetch request in flight. */
  requested: boolean;
  /** Bytes per record on the wire (batch overhead included), as its last response with records had them. */
  recordBytes: number;
}

/**
 * Fetches the owned partitions from their leaders (one request in flight per broker) and hands
 * each response over whole, as it arrives: buffering and fair admission are the control plane's
 * (it pauses a partition whose buffer is full). The positions are its own, per assignment: a
 * partition that comes back starts from what the group committed, never from where this member's
 * earlier ownership had fetched to. Paused partitions are left out of requests; the
 * whole-consumer pause stops fetching.
 */
export class Fetcher {
  readonly #client: KafkaClient;
  readonly #settings: FetcherSettings;
  readonly #sink: FetcherSink;
  readonly #partitions = new PartitionMap<Fetching>();
  readonly #nodesInFlight = new Set<number>();
  #paused = false;
  #closed = false;
  #roundQueued = false;
  /** How many times a request said leaders moved (or one was unknown). */
  #leaderNews = 0;
  /** `#leaderNews` when the leaders in `#leaders` were asked for. */
  #leadersAskedAt = 0;
  /** The broker leading each partition, as last asked. */
  #leaders = new PartitionMap<number>();
  #failures = 0;
  /** Rounds sent so far: each starts its partition list at another place. */
  #rounds = 0;
  #retryTimer: Timer | undefined;

  constructor(client: KafkaClient, settings: FetcherSettings, sink: FetcherSink) {
    this.#client = client;
    this.#settings = settings;
    this.#sink = sink;
  }

  /** Starts fetching a newly owned partition at `offset`. */
  add({ topic, partition }: TopicPartition, offset: bigint): void {
    this.#partitions.set(topic, partition, {
      topic,
      partition,
      position: offset,
      paused: false,
      pausedAt: 0,
      requested: false,
      recordBytes: ASSUMED_RECORD_BYTES,
    });
    this.#kick();
  }

  /** Stops fetching a partition no longer owned. */
  remove({ topic, partition }: TopicPartition): void {
    this.#partitions.delete(topic, partition);
  }

  pause(partitions?: readonly TopicPartition[]): void {
    if (partitions === undefined) {
      this.#paused = true;
      return;
    }
    const now = this.#settings.clock.now();
    for (const { topic, partition } of partitions) {
      const state = this.#partitions.get(topic, partition);
      if (state === undefined || state.paused) continue;
      state.paused = true;
      state.pausedAt = now;
    }
  }

  resume(partitions?: readonly TopicPartition[]): void {
    if (partitions === undefined) {
      this.#paused = false;
    } else {
      for (const { topic, partition } of partitions) {
        const state = this.#partitions.get(topic, partition);
        if (state) state.paused = false;
      }
    }
    this.#kick();
  }

  /** Next fetch offset of each partition (everything below it was delivered). */
  positions(): PartitionPosition[] {
    const positions: PartitionPosition[] = [];
    for (const { topic, partition, position } of this.#partitions.values()) {
      positions.push({ topic, partition, position });
    }
    return positions;
  }

  close(): void {
    this.#closed = true;
    this.#settings.clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
  }

  // ---- fetching ----

  /** Runs a fetch round soon (once per tick, however many reasons there are). */
  #kick(): void {
    if (this.#roundQueued || this.#closed) return;
    this.#roundQueued = true;
    queueMicrotask(() => {
      this.#roundQueued = false;
      void this.#round();
    });
  }

  #anyFetchable(): boolean {
    for (const state of this.#partitions.values()) if (this.#fetchable(state)) return true;
    return false;
  }

  #fetchable(state: Fetching): boolean {
    return !state.paused && !state.requested;
  }

  /** Sends one request to every leader that has fetchable partitions and none in flight. */
  async #round(): Promise<void> {
    if (this.#paused || this.#closed || this.#retryTimer !== undefined) return;
    if (!this.#anyFetchable()) return;
    // Leaders are asked for again only when a request said they moved (or one is unknown): a
    // metadata round trip per fetch would cost as much as the fetch for small responses.
    const stale = this.#leaderNews !== this.#leadersAskedAt;
    if (stale || this.#leaderUnknown()) {
      // News that arrives while this lookup is under way is not answered by it: counted, not cleared.
      const asked = this.#leaderNews;
      try {
        const leaders = new PartitionMap<number>();
        for (const { topic, partition, node } of await this.#client.leaders(this.#fetchedTopics(), stale)) {
          leaders.set(topic, partition, node);
        }
        // Another round's lookup, asked after this one, may have answered first.
        if (asked >= this.#leadersAskedAt) {
          this.#leaders = leaders;
          this.#leadersAskedAt = asked;
        }
      } catch (error) {
        return this.#failedRequest(error);
      }
      // News came while asking (a partition moved): this answer may be older than it, and the
      // round the news scheduled (after its back-off) asks again.
      if (this.#paused || this.#closed || this.#leaderNews !== asked) return;
      // A partition without a leader (an election under way): the others are fetched now, and
      // the cluster is asked again after a pause (nothing else might start another round).
      if (this.#leaderUnknown()) {
        this.#leaderNews++;
        this.#backOff();
      }
    }
    const byNode = new Map<number, Fetching[]>();
    for (const state of this.#partitions.values()) {
      const node = this.#leaders.get(state.topic, state.partition);
      if (node === undefined || !this.#fetchable(state) || this.#nodesInFlight.has(node)) continue;
      let states = byNode.get(node);
      if (!states) byNode.set(node, states = []);
      states.push(state);
    }
    for (const [node, states] of byNode) void this.#fetchFrom(node, rotate(states, this.#rounds));
    this.#rounds++;
  }

  /**
   * How long the next request may wait for data. While partitions are paused, as long as the
   * shortest of their pauses so far (at least WAIT_WHILE_PAUSED_MS): a paused partition resumes
   * with most of its buffer left (below 80% of its limits), about four times as much work as its
   * pause took to drain, so the request in flight is answered before it runs dry. Caught-up
   * partitions are then polled a few times per pause (the wait doubling), not every 10 ms.
   */
  #waitMs(): number {
    const { maxWaitMs, clock } = this.#settings;
    let wait = maxWaitMs;
    let now: number | undefined;
    for (const state of this.#partitions.values()) {
      if (state.paused) wait = Math.min(wait, Math.max(WAIT_WHILE_PAUSED_MS, (now ??= clock.now()) - state.pausedAt));
    }
    return wait;
  }

  /**
   * The topics of the partitions fetched: leaders are asked for these only, so a subscribed topic
   * deleted, and taken away by the group, costs no lookup (the client retries those for seconds).
   */
  #fetchedTopics(): string[] {
    const topics = new Set<string>();
    for (const state of this.#partitions.values()) topics.add(state.topic);
    return [...topics];
  }

  #leaderUnknown(): boolean {
    for (const state of this.#partitions.values()) {
      if (this.#fetchable(state) && !this.#leaders.has(state.topic, state.partition)) return true;
    }
    return false;
  }

  async #fetchFrom(node: number, states: readonly Fetching[]): Promise<void> {
    const { isolationLevel, maxBytes, maxBytesPerPartition } = this.#settings;
    const share = Math.floor(maxBytes / states.length);
    const records = Math.ceil(RECORDS_PER_RESPONSE / states.length);
    const requested = new PartitionMap<{ state: Fetching; offset: bigint }>();
    const partitions: FetchPartitionRequest[] = [];
    // The bytes of RECORDS_PER_RESPONSE records over these partitions.
    let recordsBytes = 0;
    for (const state of states) {
      state.requested = true;
      requested.set(state.topic, state.partition, { state, offset: state.position });
      const wanted = records * state.recordBytes;
      recordsBytes += wanted;
      partitions.push({
        topic: state.topic,
        partition: state.partition,
        offset: state.position,
        maxBytes: askBytes(Math.min(share, wanted), maxBytesPerPartition),
      });
    }
    this.#nodesInFlight.add(node);
    let fetched: readonly FetchedPartition[];
    try {
      fetched = await this.#client.fetch({
        node,
        partitions,
        maxWaitMs: this.#waitMs(),
        maxBytes: responseLimit(recordsBytes, maxBytes),
        isolationLevel,
      });
    } catch (error) {
      return this.#failedRequest(error);
    } finally {
      for (const state of states) state.requested = false;
      this.#nodesInFlight.delete(node);
    }
    if (this.#closed) return;
    this.#failures = 0;
    const delivered: ConsumerMessage[][] = [];
    for (const partition of fetched) {
      const entry = requested.get(partition.topic, partition.partition);
      // Not requested (a broker's fetch session may add partitions), revoked meanwhile, or moved.
      if (entry === undefined) continue;
      const { state, offset } = entry;
      if (this.#partitions.get(state.topic, state.partition) !== state || state.position !== offset) continue;
      if (partition.error !== undefined) {
        this.#partitionError(state, partition.error);
        continue;
      }
      const { messages, nextOffset } = decodePartition(partition, state.position, isolationLevel);
      state.position = nextOffset;
      const count = recordCount(partition.batches);
      if (count > 0) state.recordBytes = Math.max(1, partition.recordBytes / count);
      if (messages.length > 0) delivered.push(messages);
    }
    // The sink may pause partitions as it takes them: that holds their next fetch, not these messages.
    for (const messages of delivered) this.#sink.messages(messages);
    this.#kick();
  }

  #partitionError(state: Fetching, error: NonNullable<FetchedPartition["error"]>): void {
    if (error.kind === "fatal") return this.#sink.failed(error.error);
    if (error.kind === "retriable") {
      this.#leaderNews++;
      return this.#backOff();
    }
    void this.#resetPosition(state);
  }

  /** The position is outside the log: start again per `startFrom`, as Kafka's auto.offset.reset. */
  async #resetPosition(state: Fetching): Promise<void> {
    const { startFrom, isolationLevel } = this.#settings;
    const from = state.position;
    state.requested = true;
    let offset: bigint;
    try {
      const [listed] = await this.#client.listOffsets([state], startFrom, isolationLevel);
      offset = listed!.offset;
    } catch (error) {
      return this.#failedRequest(error);
    } finally {
      state.requested = false;
    }
    if (this.#closed || this.#partitions.get(state.topic, state.partition) !== state || state.position !== from) return;
    if (offset < from) {
      this.#partitions.delete(state.topic, state.partition);
      this.#sink.restart(state, offset);
      return;
    }
    // Forward: the offsets in between are gone from the log (retention): nothing to deliver.
    state.position = offset;
    this.#kick();
  }

  #failedRequest(error: unknown): void {
    if (this.#closed) return;
    if (!isRetriable(error)) {
      this.#sink.failed(toError(error));
      return;
    }
    this.#leaderNews++;
    this.#backOff();
  }

  /** Waits before the next round: doubling from 100 ms to 1 s while requests keep failing. */
  #backOff(): void {
    if (this.#retryTimer !== undefined || this.#closed) return;
    const delay = backoffMs(RETRY_MIN_MS, RETRY_MAX_MS, this.#failures++);
    this.#retryTimer = this.#settings.clock.setTimeout(() => {
      this.#retryTimer = undefined;
      this.#kick();
    }, delay);
  }
}

/**
 * The list starting at `shift` (modulo its length). A broker fills a response in request order and
 * skips a partition whose next batch no longer fits, so a fixed order could starve a partition of
 * large records behind busy ones; Kafka's own consumer rotates the same way.
 */
function rotate<T>(items: T[], shift: number): T[] {
  const start = shift % items.length;
  return start === 0 ? items : [...items.slice(start), ...items.slice(0, start)];
}

/**
 * Bytes to ask of one partition: its share (the smaller of its share of the request's `maxBytes`,
 * which the broker fills in request order, so one partition asked for all of it would take every
 * response, and its share of RECORDS_PER_RESPONSE in its own record size), at least MIN_ASK_BYTES,
 * at most `most`. Few partitions of large records then come many records per round trip (at a
 * fixed 64 KiB, 10 KB records came six at a time), small records about as many as before.
 */
function askBytes(share: number, most: number): number {
  return Math.min(most, Math.max(MIN_ASK_BYTES, Math.floor(share)));
}

/**
 * A request's own byte limit: the bytes of the records it wants, within MIN_ASK_BYTES and
 * `maxBytes`. Each partition's ask is at least MIN_ASK_BYTES, so without it 48 partitions of small
 * records would bring 3 MiB of them at a time.
 */
export function responseLimit(recordsBytes: number, maxBytes: number): number {
  return Math.min(maxBytes, Math.max(MIN_ASK_BYTES, Math.floor(recordsBytes)));
}

/**
 * Records in `batches`. A partial batch at a response's end is not among them but its bytes are in
 * `recordBytes`: the size per record then errs large, and the next ask is larger, never smaller.
 */
function recordCount(batches: readonly RecordBatch[]): number {
  let count = 0;
  for (const batch of batches) count += batch.records.length;
  return count;
}
