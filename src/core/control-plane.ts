import type { AdapterListener, AssignedPartition, KafkaAdapter } from "./ports/kafka-adapter.ts";
import type { ExecutionEngine } from "./ports/execution-engine.ts";
import { Attempt } from "./attempt.ts";
import { InFlightBudget } from "./backpressure.ts";
import type { Clock, Timer } from "./clock.ts";
import { Committer } from "./committer.ts";
import { Delays } from "./delays.ts";
import { type ConsumerEvents, describeStall, type StallEvent } from "./consumer-events.ts";
import { deadLetterRecord } from "./dead-letter.ts";
import {
  BlockedTooLongError,
  CommitFailedError,
  ConsumerClosedError,
  DeadLetterFailedError,
  KafkaClientError,
  LifecycleError,
  PyrallelError,
  EngineFailedError,
  MessageFailedError,
  PartitionRevokedError,
  PoisonKeyError,
} from "./errors.ts";
import { Emitter } from "./emitter.ts";
import { Histogram } from "./histogram.ts";
import type { ConsumerMessage, TopicPartition } from "./message.ts";
import type { ConsumerMetrics, PartitionMetrics, PauseReason } from "./metrics-snapshot.ts";
import { decodeOffsetMap } from "./offset-map.ts";
import { laneOf } from "./partition-scheduler.ts";
import { PartitionMap } from "./partition-map.ts";
import { PartitionState, type WorkItem } from "./partition-state.ts";
import { PoisonKeys } from "./poison-keys.ts";
import { Queue } from "./queue.ts";
import { retryDelayMs } from "./retry-policy.ts";
import type { ControlPlaneSettings } from "./settings.ts";
import { toError } from "./thrown.ts";
import { Waiters } from "./waiters.ts";

/** `starting`: start() runs; `closing`: close() drains and commits; both end in `closed` or `running`. */
type Lifecycle = "idle" | "starting" | "running" | "closing" | "closed";

const FINAL_COMMIT_ATTEMPTS = 3;

/**
 * The heart of the consumer: accepts fetched messages, runs them through the engine in the order
 * the ordering mode allows, tracks completions per partition, commits only contiguous progress
 * (with an offset map of what is done above it), and pauses fetching while too much is held. It
 * knows neither the Kafka client nor where handlers run.
 */
export class ControlPlane implements AdapterListener {
  readonly events: Emitter<ConsumerEvents> = new Emitter<ConsumerEvents>();
  readonly #settings: ControlPlaneSettings;
  readonly #adapter: KafkaAdapter;
  readonly #engine: ExecutionEngine;
  readonly #clock: Clock;
  readonly #now: () => number;
  readonly #budget: InFlightBudget;
  readonly #committer: Committer;
  readonly #partitions = new PartitionMap<PartitionState>();
  /** Partitions with ready work, taking turns one message at a time. */
  readonly #rotation = new Queue<PartitionState>();
  /** Retry delays and dead-letter backoffs: each ends early (with `false`) when the consumer shuts down. */
  readonly #delays: Delays;
  /** The drain of each revoked partition still running: close and a returning partition wait for it. */
  readonly #draining = new PartitionMap<Promise<void>>();
  /** Conditions awaited by close and revocations, checked whenever work finishes. */
  readonly #waiters: Waiters;
  #lifecycle: Lifecycle = "idle";
  /** close() was called while start() ran: start rejects, close shuts down what started. */
  #closeRequested = false;
  #starting: Promise<void> = Promise.resolve();
  #failed = false;
  /** Cleared when close() stops waiting or the engine failed: from then on nothing new starts. */
  #startingWork = true;
  #pauseReason: PauseReason = null;
  #tick: Timer | undefined;
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
    this.#clock = settings.clock;
    this.#now = () => this.#clock.now();
    this.#waiters = new Waiters(settings.clock);
    this.#delays = new Delays(settings.clock);
    this.#budget = new InFlightBudget(settings.maxInFlight, settings.maxInFlightBytes);
    this.#committer = new Committer(adapter, settings.maxCommitMetadataBytes, settings.clock, (error) => {
      this.events.emit("error", error);
    });
  }

  // ---- lifecycle ----

  /** Starts the engine, joins the group and starts consuming. */
  start(): Promise<void> {
    if (this.#lifecycle !== "idle") return Promise.reject(new LifecycleError("the consumer was already started"));
    this.#lifecycle = "starting";
    const started = this.#startUp();
    this.#starting = started.then(() => undefined, () => undefined);
    return started;
  }

  async #startUp(): Promise<void> {
    try {
      await this.#engine.start();
      if (this.#closeRequested) throw this.#closedWhileStarting();
      await this.#adapter.start(this);
    } catch (error) {
      this.#lifecycle = "closed";
      // Worker threads keep a process alive: release everything even though nothing ran.
      await this.#adapter.close().catch(() => {});
      await this.#engine.close().catch(() => {});
      throw error;
    }
    this.#lifecycle = "running";
    this.#scheduleTick();
    if (this.#closeRequested) throw this.#closedWhileStarting();
  }

  #closedWhileStarting(): LifecycleError {
    return new LifecycleError(
      this.#failed
        ? "the consumer failed while starting (its error event says why) and is closed"
        : "close() was called while start() was in progress: the consumer is closed",
    );
  }

  /**
   * Stops fetching, lets accepted work finish for up to `drainTimeoutMs`, aborts what still runs,
   * commits the final positions and leaves the group. Safe to call more than once, and while
   * start() is in progress (start then rejects).
   */
  close(): Promise<void> {
    switch (this.#lifecycle) {
      case "idle":
        this.#lifecycle = "closed";
        this.#closed = this.#engine.close();
        break;
      case "starting":
        if (!this.#closeRequested) {
          this.#closeRequested = true;
          // Cuts a join in progress short (a join may retry for a while); start() then rejects.
          void this.#adapter.close().catch(() => {});
          this.#closed = this.#starting.then(() => (this.#lifecycle === "running" ? this.close() : undefined));
        }
        break;
      case "running":
        this.#lifecycle = "closing";
        this.#closed = this.#shutdown();
        break;
    }
    return this.#closed;
  }

  async #shutdown(): Promise<void> {
    this.#setPaused(this.#failed ? "failed" : "closing");
    await this.#waiters.until(() => this.#isDrained(), this.#settings.drainTimeoutMs);
    // The drain time is over: queued work stays queued (it runs again after a restart).
    this.#startingWork = false;
    this.#advanceFetchPositions();
    this.#clock.clearTimeout(this.#tick);
    this.#delays.cancelAll();
    for (const state of this.#partitions.values()) this.#abortRunning(state, new ConsumerClosedError());
    await this.#drained();
    const failure = await this.#committer.commitUntilClean(() => this.#partitions.values(), FINAL_COMMIT_ATTEMPTS);
    try {
      await this.#adapter.close();
    } finally {
      // A rebalance during the final commit may have revoked partitions: nothing waits for them now.
      this.#waiters.releaseAll();
      await this.#drained();
      await this.#engine.close();
      this.#lifecycle = "closed";
    }
    if (failure) {
      throw new CommitFailedError(failure.partitions, {
        cause: failure.cause,
        context: "close: the final offset commit failed; completed work may run again",
      });
    }
  }

  #scheduleTick(): void {
    this.#tick = this.#clock.setTimeout(() => {
      if (this.#lifecycle !== "running" && this.#lifecycle !== "closing") return;
      this.#checkBlocking();
      this.#advanceFetchPositions();
      for (const state of this.#partitions.values()) state.poison?.prune();
      void this.commit();
      this.#scheduleTick();
    }, this.#settings.commitIntervalMs);
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
    for (const { topic, partition, committedOffset, committedMetadata, startOffset } of partitions) {
      const state = this.#stateOf(topic, partition);
      state.assigned = true;
      const position = toSafeOffset(startOffset);
      // The map is trusted only beside the offset it was written with.
      const done = committedOffset === startOffset
        ? decodeOffsetMap(committedMetadata, position, this.#settings.maxUncommittedOffsets)
        : [];
      state.tracker.seed(position, done);
      // Without a committed offset, the start position is committed on the next tick.
      if (committedOffset !== null) {
        state.committedPosition = toSafeOffset(committedOffset);
        state.committedVersion = state.tracker.version;
      }
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
    for (const { topic, partition } of states) {
      // An earlier ownership may still drain too (revoked again before it started): wait for both.
      const earlier = this.#draining.get(topic, partition);
      const drained = earlier === undefined ? revocation : Promise.all([earlier, revocation]).then(() => {});
      this.#draining.set(topic, partition, drained);
      void drained.then(() => {
        if (this.#draining.get(topic, partition) === drained) this.#draining.delete(topic, partition);
      });
    }
  }

  /** Resolves once every revoked partition has drained. */
  async #drained(): Promise<void> {
    while (this.#draining.size > 0) await Promise.all([...this.#draining.values()]);
  }

  /**
   * Gives running work `maxRevokeGraceMs` to finish before its attempts abort, then drops the
   * state. Nothing is committed for a revoked partition: the revoke is known only once the new
   * owner may be committing, and a late commit would move the group's offset backwards. The
   * commit at the start of the rebalance (`rebalancing`) is the last one this member makes.
   */
  async #drainRevoked(states: readonly PartitionState[]): Promise<void> {
    await this.#waiters.until(() => states.every((state) => state.running === 0), this.#settings.maxRevokeGraceMs);
    for (const state of states) {
      state.phase = "revoked";
      this.#abortRunning(state, new PartitionRevokedError(state.topic, state.partition));
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
    const fetchedAt = this.#now();
    const windowLimit = this.#settings.maxUncommittedOffsets;
    let state: PartitionState | undefined;
    for (const message of batch) {
      // A batch is mostly runs of one partition.
      if (state?.partition !== message.partition || state.topic !== message.topic) {
        if (state) this.#checkWindow(state, windowLimit);
        state = this.#stateOf(message.topic, message.partition);
      }
      const offset = toSafeOffset(message.offset);
      // Never announced (an adapter that does not announce): nothing before the first offset to commit.
      if (!state.assigned) state.committedPosition ??= offset;
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
    if (state) this.#checkWindow(state, windowLimit);
    const limit = this.#budget.limitReached;
    if (this.#pauseReason === null && limit) this.#setPaused(limit);
    this.#pump();
  }

  failed(error: Error): void {
    this.events.emit("error", new KafkaClientError(error));
    this.#fail();
  }

  // ---- periodic checks ----

  /** Lets commits pass offsets the client skipped (transaction markers), once all below are delivered. */
  #advanceFetchPositions(): void {
    for (const { topic, partition, position } of this.#adapter.fetchPositions()) {
      this.#partitions.get(topic, partition)?.tracker.advanceTo(toSafeOffset(position));
    }
  }

  /** Per partition: aborts a blocker running past `maxBlockingMs`, reports a stall once per offset. */
  #checkBlocking(): void {
    for (const state of this.#partitions.values()) {
      const offset = state.tracker.blockingOffset;
      if (offset === null) continue;
      this.#abortIfBlockedTooLong(state, offset);
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
   * Gives up on the blocker's running attempt: its signal aborts, and once the handler returns the
   * attempt counts as failed (retry/DLQ path). A function cannot be stopped, so the retry waits for
   * it: two attempts of one message never run at once.
   */
  #abortIfBlockedTooLong(state: PartitionState, offset: number): void {
    const limit = this.#settings.maxBlockingMs;
    const attempt = state.held.get(offset)?.running;
    if (limit === undefined || attempt === undefined || attempt.aborted) return;
    if (this.#now() - attempt.startedAt >= limit) attempt.abort(new BlockedTooLongError(limit));
  }

  // ---- scheduling ----

  #stateOf(topic: string, partition: number): PartitionState {
    let state = this.#partitions.get(topic, partition);
    if (!state) {
      const { poisonKey } = this.#settings;
      state = new PartitionState(topic, partition, this.#now, poisonKey && new PoisonKeys(poisonKey, this.#now));
      this.#partitions.set(topic, partition, state);
      this.#afterDrainOf(state);
    }
    return state;
  }

  /**
   * A partition that comes back while its previous ownership still drains starts no work until
   * that drain ends (bounded by `maxRevokeGraceMs`): two epochs never run a key at once here.
   */
  #afterDrainOf(state: PartitionState): void {
    const draining = this.#draining.get(state.topic, state.partition);
    if (draining === undefined) return;
    state.waitingForDrain = true;
    void draining.then(() => {
      state.waitingForDrain = false;
      this.#joinRotation(state);
      this.#pump();
    });
  }

  /** Stops fetching a partition whose uncommitted window is full, and fetches it again once it shrank. */
  #checkWindow(state: PartitionState, limit: number): void {
    const crossed = state.windowCrossed(limit);
    if (crossed === true) this.#adapter.pause([state]);
    else if (crossed === false && state.phase === "active") this.#adapter.resume([state]);
  }

  #joinRotation(state: PartitionState): void {
    if (state.inReadyRotation || state.scheduler.readyCount === 0) return;
    state.inReadyRotation = true;
    this.#rotation.push(state);
  }

  /** Starts ready work while the engine has room, one message per partition per turn. */
  #pump(): void {
    if (!this.#startingWork || (this.#lifecycle !== "running" && this.#lifecycle !== "closing")) return;
    while (this.#engine.idleSlots > 0) {
      const state = this.#rotation.shift();
      if (state === undefined) break;
      state.inReadyRotation = false;
      if (state.phase !== "active" || state.waitingForDrain) continue;
      const item = state.mapFull ? this.#nextBlocking(state) : state.scheduler.next();
      if (item && item.lane !== null && state.poison?.isCooling(item.lane)) {
        const cooling = new PoisonKeyError(this.#settings.poisonKey!.cooldownMs);
        queueMicrotask(() => this.#exhausted(item, cooling, false));
      } else if (item) {
        this.#run(item);
      }
      // A map-throttled partition waits for a commit (which pumps) instead of spinning here.
      if (!state.mapFull) this.#joinRotation(state);
    }
  }

  /** While the offset map is full, only the blocking offset may start: it is what shrinks the map. */
  #nextBlocking(state: PartitionState): WorkItem | undefined {
    const blocking = state.tracker.blockingOffset;
    return blocking === null ? undefined : state.scheduler.nextMatching((item) => item.offset === blocking);
  }

  #run(item: WorkItem): void {
    const state = item.partition;
    const attempt = new Attempt(++item.attempt, this.#now());
    item.running = attempt;
    state.running++;
    let outcome: Promise<void>;
    try {
      outcome = this.#engine.execute(item.message, attempt);
    } catch (error) {
      outcome = Promise.reject(error);
    }
    outcome.then(
      () => this.#settled(item, attempt, false, undefined),
      (error: unknown) => this.#settled(item, attempt, true, error),
    );
  }

  /**
   * An attempt ended. An aborted attempt (timeout, blocked too long, closing, revoked) counts as
   * failed even when its handler returned normally: a handler that gives up on its signal must not
   * have its message counted as done.
   */
  #settled(item: WorkItem, attempt: Attempt, failed: boolean, error: unknown): void {
    const ended = this.#now();
    this.#handlerSeconds.observe((ended - attempt.startedAt) / 1000);
    if (item.running !== attempt) return;
    item.running = undefined;
    const state = item.partition;
    state.running--;
    if (error instanceof EngineFailedError) return this.#engineFailed(item, error);
    if (!failed && !attempt.aborted) return this.#succeeded(item, ended);
    this.#attemptFailed(item, attempt.aborted ? attempt.reason : error);
  }

  /** The engine cannot run handlers: the consumer stops; the message was not attempted. */
  #engineFailed(item: WorkItem, error: EngineFailedError): void {
    item.attempt--;
    item.partition.scheduler.retry(item);
    if (this.#startingWork) {
      this.#startingWork = false;
      this.events.emit("error", error);
      this.#fail();
    }
    this.#afterRelease();
  }

  #succeeded(item: WorkItem, ended: number): void {
    if (item.partition.phase === "revoked") return this.#pump();
    this.#counts.processed++;
    this.#finish(item, ended);
  }

  #attemptFailed(item: WorkItem, error: unknown): void {
    const state = item.partition;
    this.#counts.failedAttempts++;
    if (state.phase === "revoked") return this.#pump();
    // While closing or revoking, a failed message stays incomplete: it runs again later.
    if (this.#lifecycle !== "running" || state.phase !== "active") return this.#afterRelease();
    const { retry } = this.#settings;
    if (item.attempt > retry.maxRetries) return this.#exhausted(item, error, true);
    this.#counts.retries++;
    state.retryWaiting++;
    void this.#delays.wait(retryDelayMs(retry, item.attempt, this.#settings.random)).then((fired) => {
      state.retryWaiting--;
      if (!fired || state.phase !== "active") return this.#afterRelease();
      state.scheduler.retry(item);
      this.#joinRotation(state);
      this.#pump();
    });
    this.#pump();
  }

  /**
   * Retries are used up, or the message was refused without running (a cooling poison key): the
   * failure policy decides, and the failure is always reported. Only messages that ran count
   * towards a key's cooldown.
   */
  #exhausted(item: WorkItem, error: unknown, ran: boolean): void {
    if (ran && item.lane !== null) item.partition.poison?.recordFailure(item.lane);
    const attempts = ran ? item.attempt : 0;
    this.events.emit("error", new MessageFailedError(item.message, attempts, error));
    switch (this.#settings.failurePolicy) {
      case "skip":
        this.#counts.skipped++;
        return this.#finish(item);
      case "deadLetter":
        return void this.#deadLetter(item, error, attempts);
      case "stop":
        // The offset stays uncommitted so the message runs again after a restart.
        return this.#fail();
    }
  }

  /**
   * Publishes the dead letter, retrying with backoff while the partition is owned and the
   * consumer still works; the offset completes only once the broker acknowledged it, so until
   * then it is the blocking offset.
   */
  async #deadLetter(item: WorkItem, error: unknown, attempts: number): Promise<void> {
    const state = item.partition;
    state.deadLettering++;
    const record = deadLetterRecord(this.#settings.deadLetter!, item.message, attempts, error);
    try {
      for (let attempt = 1;; attempt++) {
        try {
          await this.#adapter.publish([record]);
          this.#counts.deadLettered++;
          break;
        } catch (publishError) {
          this.#counts.deadLetterFailures++;
          this.events.emit("error", new DeadLetterFailedError(record.topic, publishError));
          if (state.phase !== "active" || !this.#startingWork) return;
          if (!(await this.#delays.wait(retryDelayMs(this.#settings.retry, attempt, this.#settings.random)))) return;
          if (state.phase !== "active" || !this.#startingWork) return;
        }
      }
    } finally {
      state.deadLettering--;
      this.#waiters.check();
    }
    if (state.phase === "revoked") return this.#afterRelease();
    this.#finish(item);
  }

  #fail(): void {
    this.#failed = true;
    // Already closing: the reason still has to say the consumer failed.
    if (this.#pauseReason !== null) this.#pauseReason = "failed";
    void this.close().catch((error: unknown) => this.events.emit("error", asCloseFailure(error)));
  }

  /** Aborts every running attempt of a partition (closing, or its revoke grace is over). */
  #abortRunning(state: PartitionState, reason: Error): void {
    if (state.running === 0) return;
    for (const item of state.held.values()) item.running?.abort(reason);
  }

  /** The message is done for good: release its lane and move the commit position. */
  #finish(item: WorkItem, now: number = this.#now()): void {
    const state = item.partition;
    state.tracker.complete(item.offset);
    state.scheduler.release(item);
    state.held.delete(item.offset);
    state.heldBytes -= item.bytes;
    this.#budget.remove(1, item.bytes);
    this.#fetchToCompletionSeconds.observe((now - item.fetchedAt) / 1000);
    if (state.windowFull) this.#checkWindow(state, this.#settings.maxUncommittedOffsets);
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

  /**
   * Nothing can make progress: no work running or being dead-lettered, and (while work may still
   * start) none ready or waiting to retry.
   */
  #isDrained(): boolean {
    if (this.#budget.messages === 0) return true;
    for (const state of this.#partitions.values()) {
      if (state.running > 0 || state.deadLettering > 0) return false;
      if (this.#startingWork && (state.scheduler.readyCount > 0 || state.retryWaiting > 0)) return false;
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

/** A failure of close() as an `error` event: the final commit's own error, else the client's. */
function asCloseFailure(error: unknown): PyrallelError {
  if (error instanceof PyrallelError) return error;
  return new KafkaClientError(toError(error));
}
