import { Attempt } from "../attempt.ts";
import type { AbortReason } from "../errors.ts";
import type { ConsumerMessage } from "../message.ts";
import type { PartitionMetrics, PartitionPauseReason } from "../metrics-snapshot.ts";
import type { Batch } from "./batch.ts";
import type { DoneRange } from "../offset-map.ts";
import { HeldItems, type HeldLinks } from "./held-items.ts";
import { OffsetMapRoom } from "./offset-map-room.ts";
import { OffsetTracker } from "../offset-tracker.ts";
import { PartitionScheduler } from "../partition-scheduler.ts";
import type { PoisonKeys } from "../poison-keys.ts";
import type { PartitionOffset } from "../ports/kafka-adapter.ts";

/** One fetched message on its way through the control plane. */
export interface WorkItem extends HeldLinks<WorkItem> {
  readonly message: ConsumerMessage;
  readonly offset: number;
  readonly lane: string | null;
  /** Payload bytes (key + value) counted against `maxInFlightBytes`. */
  readonly bytes: number;
  readonly partition: PartitionState;
  /** Attempts started so far. */
  attempt: number;
  /** `Clock.now()` when the message was accepted. */
  readonly fetchedAt: number;
  /** The attempt running now, if any. At most one runs per message, aborted or not. */
  running?: Attempt | undefined;
  /** Batch handlers: the batch it runs in, from its first attempt until it is done. */
  batch?: Batch | undefined;
}

/** An attempt of one work item: an engine hands it back when it ends, and with it the item. */
export class WorkAttempt extends Attempt {
  readonly item: WorkItem;

  constructor(item: WorkItem, attempt: number, startedAt: number) {
    super(attempt, startedAt);
    this.item = item;
  }
}

/** A commit ready to send for one partition, and what to record once the broker has it. */
export interface PreparedCommit {
  readonly offset: PartitionOffset;
  readonly position: number;
  readonly version: number;
}

/** Why a message waits outside the scheduler: its retry delay, or its dead letter being published. */
export type HoldKind = "retry" | "deadLetter";

/** `revoking`: no new work starts, running work may finish; `revoked`: completions are ignored. */
export type PartitionPhase = "active" | "revoking" | "revoked";

/** A partition paused for its window or its buffer is fetched again below this share of the limit. */
const FETCH_RESUME_AT = 0.8;

/** The per-partition limits above which a partition stops being fetched. */
export interface FetchLimits {
  /** Fetched offsets not yet passed by the commit position. */
  readonly maxUncommittedOffsets: number;
  /** Payload bytes of fetched messages not admitted yet. */
  readonly maxBufferedBytes: number;
  /** Fetched messages not admitted yet (the consumer's `maxInFlight`). */
  readonly maxBufferedMessages: number;
}

/**
 * Everything the control plane knows about one owned partition during one assignment epoch, and
 * the bookkeeping that must change together (tracker, scheduler, held messages and bytes, running
 * attempts). A revoked partition's state is dropped; if the partition comes back it gets a fresh
 * state, so a completion from the old epoch can never touch the new one.
 */
export class PartitionState {
  readonly topic: string;
  readonly partition: number;
  readonly tracker: OffsetTracker;
  readonly scheduler: PartitionScheduler<WorkItem> = new PartitionScheduler<WorkItem>();
  /** Final failures and cooldowns per key, when poison-key isolation is on. */
  readonly poison: PoisonKeys | undefined;
  phase: PartitionPhase = "active";
  /** Its previous ownership by this consumer still drains: no work starts until it ended. */
  waitingForDrain = false;
  /** Whether it waits in the admission's rotation (it has admissible messages). */
  inAdmission = false;
  /** Whether it waits in the dispatcher's rotation (it has ready messages). */
  inDispatch = false;
  /** The adapter announced it (`assigned`): the tracker was seeded with its start offset. */
  #assigned = false;
  /** Messages held (buffered, queued, running or waiting to retry), in offset order. */
  readonly #held = new HeldItems<WorkItem>();
  /** Admitted messages (in flight) and their payload bytes. */
  #admitted = 0;
  #admittedBytes = 0;
  /** Payload bytes of the messages not admitted yet. */
  #bufferedBytes = 0;
  #running = 0;
  /** Messages waiting outside the scheduler, by why (see `hold`). */
  readonly #waiting: Record<HoldKind, number> = { retry: 0, deadLetter: 0 };
  /** Position and tracker version last acknowledged by the broker. */
  #committedPosition: number | undefined;
  #committedVersion = 0;
  /** Size of the offset map in the last commit. */
  #metadataBytes = 0;
  /** The offset map's size against `maxCommitMetadataBytes`: whether work may start. */
  readonly #mapRoom: OffsetMapRoom;
  /** Set while the uncommitted window is at its limit: the partition is not fetched. */
  #windowFull = false;
  /** Set while the buffer is at its limit: the partition is not fetched. */
  #bufferFull = false;
  /** Messages and payload bytes accepted since the last delivery ended, and those of that delivery. */
  #arriving = 0;
  #arrivingBytes = 0;
  #delivered = 0;
  #deliveredBytes = 0;

  constructor(topic: string, partition: number, now: () => number, maxMetadataBytes: number, poison?: PoisonKeys) {
    this.topic = topic;
    this.partition = partition;
    this.tracker = new OffsetTracker(now);
    this.#mapRoom = new OffsetMapRoom(this.tracker, maxMetadataBytes);
    this.poison = poison;
  }

  /**
   * Starts the epoch at `position` (where fetching starts), with the offsets a previous owner
   * already finished above it. `committed` is the group's committed offset, if any: the position
   * is committed on the next tick unless the broker holds it already.
   */
  seed(position: number, done: readonly DoneRange[], committed: number | undefined): void {
    this.#assigned = true;
    this.tracker.seed(position, done);
    this.#mapRoom.inherit(position, done);
    if (committed !== undefined) {
      this.#committedPosition = committed;
      this.#committedVersion = this.tracker.version;
    }
  }

  /**
   * Takes a fetched message into the buffer; `false` when it is not new (already held, done or
   * below the position). The tracker counts it as fetched from now on.
   */
  accept(message: ConsumerMessage, offset: number, lane: string | null, fetchedAt: number): boolean {
    // Never announced (an adapter that does not announce): nothing before the first offset to commit.
    if (!this.#assigned) this.#committedPosition ??= offset;
    if (this.tracker.track(offset, fetchedAt) !== "new") return false;
    const bytes = (message.key?.byteLength ?? 0) + (message.value?.byteLength ?? 0);
    const item: WorkItem = {
      message,
      offset,
      lane,
      bytes,
      partition: this,
      attempt: 0,
      fetchedAt,
      // Set later, declared now: every item keeps one shape on the hot path.
      running: undefined,
      batch: undefined,
      heldBefore: undefined,
      heldAfter: undefined,
    };
    this.scheduler.enqueue(item);
    this.#held.add(item);
    this.#bufferedBytes += bytes;
    this.#arriving++;
    this.#arrivingBytes += bytes;
    return true;
  }

  /** A delivery (one fetch response's messages for the partition) was accepted: its size sets when to fetch again. */
  deliveryEnded(): void {
    this.#delivered = this.#arriving;
    this.#deliveredBytes = this.#arrivingBytes;
    this.#arriving = this.#arrivingBytes = 0;
  }

  /** Admits the next admissible message into the in-flight window, or returns `undefined`. */
  admit(): WorkItem | undefined {
    const item = this.scheduler.admit();
    if (item !== undefined) this.#admitOne(item);
    return item;
  }

  /**
   * While the offset map is full only the blocking offset may start (it is what shrinks the map):
   * takes it out of turn, admitting it if it was not yet. `admitted` says whether it was admitted now.
   */
  nextBlocking(): { item: WorkItem; admitted: boolean } | undefined {
    const blocking = this.tracker.blockingOffset;
    if (blocking === null) return undefined;
    const found = this.scheduler.nextMatching((item) => item.offset === blocking);
    if (found === undefined) return undefined;
    if (!found.admitted) this.#admitOne(found.item);
    return { item: found.item, admitted: !found.admitted };
  }

  #admitOne(item: WorkItem): void {
    this.#admitted++;
    this.#admittedBytes += item.bytes;
    this.#bufferedBytes -= item.bytes;
  }

  /**
   * For a batch: takes the next message waiting behind `lane` (whose first message is in the
   * batch) into the in-flight window, or returns `undefined`.
   */
  admitWaiting(lane: string): WorkItem | undefined {
    const item = this.scheduler.takeWaiting(lane);
    if (item !== undefined) this.#admitOne(item);
    return item;
  }

  /**
   * A chained message that did not run (its attempt already ended): out of the in-flight window,
   * not attempted, waiting behind its lane again in offset order.
   */
  giveBack(item: WorkItem): void {
    item.attempt--;
    this.#admitted--;
    this.#admittedBytes -= item.bytes;
    this.#bufferedBytes += item.bytes;
    this.scheduler.giveBack(item, (other) => other.offset > item.offset);
  }

  /** For a batch: `item` runs in `attempt`, the attempt of its whole batch. */
  joinAttempt(item: WorkItem, attempt: Attempt): void {
    item.attempt = attempt.attempt;
    item.running = attempt;
    this.#running++;
  }

  /** Starts the next attempt of `item`. */
  startAttempt(item: WorkItem, now: number): WorkAttempt {
    const attempt = new WorkAttempt(item, ++item.attempt, now);
    item.running = attempt;
    this.#running++;
    return attempt;
  }

  /** Whether `attempt` was the item's current one (and so is ended now); a stale end is ignored. */
  endAttempt(item: WorkItem, attempt: Attempt): boolean {
    if (item.running !== attempt) return false;
    item.running = undefined;
    this.#running--;
    return true;
  }

  /** The attempt did not run (the engine failed): it is taken back, and the message waits to run. */
  takeBack(item: WorkItem): void {
    item.attempt--;
    this.scheduler.retry(item);
  }

  /** The message is done for good (at `now`): its lane is released and the commit position may move. */
  finish(item: WorkItem, now?: number): void {
    this.tracker.complete(item.offset, now);
    this.#mapRoom.finished();
    this.scheduler.release(item);
    this.#held.remove(item);
    this.#admitted--;
    this.#admittedBytes -= item.bytes;
  }

  /**
   * Counts a message waiting outside the scheduler (a failed attempt waiting for its retry delay,
   * a dead letter being published); the returned function ends the wait (once).
   */
  hold(kind: HoldKind): () => void {
    this.#waiting[kind]++;
    let held = true;
    return () => {
      if (held) this.#waiting[kind]--;
      held = false;
    };
  }

  /**
   * Takes back the attempts whose handler has not started yet (queued in an engine): they will
   * never run, and their messages count as not attempted. Returns how many.
   */
  withdrawUnstarted(reason: AbortReason): number {
    if (this.#running === 0) return 0;
    let withdrawn = 0;
    this.#held.forEach((item) => {
      const attempt = item.running;
      // A batch's messages share one attempt: withdrawn with the first, ended with each.
      if (attempt === undefined || !(attempt.withdrawn || attempt.withdraw(reason))) return;
      this.endAttempt(item, attempt);
      item.attempt--;
      withdrawn++;
    });
    return withdrawn;
  }

  /** Aborts every running attempt (closing, or the revoke grace is over). */
  abortRunning(reason: AbortReason): void {
    if (this.#running === 0) return;
    this.#held.forEach((item) => item.running?.abort(reason));
  }

  /** The held message at `offset`, if any (found from the oldest: for the blocking offset, say). */
  held(offset: number): WorkItem | undefined {
    return this.#held.find((item) => item.offset === offset);
  }

  /** Messages admitted and not finished, and their payload bytes: what counts against the in-flight budget. */
  get admittedCount(): number {
    return this.#admitted;
  }

  get admittedBytes(): number {
    return this.#admittedBytes;
  }

  /** Fetched messages not admitted yet, and their payload bytes. */
  get bufferedCount(): number {
    return this.scheduler.bufferedCount;
  }

  get bufferedBytes(): number {
    return this.#bufferedBytes;
  }

  get running(): number {
    return this.#running;
  }

  /**
   * Whether work may still make progress: attempts running or dead letters being published, and,
   * while work may still start (`startsWork`), messages ready or waiting for a retry.
   */
  busy(startsWork: boolean): boolean {
    if (this.#running > 0 || this.#waiting.deadLetter > 0) return true;
    return startsWork && (this.scheduler.readyCount > 0 || this.#waiting.retry > 0);
  }

  /** Whether the position or the offset map changed since the broker last acknowledged them. */
  get commitPending(): boolean {
    const position = this.tracker.commitPosition;
    return position !== undefined &&
      (position !== this.#committedPosition || this.tracker.version !== this.#committedVersion);
  }

  /**
   * While the offset map is full only the blocking offset may start: it is what shrinks the map.
   * Full when the last commit's map neared the limit, or when one more message could, with the
   * work already started, outgrow it before the next commit.
   */
  get mapFull(): boolean {
    return !this.mapHasRoom(1);
  }

  /** Whether `count` more messages may start without the offset map outgrowing its limit. */
  mapHasRoom(count: number): boolean {
    // Started and not finished: admitted, and no longer waiting in the ready queue.
    const started = this.#admitted - this.scheduler.readyCount;
    return this.#mapRoom.hasRoom(started + count);
  }

  /** How many more messages, up to `limit`, may start without the offset map outgrowing its limit. */
  mapRoom(limit: number): number {
    if (this.mapHasRoom(limit)) return limit;
    let low = 0;
    let high = limit - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.mapHasRoom(middle)) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  /** Whether the partition is held from fetching: its window or its buffer is full. */
  get fetchHeld(): boolean {
    return this.#windowFull || this.#bufferFull;
  }

  /**
   * Whether the partition must stop being fetched (`true`: its uncommitted window or its buffer
   * reached its limit) or may be fetched again (`false`: both fell below 80% of their limits).
   * `undefined` when that did not change.
   */
  fetchHoldChanged(limits: FetchLimits): boolean | undefined {
    const held = this.fetchHeld;
    const window = this.tracker.windowSize;
    if (this.#windowFull) this.#windowFull = window >= limits.maxUncommittedOffsets * FETCH_RESUME_AT;
    else this.#windowFull = window >= limits.maxUncommittedOffsets;
    const bytes = this.#bufferedBytes;
    const messages = this.scheduler.bufferedCount;
    if (this.#bufferFull) {
      // Fetched again below 80% of the limits, or, where one response brings more than that (a
      // record batch larger than the limits: one is always returned whole), once the buffer holds
      // less than the last response did: the next one is then on its way while that much is left.
      this.#bufferFull = bytes >= Math.max(limits.maxBufferedBytes * FETCH_RESUME_AT, this.#deliveredBytes) ||
        messages >= Math.max(limits.maxBufferedMessages * FETCH_RESUME_AT, this.#delivered);
    } else {
      this.#bufferFull = bytes >= limits.maxBufferedBytes || messages >= limits.maxBufferedMessages;
    }
    return this.fetchHeld === held ? undefined : !held;
  }

  /** Builds the commit (position and offset map) and updates the map-size pressure. */
  prepareCommit(): PreparedCommit | undefined {
    const position = this.tracker.commitPosition;
    if (position === undefined || !this.commitPending) return undefined;
    const { metadata } = this.#mapRoom.forCommit(position);
    this.#metadataBytes = metadata.length;
    return {
      offset: { topic: this.topic, partition: this.partition, offset: BigInt(position), metadata },
      position,
      version: this.tracker.version,
    };
  }

  acknowledge(commit: PreparedCommit): void {
    this.#committedPosition = commit.position;
    this.#committedVersion = commit.version;
  }

  /** Why the partition is held back: its offset map first (it stops work), then its window and buffer (fetching). */
  get pauseReason(): PartitionPauseReason {
    if (this.mapFull) return "commitMetadataFull";
    if (this.#windowFull) return "maxUncommittedOffsets";
    if (this.#bufferFull) return "bufferFull";
    return null;
  }

  metrics(): PartitionMetrics {
    const { tracker } = this;
    const commit = tracker.commitPosition;
    const blocking = tracker.blockingOffset;
    const lastFetched = tracker.lastFetchedOffset;
    return {
      topic: this.topic,
      partition: this.partition,
      trueLag: tracker.trueLag,
      gapCount: tracker.gapCount,
      blockingOffset: blocking === null ? null : BigInt(blocking),
      blockingDurationSec: tracker.blockingDurationMs() / 1000,
      queuedCount: this.#admitted - this.#running,
      bufferedCount: this.scheduler.bufferedCount,
      bufferedBytes: this.#bufferedBytes,
      inFlight: this.#running,
      highestContiguousOffset: commit === undefined ? null : BigInt(commit - 1),
      committedOffset: this.#committedPosition === undefined ? null : BigInt(this.#committedPosition),
      lastFetchedOffset: lastFetched === undefined ? null : BigInt(lastFetched),
      commitMetadataBytes: this.#metadataBytes,
      uncommittedOffsets: tracker.windowSize,
      pauseReason: this.pauseReason,
    };
  }
}
