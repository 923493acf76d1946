import type { AdapterListener, AssignedPartition, KafkaAdapter } from "../adapters/adapter.ts";
import type { ExecutionEngine } from "../engines/engine.ts";
import { InFlightBudget } from "./backpressure.ts";
import { deadLetterRecord, type DeadLetterSettings } from "./dead-letter.ts";
import { Emitter } from "./events.ts";
import { Histogram } from "./histogram.ts";
import { type ConsumerMessage, partitionId, type TopicPartition } from "./message.ts";
import type { ConsumerMetrics, PartitionMetrics, PauseReason } from "./metrics.ts";
import { decodeOffsetMap } from "./offset-map.ts";
import { laneOf, type Ordering } from "./ordering.ts";
import { PartitionState, type PreparedCommit, type WorkItem } from "./partition-state.ts";
import { retryDelayMs, type RetryPolicy } from "./retry-policy.ts";

/**
 * What to do with a message whose retries are exhausted: publish it to the dead-letter topic and
 * go on, `stop` the consumer (the offset stays uncommitted), or `skip` it. All emit `error`.
 */
export type FailurePolicy = "deadLetter" | "stop" | "skip";

/** Repeated final failures of one key open a cooldown in which its messages fail without running. */
export interface PoisonKeySettings {
  readonly maxFailures: number;
  readonly cooldownMs: number;
}

/** Settings of the control plane, already validated. */
export interface ControlPlaneSettings {
  readonly ordering: Ordering;
  readonly maxInFlight: number;
  readonly maxInFlightBytes: number;
  readonly retry: RetryPolicy;
  readonly failurePolicy: FailurePolicy;
  /** Required when `failurePolicy` is `deadLetter`. */
  readonly deadLetter?: DeadLetterSettings;
  /** A running message that blocks its partition's commit this long is failed (retry/DLQ path). */
  readonly maxBlockingMs?: number;
  readonly poisonKey?: PoisonKeySettings;
  readonly commitIntervalMs: number;
  readonly maxCommitMetadataBytes: number;
  readonly drainTimeoutMs: number;
  readonly maxRevokeGraceMs: number;
  /** A blocking offset held longer than this is reported as a stall. */
  readonly stallThresholdMs: number;
  readonly logger: Logger;
  readonly now?: () => number;
}

/** Where the consumer writes its few log lines (stalls, failed commits). */
export interface Logger {
  warn(message: string): void;
}

/** A partition whose commit has been held by one offset for longer than `stallThresholdMs`. */
export interface StallEvent {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  /** Key of the blocking message: the likely poison pill. */
  readonly key: Uint8Array | null;
  readonly blockingDurationSec: number;
}

/** A message that ran longer than `maxBlockingMs` while holding its partition's commit. */
export class BlockedTooLongError extends Error {
  override readonly name = "BlockedTooLongError";
  constructor(maxBlockingMs: number) {
    super(`message blocked its partition's commit for more than maxBlockingMs (${maxBlockingMs} ms)`);
  }
}

/** A message of a key in poison-key cooldown: it takes the failure path without running. */
export class PoisonKeyError extends Error {
  override readonly name = "PoisonKeyError";
  constructor(cooldownMs: number) {
    super(`its key failed repeatedly and is cooling down for ${cooldownMs} ms`);
  }
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
  /** An offset has blocked its partition's commit for longer than `stallThresholdMs`. */
  stall: (event: StallEvent) => void;
  [name: string]: (payload: never) => void;
}

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
  readonly #partitions = new Map<string, PartitionState>();
  /** Partitions with ready work, taking turns one message at a time. */
  readonly #rotation: PartitionState[] = [];
  #rotationHead = 0;
  readonly #retryTimers = new Set<ReturnType<typeof setTimeout>>();
  /** Revoked partitions still draining, until their final commit. */
  readonly #revocations = new Set<Promise<void>>();
  /** Conditions someone awaits, checked whenever work finishes. */
  #waiters: { condition: () => boolean; resolve: () => void }[] = [];
  #lifecycle: Lifecycle = "idle";
  #failed = false;
  #pauseReason: PauseReason = null;
  #commitTimer: ReturnType<typeof setInterval> | undefined;
  #commitRunning: Promise<void> | undefined;
  #closed: Promise<void> = Promise.resolve();
  #processedTotal = 0;
  #failedAttemptsTotal = 0;
  #commitsTotal = 0;
  #commitFailuresTotal = 0;
  #stallsTotal = 0;
  #retriesTotal = 0;
  #deadLetteredTotal = 0;
  #deadLetterFailuresTotal = 0;
  #skippedTotal = 0;
  readonly #handlerSeconds = new Histogram();
  readonly #fetchToCompletionSeconds = new Histogram();

  constructor(settings: ControlPlaneSettings, adapter: KafkaAdapter, engine: ExecutionEngine) {
    this.#settings = settings;
    this.#adapter = adapter;
    this.#engine = engine;
    this.#now = settings.now ?? Date.now;
    this.#budget = new InFlightBudget(settings.maxInFlight, settings.maxInFlightBytes);
  }

  /** Joins the group and starts consuming. */
  async start(): Promise<void> {
    if (this.#lifecycle !== "idle") throw new Error("the consumer was already started");
    this.#lifecycle = "running";
    this.#commitTimer = setInterval(() => {
      this.#checkBlocking();
      this.#advanceFetchPositions();
      void this.commit();
    }, this.#settings.commitIntervalMs);
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
  close(): Promise<void> {
    if (this.#lifecycle === "idle") this.#lifecycle = "closed";
    if (this.#lifecycle === "running") {
      this.#lifecycle = "closing";
      this.#closed = this.#shutdown();
    }
    return this.#closed;
  }

  async #shutdown(): Promise<void> {
    this.#setPaused(this.#failed ? "failed" : "closing");
    await this.#waitUntil(() => this.#isDrained(), this.#settings.drainTimeoutMs);
    this.#advanceFetchPositions();
    clearInterval(this.#commitTimer);
    for (const timer of this.#retryTimers) clearTimeout(timer);
    this.#retryTimers.clear();
    for (const state of this.#partitions.values()) state.abort.abort(new Error("consumer closed"));
    await Promise.all(this.#revocations);
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

  /** Commits every owned partition whose position or offset map changed. */
  commit(): Promise<void> {
    return this.#commitStates([...this.#partitions.values()]);
  }

  /** One commit request at a time, so an older position never lands after a newer one. */
  async #commitStates(states: readonly PartitionState[]): Promise<void> {
    while (this.#commitRunning) await this.#commitRunning;
    const prepared: [PartitionState, PreparedCommit][] = [];
    for (const state of states) {
      const commit = state.prepareCommit(this.#settings.maxCommitMetadataBytes);
      if (commit) prepared.push([state, commit]);
    }
    if (prepared.length === 0) return;
    this.#commitRunning = this.#adapter.commit(prepared.map(([, commit]) => commit.offset)).then(
      () => {
        this.#commitsTotal++;
        for (const [state, commit] of prepared) state.acknowledge(commit);
      },
      (error: unknown) => {
        // The positions stay pending, so the next commit sends them again.
        this.#commitFailuresTotal++;
        this.events.emit("error", new Error("offset commit failed", { cause: error }));
      },
    );
    try {
      await this.#commitRunning;
    } finally {
      this.#commitRunning = undefined;
      // The map size may have fallen below the threshold: a throttled partition may start again.
      for (const [state] of prepared) this.#joinRotation(state);
      this.#pump();
    }
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
    return {
      totalInFlight: this.#budget.messages,
      maxInFlight: this.#settings.maxInFlight,
      inFlightBytes: this.#budget.bytes,
      maxInFlightBytes: this.#settings.maxInFlightBytes,
      isPaused: this.#pauseReason !== null,
      pauseReason: this.#pauseReason,
      queued,
      processing,
      processedTotal: this.#processedTotal,
      failedAttemptsTotal: this.#failedAttemptsTotal,
      commitsTotal: this.#commitsTotal,
      commitFailuresTotal: this.#commitFailuresTotal,
      stallsTotal: this.#stallsTotal,
      retriesTotal: this.#retriesTotal,
      deadLetteredTotal: this.#deadLetteredTotal,
      deadLetterFailuresTotal: this.#deadLetterFailuresTotal,
      skippedTotal: this.#skippedTotal,
      handlerSeconds: this.#handlerSeconds.snapshot(),
      fetchToCompletionSeconds: this.#fetchToCompletionSeconds.snapshot(),
      partitions,
    };
  }

  /** Lets commits pass offsets the client skipped (transaction markers), once all below are delivered. */
  #advanceFetchPositions(): void {
    for (const { topic, partition, position } of this.#adapter.fetchPositions()) {
      this.#partitions.get(partitionId(topic, partition))?.tracker.advanceTo(toSafeOffset(position));
    }
  }

  /** Per partition: reports a stall, and fails a blocker running past `maxBlockingMs`. */
  #checkBlocking(): void {
    for (const state of this.#partitions.values()) {
      const offset = state.tracker.blockingOffset;
      if (offset === null) continue;
      this.#failIfBlockedTooLong(state, offset);
      if (offset === state.stallReportedOffset) continue;
      const blockedMs = state.tracker.blockingDurationMs();
      if (blockedMs < this.#settings.stallThresholdMs) continue;
      state.stallReportedOffset = offset;
      this.#stallsTotal++;
      const event: StallEvent = {
        topic: state.topic,
        partition: state.partition,
        offset: BigInt(offset),
        key: state.held.get(offset)?.message.key ?? null,
        blockingDurationSec: blockedMs / 1000,
      };
      this.#settings.logger.warn(
        `pyrallel: ${event.topic}[${event.partition}] commit blocked at offset ${event.offset} ` +
          `(key ${describeKey(event.key)}) for ${event.blockingDurationSec.toFixed(1)} s: ` +
          `its handler may be stuck (a poison pill?)`,
      );
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
      const id = partitionId(topic, partition);
      const state = this.#partitions.get(id);
      if (!state) continue;
      // A new assignment of the same partition gets a fresh state; this one only drains.
      this.#partitions.delete(id);
      state.phase = "revoking";
      states.push(state);
    }
    if (states.length === 0) return;
    const revocation = this.#drainRevoked(states);
    this.#revocations.add(revocation);
    void revocation.finally(() => this.#revocations.delete(revocation));
  }

  /** Gives running work `maxRevokeGraceMs`, commits what completed, then drops the state. */
  async #drainRevoked(states: readonly PartitionState[]): Promise<void> {
    await this.#waitUntil(() => states.every((state) => state.running === 0), this.#settings.maxRevokeGraceMs);
    for (const state of states) {
      state.phase = "revoked";
      state.abort.abort(new Error(`partition ${state.topic}[${state.partition}] was revoked`));
      this.#budget.remove(state.held.size, state.heldBytes);
    }
    await this.#commitStates(states);
    this.#afterRelease();
  }

  rebalancing(): void {
    void this.commit();
  }

  messages(batch: readonly ConsumerMessage[]): void {
    for (const message of batch) {
      const state = this.#stateOf(message.topic, message.partition);
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
        fetchedAt: performance.now(),
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
      if (state.phase !== "active") continue;
      const item = state.mapFull ? this.#nextBlocking(state) : state.scheduler.next();
      if (item && this.#inPoisonCooldown(item)) {
        const cooldown = new PoisonKeyError(this.#settings.poisonKey!.cooldownMs);
        queueMicrotask(() => this.#exhausted(item, cooldown));
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
        this.#handlerSeconds.observe((performance.now() - run.startedAt) / 1000);
        if (item.running !== run) return;
        item.running = undefined;
        this.#succeeded(item);
      },
      (error: unknown) => {
        this.#handlerSeconds.observe((performance.now() - run.startedAt) / 1000);
        if (item.running !== run) return;
        item.running = undefined;
        this.#attemptFailed(item, error);
      },
    );
  }

  #succeeded(item: WorkItem): void {
    const state = item.partition;
    state.running--;
    if (state.phase === "revoked") return this.#pump();
    this.#processedTotal++;
    this.#finish(item);
  }

  #attemptFailed(item: WorkItem, error: unknown): void {
    const state = item.partition;
    state.running--;
    this.#failedAttemptsTotal++;
    if (state.phase === "revoked") return this.#pump();
    // While closing or revoking, a failed message stays incomplete: it runs again later.
    if (this.#lifecycle !== "running" || state.phase !== "active") return this.#afterRelease();
    const { retry } = this.#settings;
    if (item.attempt <= retry.maxRetries && !(error instanceof PoisonKeyError)) {
      this.#retriesTotal++;
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
      return this.#pump();
    }
    this.#exhausted(item, error);
  }

  /** Retries are used up: the failure policy decides, and the failure is always reported. */
  #exhausted(item: WorkItem, error: unknown): void {
    this.#notePoisonFailure(item);
    this.events.emit("error", new MessageFailedError(item.message, item.attempt, error));
    switch (this.#settings.failurePolicy) {
      case "skip":
        this.#skippedTotal++;
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
          this.#deadLetteredTotal++;
          break;
        } catch (publishError) {
          this.#deadLetterFailuresTotal++;
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

  /** Counts a final failure against the item's key; enough of them open the key's cooldown. */
  #notePoisonFailure(item: WorkItem): void {
    const poison = this.#settings.poisonKey;
    if (!poison || item.lane === null || this.#settings.ordering !== "key") return;
    const lanes = item.partition.poisonLanes;
    const entry = lanes.get(item.lane) ?? { failures: 0, coolUntil: 0 };
    entry.failures++;
    if (entry.failures >= poison.maxFailures) {
      entry.failures = 0;
      entry.coolUntil = this.#now() + poison.cooldownMs;
    }
    lanes.set(item.lane, entry);
  }

  #inPoisonCooldown(item: WorkItem): boolean {
    if (item.lane === null || !this.#settings.poisonKey) return false;
    const entry = item.partition.poisonLanes.get(item.lane);
    return entry !== undefined && entry.coolUntil > this.#now();
  }

  #fail(): void {
    this.#failed = true;
    void this.close().catch((error: unknown) => this.events.emit("error", error as Error));
  }

  /** The message is done for good: release its lane and move the commit position. */
  #finish(item: WorkItem): void {
    const state = item.partition;
    state.tracker.complete(item.offset);
    state.scheduler.release(item);
    state.held.delete(item.offset);
    state.heldBytes -= item.bytes;
    this.#fetchToCompletionSeconds.observe((performance.now() - item.fetchedAt) / 1000);
    this.#budget.remove(1, item.bytes);
    this.#joinRotation(state);
    this.#afterRelease();
  }

  #afterRelease(): void {
    const reason = this.#pauseReason;
    if ((reason === "maxInFlight" || reason === "maxInFlightBytes") && this.#budget.belowLowWater) {
      this.#setPaused(null);
    }
    this.#pump();
    if (this.#waiters.length > 0) this.#checkWaiters();
  }

  #setPaused(reason: PauseReason): void {
    const wasPaused = this.#pauseReason !== null;
    this.#pauseReason = reason;
    if (reason !== null && !wasPaused) this.#adapter.pause();
    if (reason === null && wasPaused) this.#adapter.resume();
  }

  /** Resolves once `condition` holds (checked as work finishes), or after `timeoutMs`. */
  #waitUntil(condition: () => boolean, timeoutMs: number): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = {
        condition,
        resolve: () => {
          clearTimeout(timer);
          this.#waiters = this.#waiters.filter((other) => other !== waiter);
          resolve();
        },
      };
      const timer = setTimeout(waiter.resolve, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  #checkWaiters(): void {
    for (const waiter of [...this.#waiters]) if (waiter.condition()) waiter.resolve();
  }

  /** Nothing can make progress: no work running, ready or waiting to retry. */
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

/** A key for a log line: text when it is printable UTF-8, else hex; never long. */
function describeKey(key: Uint8Array | null): string {
  if (key === null) return "null";
  const text = new TextDecoder("utf-8", { fatal: false }).decode(key.subarray(0, 64));
  const printable = !/[\u0000-\u001f\ufffd]/.test(text);
  const shown = printable ? JSON.stringify(text) : `0x${[...key.subarray(0, 32)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
  return key.byteLength > 64 ? `${shown}…` : shown;
}

/** Offsets are tracked as numbers: exact up to 2^53, which no real partition reaches. */
function toSafeOffset(offset: bigint): number {
  if (offset < 0n || offset > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`offset ${offset} is outside the supported range 0..2^53-1`);
  }
  return Number(offset);
}
