import type { AdapterListener, KafkaAdapter, PartitionOffset } from "../adapters/adapter.ts";
import type { ExecutionEngine } from "../engines/engine.ts";
import { Emitter } from "./events.ts";
import { type ConsumerMessage, partitionId, type TopicPartition } from "./message.ts";
import type { ConsumerMetrics, PauseReason } from "./metrics.ts";
import { laneOf, type Ordering } from "./ordering.ts";
import { PartitionState, type WorkItem } from "./partition-state.ts";
import { retryDelayMs, type RetryPolicy } from "./retry-policy.ts";

/** What to do with a message whose retries are exhausted. */
export type FailurePolicy = "stop" | "skip";

/** Settings of the control plane, already validated. */
export interface ControlPlaneSettings {
  readonly ordering: Ordering;
  readonly maxInFlight: number;
  readonly retry: RetryPolicy;
  readonly failurePolicy: FailurePolicy;
  readonly commitIntervalMs: number;
  readonly drainTimeoutMs: number;
  readonly now?: () => number;
}

/** A message that failed all its attempts. */
export class MessageFailedError extends Error {
  override readonly name = "MessageFailedError";
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly attempts: number;
  constructor(message: ConsumerMessage, attempts: number, cause: unknown) {
    super(
      `handler failed ${attempts} time(s) for ${message.topic}[${message.partition}] at offset ${message.offset}`,
      { cause },
    );
    this.topic = message.topic;
    this.partition = message.partition;
    this.offset = message.offset;
    this.attempts = attempts;
  }
}

/** Events of a running consumer. */
export interface ConsumerEvents {
  /** A message failed for good, a commit failed, or the client failed. */
  error: (error: Error) => void;
  [name: string]: (payload: never) => void;
}

type Lifecycle = "idle" | "running" | "closing" | "closed";

const FINAL_COMMIT_ATTEMPTS = 3;

/**
 * The heart of the consumer: accepts fetched messages, runs them through the engine in the order
 * the ordering mode allows, tracks completions per partition, commits only contiguous progress,
 * and pauses fetching while too much is in flight. It knows neither the Kafka client nor where
 * handlers run.
 */
export class ControlPlane implements AdapterListener {
  readonly events: Emitter<ConsumerEvents> = new Emitter<ConsumerEvents>();
  readonly #settings: ControlPlaneSettings;
  readonly #adapter: KafkaAdapter;
  readonly #engine: ExecutionEngine;
  readonly #now: () => number;
  readonly #partitions = new Map<string, PartitionState>();
  /** Partitions with ready work, taking turns one message at a time. */
  readonly #rotation: PartitionState[] = [];
  #rotationHead = 0;
  readonly #retryTimers = new Set<ReturnType<typeof setTimeout>>();
  #lifecycle: Lifecycle = "idle";
  #inFlight = 0;
  #pauseReason: PauseReason = null;
  #commitTimer: ReturnType<typeof setInterval> | undefined;
  #commitRunning: Promise<void> | undefined;
  #closed: Promise<void> = Promise.resolve();
  #idleWaiters: (() => void)[] = [];
  #processedTotal = 0;
  #failedAttemptsTotal = 0;
  #commitsTotal = 0;
  #commitFailuresTotal = 0;

  constructor(settings: ControlPlaneSettings, adapter: KafkaAdapter, engine: ExecutionEngine) {
    this.#settings = settings;
    this.#adapter = adapter;
    this.#engine = engine;
    this.#now = settings.now ?? Date.now;
  }

  /** Joins the group and starts consuming. */
  async start(): Promise<void> {
    if (this.#lifecycle !== "idle") throw new Error("the consumer was already started");
    this.#lifecycle = "running";
    this.#commitTimer = setInterval(() => void this.commit(), this.#settings.commitIntervalMs);
    try {
      await this.#adapter.start(this);
    } catch (error) {
      clearInterval(this.#commitTimer);
      this.#lifecycle = "closed";
      throw error;
    }
  }

  /**
   * Stops fetching, lets accepted work finish for up to `drainTimeoutMs`, aborts what still runs,
   * commits the final positions and leaves the group. Safe to call more than once.
   */
  async close(): Promise<void> {
    if (this.#lifecycle === "closed" || this.#lifecycle === "idle") {
      this.#lifecycle = "closed";
      return;
    }
    if (this.#lifecycle === "closing") return this.#closed;
    this.#lifecycle = "closing";
    this.#closed = this.#shutdown();
    return this.#closed;
  }

  async #shutdown(): Promise<void> {
    this.#setPaused("closing");
    await this.#waitForIdle(this.#settings.drainTimeoutMs);
    clearInterval(this.#commitTimer);
    for (const timer of this.#retryTimers) clearTimeout(timer);
    this.#retryTimers.clear();
    for (const state of this.#partitions.values()) state.abort.abort(new Error("consumer closed"));
    const committed = await this.#commitFinal();
    try {
      await this.#adapter.close();
    } finally {
      await this.#engine.close();
      this.#lifecycle = "closed";
    }
    if (!committed) throw new Error("close: the final offset commit failed; completed work may run again");
  }

  /** The last commit before leaving the group matters most: try it a few times. */
  async #commitFinal(): Promise<boolean> {
    for (let attempt = 1; attempt <= FINAL_COMMIT_ATTEMPTS; attempt++) {
      await this.commit();
      if (![...this.#partitions.values()].some((state) => state.commitPending)) return true;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
    return false;
  }

  /** Commits every partition whose position moved. One commit runs at a time. */
  async commit(): Promise<void> {
    while (this.#commitRunning) await this.#commitRunning;
    const offsets: PartitionOffset[] = [];
    const states: [PartitionState, number][] = [];
    for (const state of this.#partitions.values()) {
      if (!state.commitPending) continue;
      const position = state.tracker.commitPosition!;
      offsets.push({ topic: state.topic, partition: state.partition, offset: BigInt(position) });
      states.push([state, position]);
    }
    if (offsets.length === 0) return;
    this.#commitRunning = this.#adapter.commit(offsets).then(
      () => {
        this.#commitsTotal++;
        for (const [state, position] of states) state.committedPosition = position;
      },
      (error: unknown) => {
        // Positions stay pending, so the next commit retries them.
        this.#commitFailuresTotal++;
        this.events.emit("error", new Error("offset commit failed", { cause: error }));
      },
    );
    try {
      await this.#commitRunning;
    } finally {
      this.#commitRunning = undefined;
    }
  }

  metrics(): ConsumerMetrics {
    let queued = 0;
    let processing = 0;
    const partitions = [];
    for (const state of this.#partitions.values()) {
      const metrics = state.metrics();
      queued += metrics.queuedCount;
      processing += metrics.inFlight;
      partitions.push(metrics);
    }
    return {
      totalInFlight: this.#inFlight,
      maxInFlight: this.#settings.maxInFlight,
      isPaused: this.#pauseReason !== null,
      pauseReason: this.#pauseReason,
      queued,
      processing,
      processedTotal: this.#processedTotal,
      failedAttemptsTotal: this.#failedAttemptsTotal,
      commitsTotal: this.#commitsTotal,
      commitFailuresTotal: this.#commitFailuresTotal,
      partitions,
    };
  }

  // ---- AdapterListener ----

  assigned(partitions: readonly TopicPartition[]): void {
    for (const { topic, partition } of partitions) this.#stateOf(topic, partition);
  }

  revoked(partitions: readonly TopicPartition[]): void {
    for (const { topic, partition } of partitions) {
      const id = partitionId(topic, partition);
      const state = this.#partitions.get(id);
      if (!state) continue;
      // Work of a revoked partition belongs to the new owner: drop it, fence late completions.
      state.revoked = true;
      state.abort.abort(new Error(`partition ${id} was revoked`));
      this.#partitions.delete(id);
      this.#inFlight -= state.tracker.pendingCount;
    }
    this.#afterRelease();
  }

  messages(batch: readonly ConsumerMessage[]): void {
    for (const message of batch) {
      const state = this.#stateOf(message.topic, message.partition);
      const offset = toSafeOffset(message.offset);
      // Fetching starts at the group's committed offset: nothing to commit until progress.
      state.committedPosition ??= offset;
      if (!state.tracker.track(offset)) continue;
      state.scheduler.enqueue({
        message,
        offset,
        lane: laneOf(this.#settings.ordering, message.key),
        partition: state,
        attempt: 0,
      });
      this.#inFlight++;
      this.#joinRotation(state);
    }
    if (this.#pauseReason === null && this.#inFlight >= this.#settings.maxInFlight) {
      this.#setPaused("maxInFlight");
    }
    this.#pump();
  }

  failed(error: Error): void {
    this.events.emit("error", error);
    void this.close();
  }

  // ---- scheduling ----

  #stateOf(topic: string, partition: number): PartitionState {
    const id = partitionId(topic, partition);
    let state = this.#partitions.get(id);
    if (!state) {
      state = new PartitionState(topic, partition, this.#now);
      this.#partitions.set(id, state);
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
    if (this.#lifecycle !== "running" && this.#lifecycle !== "closing") return;
    while (this.#engine.idleSlots > 0 && this.#rotationHead < this.#rotation.length) {
      const state = this.#rotation[this.#rotationHead++]!;
      state.inReadyRotation = false;
      if (state.revoked) continue;
      const item = state.scheduler.next();
      if (item) this.#run(item);
      this.#joinRotation(state);
    }
    if (this.#rotationHead === this.#rotation.length) {
      this.#rotation.length = 0;
      this.#rotationHead = 0;
    } else if (this.#rotationHead > 1024) {
      this.#rotation.splice(0, this.#rotationHead);
      this.#rotationHead = 0;
    }
  }

  #run(item: WorkItem): void {
    const state = item.partition;
    item.attempt++;
    state.running++;
    this.#engine.execute(item.message, { signal: state.abort.signal, attempt: item.attempt }).then(
      () => this.#succeeded(item),
      (error: unknown) => this.#attemptFailed(item, error),
    );
  }

  #succeeded(item: WorkItem): void {
    const state = item.partition;
    state.running--;
    if (state.revoked) return this.#pump();
    this.#processedTotal++;
    this.#finish(item);
  }

  #attemptFailed(item: WorkItem, error: unknown): void {
    const state = item.partition;
    state.running--;
    this.#failedAttemptsTotal++;
    if (state.revoked) return this.#pump();
    // While closing, a failed message stays incomplete: it runs again after the restart.
    if (this.#lifecycle !== "running") return this.#afterRelease();
    const { retry } = this.#settings;
    if (item.attempt <= retry.maxRetries) {
      state.retryWaiting++;
      const timer = setTimeout(() => {
        this.#retryTimers.delete(timer);
        state.retryWaiting--;
        if (state.revoked) return;
        state.scheduler.retry(item);
        this.#joinRotation(state);
        this.#pump();
      }, retryDelayMs(retry, item.attempt));
      this.#retryTimers.add(timer);
      return this.#pump();
    }
    const failure = new MessageFailedError(item.message, item.attempt, error);
    this.events.emit("error", failure);
    if (this.#settings.failurePolicy === "skip") return this.#finish(item);
    // "stop": the offset stays uncommitted so the message runs again after a restart.
    void this.close();
  }

  /** The message is done for good: release its lane and move the commit position. */
  #finish(item: WorkItem): void {
    const state = item.partition;
    state.tracker.complete(item.offset);
    state.scheduler.release(item);
    this.#joinRotation(state);
    this.#inFlight--;
    this.#afterRelease();
  }

  #afterRelease(): void {
    if (this.#pauseReason === "maxInFlight" && this.#inFlight <= this.#resumeThreshold()) {
      this.#setPaused(null);
    }
    this.#pump();
    if (this.#inFlight === 0 || this.#lifecycle === "closing") this.#notifyIfIdle();
  }

  /** Resume below 80% of the limit, so fetching does not flap at the boundary. */
  #resumeThreshold(): number {
    return Math.floor(this.#settings.maxInFlight * 0.8);
  }

  #setPaused(reason: PauseReason): void {
    const wasPaused = this.#pauseReason !== null;
    this.#pauseReason = reason;
    if (reason !== null && !wasPaused) this.#adapter.pause();
    if (reason === null && wasPaused) this.#adapter.resume();
  }

  /** Resolves when nothing is in flight (or, after a "stop" failure, nothing runs), or on timeout. */
  #waitForIdle(timeoutMs: number): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const waiter = (): void => done();
      this.#idleWaiters.push(waiter);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
    });
  }

  #isIdle(): boolean {
    if (this.#inFlight === 0) return true;
    for (const state of this.#partitions.values()) {
      if (state.running > 0 || state.scheduler.readyCount > 0 || state.retryWaiting > 0) return false;
    }
    // Only messages waiting behind a failed key remain: they cannot make progress.
    return true;
  }

  #notifyIfIdle(): void {
    if (this.#idleWaiters.length === 0 || !this.#isIdle()) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const waiter of waiters) waiter();
  }
}

/** Offsets are tracked as numbers: exact up to 2^53, which no real partition reaches. */
function toSafeOffset(offset: bigint): number {
  if (offset < 0n || offset > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`offset ${offset} is outside the supported range 0..2^53-1`);
  }
  return Number(offset);
}
