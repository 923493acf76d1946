import type { AdapterListener, AssignedPartition, KafkaAdapter } from "../adapters/adapter.ts";
import type { ExecutionEngine } from "../engines/engine.ts";
import { InFlightBudget } from "./backpressure.ts";
import { Committer } from "./committer.ts";
import { type ConsumerEvents, describeStall, type StallEvent } from "./consumer-events.ts";
import { deadLetterRecord } from "./dead-letter.ts";
import { BlockedTooLongError, MessageFailedError, PoisonKeyError } from "./errors.ts";
import { Emitter } from "./events.ts";
import { Histogram } from "./histogram.ts";
import type { ConsumerMessage, TopicPartition } from "./message.ts";
import { PartitionMap } from "./partition-map.ts";
import type { ConsumerMetrics, PartitionMetrics, PauseReason } from "./metrics.ts";
import { decodeOffsetMap } from "./offset-map.ts";
import { laneOf } from "./ordering.ts";
import { PartitionState, type WorkItem } from "./partition-state.ts";
import { PoisonKeys } from "./poison-keys.ts";
import { retryDelayMs } from "./retry-policy.ts";
import type { ControlPlaneSettings } from "./settings.ts";
import { Waiters } from "./waiters.ts";

type Lifecycle = "idle" | "running" | "closing" | "closed";

const FINAL_COMMIT_ATTEMPTS = 3;

/**
 * The heart of the consumer: accepts fetched messages, runs them through the engine in the order
 * the ordering mode allows, tracks completions per partition, commits only contiguous progress
 * (with an offset map of what is done above it), and pauses fetching while too much is in
 * flight. It knows neither the Kafka client nor where handlers run.
 */
export class ControlPlane implements AdapterListener {
  readonly events: Emitter<ConsumerEvents> = new Emitter<ConsumerEvents>();
  readonly #settings: ControlPlaneSettings;
  readonly #adapter: KafkaAdapter;
  readonly #engine: ExecutionEngine;
  readonly #now: () => number;
  readonly #budget: InFlightBudget;
  readonly #committer: Committer;
  readonly #partitions = new PartitionMap<PartitionState>();
  /** Partitions with ready work, taking turns one message at a time. */
  readonly #rotation: PartitionState[] = [];
  #rotationHead = 0;
  readonly #retryTimers = new Set<ReturnType<typeof setTimeout>>();
  /** Revoked partitions still draining, until their final commit. */
  readonly #revocations = new Set<Promise<void>>();
  /** Conditions awaited by close and revocations, checked whenever work finishes. */
  readonly #waiters = new Waiters();
  #lifecycle: Lifecycle = "idle";
  #failed = false;
  /** Cleared when close() stops waiting: from then on nothing new starts. */
  #startingWork = true;
  #pauseReason: PauseReason = null;
  #tick: ReturnType<typeof setInterval> | undefined;
  #closed: Promise<void> = Promise.resolve();
  readonly #counts = {
    processed: 0,
    failedAttempts: 0,
    retries: 0,
    deadLettered: 0,
    deadLetterFailures: 0,
    skipped: 0,
    stalls: 0,
  };
  readonly #handlerSeconds = new Histogram();
  readonly #fetchToCompletionSeconds = new Histogram();

  constructor(settings: ControlPlaneSettings, adapter: KafkaAdapter, engine: ExecutionEngine) {
    this.#settings = settings;
    this.#adapter = adapter;
    this.#engine = engine;
    this.#now = settings.now ?? Date.now;
    this.#budget = new InFlightBudget(settings.maxInFlight, settings.maxInFlightBytes);
    this.#committer = new Committer(adapter, settings.maxCommitMetadataBytes, (error) => {
      this.events.emit("error", new Error("offset commit failed", { cause: error }));
    });
  }

  /** Joins the group and starts consuming. */
  async start(): Promise<void> {
    if (this.#lifecycle !== "idle") throw new Error("the consumer was already started");
    this.#lifecycle = "running";
    this.#tick = setInterval(() => {
      this.#checkBlocking();
      this.#advanceFetchPositions();
      void this.commit();
    }, this.#settings.commitIntervalMs);
    try {
      await this.#adapter.start(this);
    } catch (error) {
      clearInterval(this.#tick);
      this.#lifecycle = "closed";
      // Worker threads keep a process alive: release them even though nothing ran.
      this.#closed = this.#adapter.close().catch(() => {}).then(() => this.#engine.close());
      await this.#closed;
      throw error;
    }
  }

  /**
   * Stops fetching, lets accepted work finish for up to `drainTimeoutMs`, aborts what still runs,
   * commits the final positions and leaves the group. Safe to call more than once.
   */
  close(): Promise<void> {
    if (this.#lifecycle === "idle") {
      this.#lifecycle = "closed";
      this.#closed = this.#engine.close();
    }
    if (this.#lifecycle === "running") {
      this.#lifecycle = "closing";
      this.#closed = this.#shutdown();
    }
    return this.#closed;
  }

  async #shutdown(): Promise<void> {
    this.#setPaused(this.#failed ? "failed" : "closing");
    await this.#waiters.until(() => this.#isDrained(), this.#settings.drainTimeoutMs);
    // The drain time is over: queued work stays queued (it runs again after a restart).
    this.#startingWork = false;
    this.#advanceFetchPositions();
    clearInterval(this.#tick);
    for (const timer of this.#retryTimers) clearTimeout(timer);
    this.#retryTimers.clear();
    for (const state of this.#partitions.values()) state.abort.abort(new Error("consumer closed"));
    await Promise.all(this.#revocations);
    const committed = await this.#committer.commitUntilClean(() => this.#partitions.values(), FINAL_COMMIT_ATTEMPTS);
    try {
      await this.#adapter.close();
    } finally {
      await this.#engine.close();
      this.#lifecycle = "closed";
    }
    if (!committed) throw new Error("close: the final offset commit failed; completed work may run again");
  }

  /** Commits every owned partition whose position or offset map changed. */
  commit(): Promise<void> {
    return this.#commitStates(this.#partitions.values());
  }

  async #commitStates(states: Iterable<PartitionState>): Promise<void> {
    const tried = await this.#committer.commit(states);
    // The map size may have fallen below its threshold: a throttled partition may start again.
    for (const state of tried) this.#joinRotation(state);
    if (tried.length > 0) this.#pump();
  }

  metrics(): ConsumerMetrics {
    let queued = 0;
    let processing = 0;
    const partitions: PartitionMetrics[] = [];
    for (const state of this.#partitions.values()) {
      const metrics = state.metrics();
      queued += metrics.queuedCount;
      processing += metrics.inFlight;
      partitions.push(metrics);
    }
    const counts = this.#counts;
    return {
      totalInFlight: this.#budget.messages,
      maxInFlight: this.#settings.maxInFlight,
      inFlightBytes: this.#budget.bytes,
      maxInFlightBytes: this.#settings.maxInFlightBytes,
      isPaused: this.#pauseReason !== null,
      pauseReason: this.#pauseReason,
      queued,
      processing,
      processedTotal: counts.processed,
      failedAttemptsTotal: counts.failedAttempts,
      retriesTotal: counts.retries,
      deadLetteredTotal: counts.deadLettered,
      deadLetterFailuresTotal: counts.deadLetterFailures,
      skippedTotal: counts.skipped,
      commitsTotal: this.#committer.committed,
      commitFailuresTotal: this.#committer.failed,
      stallsTotal: counts.stalls,
      handlerSeconds: this.#handlerSeconds.snapshot(),
      fetchToCompletionSeconds: this.#fetchToCompletionSeconds.snapshot(),
      partitions,
    };
  }

  // ---- AdapterListener ----

  assigned(partitions: readonly AssignedPartition[]): void {
    for (const { topic, partition, committedOffset, committedMetadata } of partitions) {
      const state = this.#stateOf(topic, partition);
      if (committedOffset === null || committedOffset < 0n) continue;
      const position = toSafeOffset(committedOffset);
      state.tracker.seed(position, decodeOffsetMap(committedMetadata, position));
      state.committedPosition = position;
      state.committedVersion = state.tracker.version;
    }
  }

  revoked(partitions: readonly TopicPartition[]): void {
    const states: PartitionState[] = [];
    for (const { topic, partition } of partitions) {
      const state = this.#partitions.get(topic, partition);
      if (!state) continue;
      // A new assignment of the same partition gets a fresh state; this one only drains.
      this.#partitions.delete(topic, partition);
      state.phase = "revoking";
      states.push(state);
    }
    if (states.length === 0) return;
    const revocation = this.#drainRevoked(states);
    this.#revocations.add(revocation);
    void revocation.finally(() => this.#revocations.delete(revocation));
  }

  /**
   * Gives running work `maxRevokeGraceMs` to finish before its signal aborts, then drops the
   * state. Nothing is committed for a revoked partition: the revoke is known only once the new
   * owner may be committing, and a late commit would move the group's offset backwards. The
   * commit at the start of the rebalance (`rebalancing`) is the last one this member makes.
   */
  async #drainRevoked(states: readonly PartitionState[]): Promise<void> {
    await this.#waiters.until(() => states.every((state) => state.running === 0), this.#settings.maxRevokeGraceMs);
    for (const state of states) {
      state.phase = "revoked";
      state.abort.abort(new Error(`partition ${state.topic}[${state.partition}] was revoked`));
      this.#budget.remove(state.held.size, state.heldBytes);
    }
    this.#afterRelease();
  }

  /** Commits in this very tick: the request must beat the member's own JoinGroup to the coordinator. */
  rebalancing(): void {
    void this.#committer.commitNow(this.#partitions.values());
  }

  messages(batch: readonly ConsumerMessage[]): void {
    // One clock read per batch: its messages were fetched together.
    const fetchedAt = performance.now();
    let state: PartitionState | undefined;
    for (const message of batch) {
      // A batch is mostly runs of one partition.
      if (state?.partition !== message.partition || state.topic !== message.topic) {
        state = this.#stateOf(message.topic, message.partition);
      }
      const offset = toSafeOffset(message.offset);
      // Without a committed offset, fetching starts at the first offset: nothing to commit before it.
      state.committedPosition ??= offset;
      if (state.tracker.track(offset) !== "new") continue;
      const bytes = (message.key?.byteLength ?? 0) + (message.value?.byteLength ?? 0);
      const item: WorkItem = {
        message,
        offset,
        lane: laneOf(this.#settings.ordering, message.key),
        bytes,
        partition: state,
        attempt: 0,
        fetchedAt,
      };
      state.scheduler.enqueue(item);
      state.held.set(offset, item);
      state.heldBytes += bytes;
      this.#budget.add(bytes);
      this.#joinRotation(state);
    }
    const limit = this.#budget.limitReached;
    if (this.#pauseReason === null && limit) this.#setPaused(limit);
    this.#pump();
  }

  failed(error: Error): void {
    this.events.emit("error", error);
    this.#fail();
  }

  // ---- periodic checks ----

  /** Lets commits pass offsets the client skipped (transaction markers), once all below are delivered. */
  #advanceFetchPositions(): void {
    for (const { topic, partition, position } of this.#adapter.fetchPositions()) {
      this.#partitions.get(topic, partition)?.tracker.advanceTo(toSafeOffset(position));
    }
  }

  /** Per partition: fails a blocker running past `maxBlockingMs`, reports a stall once per offset. */
  #checkBlocking(): void {
    for (const state of this.#partitions.values()) {
      const offset = state.tracker.blockingOffset;
      if (offset === null) continue;
      this.#failIfBlockedTooLong(state, offset);
      const blockedMs = state.tracker.blockingDurationMs();
      if (offset === state.stallReportedOffset || blockedMs < this.#settings.stallThresholdMs) continue;
      state.stallReportedOffset = offset;
      this.#counts.stalls++;
      const event: StallEvent = {
        topic: state.topic,
        partition: state.partition,
        offset: BigInt(offset),
        key: state.held.get(offset)?.message.key ?? null,
        blockingDurationSec: blockedMs / 1000,
      };
      this.#settings.logger.warn(describeStall(event));
      this.events.emit("stall", event);
    }
  }

  /**
   * Gives up on the blocker's running attempt: it takes the retry/DLQ path. A function cannot be
   * killed, so a late result of the abandoned attempt is ignored.
   */
  #failIfBlockedTooLong(state: PartitionState, offset: number): void {
    const limit = this.#settings.maxBlockingMs;
    const item = state.held.get(offset);
    if (limit === undefined || !item?.running) return;
    if (performance.now() - item.running.startedAt < limit) return;
    item.running = undefined;
    this.#attemptFailed(item, new BlockedTooLongError(limit));
  }

  // ---- scheduling ----

  #stateOf(topic: string, partition: number): PartitionState {
    let state = this.#partitions.get(topic, partition);
    if (!state) {
      const { poisonKey } = this.#settings;
      state = new PartitionState(topic, partition, this.#now, poisonKey && new PoisonKeys(poisonKey, this.#now));
      this.#partitions.set(topic, partition, state);
    }
    return state;
  }

  #joinRotation(state: PartitionState): void {
    if (state.inReadyRotation || state.scheduler.readyCount === 0) return;
    state.inReadyRotation = true;
    this.#rotation.push(state);
  }

  /** Starts ready work while the engine has room, one message per partition per turn. */
  #pump(): void {
    if (!this.#startingWork || (this.#lifecycle !== "running" && this.#lifecycle !== "closing")) return;
    while (this.#engine.idleSlots > 0 && this.#rotationHead < this.#rotation.length) {
      const state = this.#rotation[this.#rotationHead++]!;
      state.inReadyRotation = false;
      if (state.phase !== "active") continue;
      const item = state.mapFull ? this.#nextBlocking(state) : state.scheduler.next();
      if (item && item.lane !== null && state.poison?.isCooling(item.lane)) {
        const cooling = new PoisonKeyError(this.#settings.poisonKey!.cooldownMs);
        queueMicrotask(() => this.#exhausted(item, cooling));
      } else if (item) {
        this.#run(item);
      }
      // A map-throttled partition waits for a commit (which pumps) instead of spinning here.
      if (!state.mapFull) this.#joinRotation(state);
    }
    if (this.#rotationHead === this.#rotation.length) {
      this.#rotation.length = 0;
      this.#rotationHead = 0;
    } else if (this.#rotationHead > 1024) {
      this.#rotation.splice(0, this.#rotationHead);
      this.#rotationHead = 0;
    }
  }

  /** While the offset map is full, only the blocking offset may start: it is what shrinks the map. */
  #nextBlocking(state: PartitionState): WorkItem | undefined {
    const blocking = state.tracker.blockingOffset;
    return blocking === null ? undefined : state.scheduler.nextMatching((item) => item.offset === blocking);
  }

  #run(item: WorkItem): void {
    const state = item.partition;
    item.attempt++;
    state.running++;
    const run = { startedAt: performance.now() };
    item.running = run;
    // Only the current run of an item may report: an abandoned run's late result is ignored.
    this.#engine.execute(item.message, { signal: state.abort.signal, attempt: item.attempt }).then(
      () => {
        const ended = performance.now();
        this.#handlerSeconds.observe((ended - run.startedAt) / 1000);
        if (item.running !== run) return;
        item.running = undefined;
        this.#succeeded(item, ended);
      },
      (error: unknown) => {
        this.#handlerSeconds.observe((performance.now() - run.startedAt) / 1000);
        if (item.running !== run) return;
        item.running = undefined;
        this.#attemptFailed(item, error);
      },
    );
  }

  #succeeded(item: WorkItem, ended: number): void {
    const state = item.partition;
    state.running--;
    if (state.phase === "revoked") return this.#pump();
    this.#counts.processed++;
    this.#finish(item, ended);
  }

  #attemptFailed(item: WorkItem, error: unknown): void {
    const state = item.partition;
    state.running--;
    this.#counts.failedAttempts++;
    if (state.phase === "revoked") return this.#pump();
    // While closing or revoking, a failed message stays incomplete: it runs again later.
    if (this.#lifecycle !== "running" || state.phase !== "active") return this.#afterRelease();
    const { retry } = this.#settings;
    if (item.attempt > retry.maxRetries) return this.#exhausted(item, error);
    this.#counts.retries++;
    state.retryWaiting++;
    const timer = setTimeout(() => {
      this.#retryTimers.delete(timer);
      state.retryWaiting--;
      if (state.phase !== "active") return this.#afterRelease();
      state.scheduler.retry(item);
      this.#joinRotation(state);
      this.#pump();
    }, retryDelayMs(retry, item.attempt));
    this.#retryTimers.add(timer);
    this.#pump();
  }

  /** Retries are used up: the failure policy decides, and the failure is always reported. */
  #exhausted(item: WorkItem, error: unknown): void {
    if (item.lane !== null) item.partition.poison?.recordFailure(item.lane);
    this.events.emit("error", new MessageFailedError(item.message, item.attempt, error));
    switch (this.#settings.failurePolicy) {
      case "skip":
        this.#counts.skipped++;
        return this.#finish(item);
      case "deadLetter":
        return void this.#deadLetter(item, error);
      case "stop":
        // The offset stays uncommitted so the message runs again after a restart.
        return this.#fail();
    }
  }

  /**
   * Publishes the dead letter, retrying with backoff while the partition is owned; the offset
   * completes only once the broker acknowledged it, so until then it is the blocking offset.
   */
  async #deadLetter(item: WorkItem, error: unknown): Promise<void> {
    const state = item.partition;
    const record = deadLetterRecord(this.#settings.deadLetter!, item.message, item.attempt, error);
    state.deadLettering++;
    try {
      for (let attempt = 1;; attempt++) {
        try {
          await this.#adapter.publish([record]);
          this.#counts.deadLettered++;
          break;
        } catch (publishError) {
          this.#counts.deadLetterFailures++;
          this.events.emit("error", new Error(`dead letter to ${record.topic} failed`, { cause: publishError }));
          if (state.phase !== "active" || this.#lifecycle === "closed") return;
          await new Promise((resolve) => setTimeout(resolve, retryDelayMs(this.#settings.retry, attempt)));
        }
      }
    } finally {
      state.deadLettering--;
    }
    if (state.phase === "revoked") return this.#afterRelease();
    this.#finish(item);
  }

  #fail(): void {
    this.#failed = true;
    // Already closing: the reason still has to say the consumer failed.
    if (this.#pauseReason !== null) this.#pauseReason = "failed";
    void this.close().catch((error: unknown) => this.events.emit("error", error as Error));
  }

  /** The message is done for good: release its lane and move the commit position. */
  #finish(item: WorkItem, now: number = performance.now()): void {
    const state = item.partition;
    state.tracker.complete(item.offset);
    state.scheduler.release(item);
    state.held.delete(item.offset);
    state.heldBytes -= item.bytes;
    this.#budget.remove(1, item.bytes);
    this.#fetchToCompletionSeconds.observe((now - item.fetchedAt) / 1000);
    this.#joinRotation(state);
    this.#afterRelease();
  }

  #afterRelease(): void {
    const reason = this.#pauseReason;
    if ((reason === "maxInFlight" || reason === "maxInFlightBytes") && this.#budget.belowLowWater) {
      this.#setPaused(null);
    }
    this.#pump();
    this.#waiters.check();
  }

  #setPaused(reason: PauseReason): void {
    const wasPaused = this.#pauseReason !== null;
    this.#pauseReason = reason;
    if (reason !== null && !wasPaused) this.#adapter.pause();
    if (reason === null && wasPaused) this.#adapter.resume();
  }

  /** Nothing can make progress: no work running, ready, waiting to retry or being dead-lettered. */
  #isDrained(): boolean {
    if (this.#budget.messages === 0) return true;
    for (const state of this.#partitions.values()) {
      if (state.running > 0 || state.scheduler.readyCount > 0 || state.retryWaiting > 0 || state.deadLettering > 0) {
        return false;
      }
    }
    // Only messages waiting behind a failed key remain: they cannot make progress.
    return true;
  }
}

/**
 * Offsets are tracked as numbers: exact up to 2^53, which no real partition reaches. Converting
 * first and checking the number is cheaper than comparing bigints, and as strict: anything above
 * 2^53 - 1 converts to at least 2^53.
 */
function toSafeOffset(offset: bigint): number {
  const value = Number(offset);
  if (value < 0 || value > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(`offset ${offset} is outside the supported range 0..2^53-1`);
  }
  return value;
}
