import { InFlightBudget } from "../backpressure.ts";
import type { Clock } from "../clock.ts";
import type { ConsumerEvents } from "../consumer-events.ts";
import { Delays } from "../delays.ts";
import { Emitter } from "../emitter.ts";
import {
  CommitFailedError,
  ConsumerClosedError,
  type EngineFailedError,
  KafkaClientError,
  PyrallelError,
} from "../errors.ts";
import type { ConsumerMessage, TopicPartition } from "../message.ts";
import type { ConsumerMetrics } from "../metrics-snapshot.ts";
import { laneOf } from "../partition-scheduler.ts";
import { type BatchEngine, type ExecutionEngine, runsBatches } from "../ports/execution-engine.ts";
import type { AdapterListener, AssignedPartition, KafkaAdapter } from "../ports/kafka-adapter.ts";
import type { ControlPlaneSettings } from "../settings.ts";
import { toError } from "../thrown.ts";
import { Waiters } from "../waiters.ts";
import { Admission } from "./admission.ts";
import { Committer } from "./committer.ts";
import { CommitTicker } from "./commit-ticker.ts";
import type { Batch } from "./batch.ts";
import { BatchDispatcher } from "./batch-dispatcher.ts";
import { Dispatcher } from "./dispatcher.ts";
import { FailurePath } from "./failure-path.ts";
import { FetchPause } from "./fetch-pause.ts";
import { Lifecycle } from "./lifecycle.ts";
import { OwnedPartitions, toSafeOffset } from "./owned-partitions.ts";
import type { PartitionState, WorkItem } from "./partition-state.ts";
import { Revocations } from "./revocations.ts";
import { StallMonitor } from "./stall-monitor.ts";
import { Statistics } from "./statistics.ts";
import { Throttle } from "./throttle.ts";
import { throttleMetrics } from "./throttle-metrics.ts";

const FINAL_COMMIT_ATTEMPTS = 3;

/**
 * The heart of the consumer, as a coordinator of parts that own their state: it accepts fetched
 * messages into per-partition states, lets the dispatcher run them through the engine in the order
 * the ordering mode allows, hands failures to the failure path, commits only contiguous progress
 * (with an offset map of what is done above it), and pauses fetching while too much is held. It
 * knows neither the Kafka client nor where handlers run: both are ports.
 */
export class ControlPlane implements AdapterListener {
  readonly events: Emitter<ConsumerEvents> = new Emitter<ConsumerEvents>();
  readonly #settings: ControlPlaneSettings;
  readonly #adapter: KafkaAdapter;
  readonly #engine: ExecutionEngine;
  readonly #clock: Clock;
  readonly #now: () => number;
  readonly #lifecycle = new Lifecycle();
  readonly #statistics = new Statistics();
  readonly #budget: InFlightBudget;
  readonly #admission: Admission;
  readonly #pause: FetchPause;
  readonly #partitions: OwnedPartitions;
  readonly #committer: Committer;
  /** Starts work: single messages, or batches once the engine turns out to run a batch handler. */
  #dispatcher: Dispatcher | BatchDispatcher;
  readonly #failures: FailurePath;
  readonly #stalls: StallMonitor;
  readonly #revocations: Revocations;
  /** The rate limit and handlers' pauses: ready messages it holds back stay queued, out of the engine. */
  readonly #throttle: Throttle<WorkItem>;
  /** Retry delays and dead-letter backoffs: each ends early (with `false`) when the consumer shuts down. */
  readonly #delays: Delays;
  /** Conditions awaited by close and revocations, checked whenever work finishes. */
  readonly #waiters: Waiters;
  /** A pass of `#advance` is queued (see `#advanceSoon`). */
  #advanceQueued = false;
  #starting: Promise<void> = Promise.resolve();
  #closed: Promise<void> = Promise.resolve();
  readonly #ticker: CommitTicker;

  constructor(settings: ControlPlaneSettings, adapter: KafkaAdapter, engine: ExecutionEngine) {
    this.#settings = settings;
    this.#adapter = adapter;
    this.#engine = engine;
    this.#clock = settings.clock;
    this.#now = () => this.#clock.now();
    this.#waiters = new Waiters(settings.clock);
    this.#delays = new Delays(settings.clock);
    this.#budget = new InFlightBudget(settings.maxInFlight, settings.maxInFlightBytes);
    this.#pause = new FetchPause(adapter, this.#budget, {
      maxUncommittedOffsets: settings.maxUncommittedOffsets,
      maxBufferedBytes: settings.maxBufferedBytes,
      maxBufferedMessages: settings.maxInFlight,
    });
    const counts = this.#statistics.counts;
    const report = (error: PyrallelError) => void this.events.emit("error", error);
    this.#committer = new Committer(adapter, settings.clock, counts, report);
    this.#ticker = new CommitTicker(settings.clock, settings.commitIntervalMs, () => this.#tick());
    const lifecycle = this.#lifecycle;
    this.#admission = new Admission(this.#budget, lifecycle, (state) => {
      this.#dispatcher.join(state);
      if (state.fetchHeld) this.#pause.check(state);
    });
    this.#throttle = new Throttle<WorkItem>(settings.rateLimit, settings.clock, (item) => {
      // Its tokens are due: back to its partition's ready queue (a revoked partition's work is dropped).
      if (item.partition.phase !== "active") return;
      item.partition.scheduler.retry(item);
      this.#dispatcher.join(item.partition);
    }, () => this.#dispatcher.pump());
    const { cooldownMs } = settings.poisonKey ?? {};
    this.#dispatcher = new Dispatcher(engine, this.#budget, this.#now, this.#statistics, cooldownMs, lifecycle, {
      succeeded: (item, ended) => this.#succeeded(item, ended),
      attemptFailed: (item, error) => this.#failures.attemptFailed(item, error),
      engineFailed: (item, error) => this.#engineFailed(item, error),
      refused: (item, reason) => this.#failures.refused(item, reason),
      returned: (item) => this.#returned(item),
    }, this.#throttle);
    const publish: KafkaAdapter["publish"] = (records) => adapter.publish(records);
    this.#failures = new FailurePath(settings, this.#delays, publish, counts, lifecycle, {
      requeue: (item) => {
        item.partition.scheduler.retry(item);
        this.#resume(item.partition);
      },
      finish: (item) => this.#finish(item),
      released: () => this.#advance(),
      stop: () => this.#stopAfterFailure(),
      report,
    });
    this.#stalls = new StallMonitor(settings, this.#now, (event) => {
      counts.stalls++;
      this.events.emit("stall", event);
    });
    this.#revocations = new Revocations(this.#waiters, settings.maxRevokeGraceMs, (states) => {
      for (const state of states) this.#budget.remove(state.admittedCount, state.admittedBytes);
      this.#advance();
    });
    this.#partitions = new OwnedPartitions(settings, this.#now, this.#revocations, (state) => this.#resume(state));
  }

  // ---- lifecycle ----

  /** Starts the engine, joins the group and starts consuming. */
  start(): Promise<void> {
    try {
      this.#lifecycle.beginStart();
    } catch (error) {
      return Promise.reject(error);
    }
    const started = this.#startUp();
    this.#starting = started.then(() => undefined, () => undefined);
    return started;
  }

  async #startUp(): Promise<void> {
    const lifecycle = this.#lifecycle;
    try {
      await this.#engine.start();
      if (runsBatches(this.#engine)) this.#dispatcher = this.#batchDispatcher(this.#engine);
      if (lifecycle.closeRequested) throw lifecycle.closedWhileStarting();
      await this.#adapter.start(this);
    } catch (error) {
      lifecycle.closed();
      // Worker threads keep a process alive: release everything even though nothing ran.
      await this.#adapter.close().catch(() => {});
      await this.#engine.close().catch(() => {});
      throw asClientFailure(error);
    }
    lifecycle.started();
    this.#ticker.start();
    if (lifecycle.closeRequested) throw lifecycle.closedWhileStarting();
    // Messages fetched before now (an assignment can arrive while the join is still answering) were
    // only buffered: admit them, or a partition whose buffer they filled would never be woken.
    this.#advance();
  }

  /**
   * Stops fetching, lets accepted work finish for up to `drainTimeoutMs`, aborts what still runs,
   * commits the final positions and leaves the group. Safe to call more than once, and while
   * start() is in progress (start then rejects).
   */
  close(): Promise<void> {
    const lifecycle = this.#lifecycle;
    switch (lifecycle.phase) {
      case "idle":
        lifecycle.closed();
        this.#closed = this.#engine.close();
        break;
      case "starting":
        if (lifecycle.requestClose()) {
          // Cuts a join in progress short (a join may retry for a while); start() then rejects.
          void this.#adapter.close().catch(() => {});
          this.#closed = this.#starting.then(() => (lifecycle.phase === "running" ? this.close() : undefined));
        }
        break;
      case "running":
        lifecycle.beginClose();
        this.#closed = this.#shutdown();
        break;
    }
    return this.#closed;
  }

  async #shutdown(): Promise<void> {
    this.#pause.set(this.#lifecycle.failed ? "failed" : "closing");
    await this.#waiters.until(() => this.#isDrained(), this.#settings.drainTimeoutMs);
    // The drain time is over: queued work stays queued (it runs again after a restart).
    this.#lifecycle.stopStartingWork();
    this.#partitions.advanceTo(this.#adapter.fetchPositions());
    this.#ticker.stop();
    this.#throttle.stop();
    if (this.#dispatcher instanceof BatchDispatcher) this.#dispatcher.stop();
    this.#delays.cancelAll();
    for (const state of this.#partitions.values()) state.abortRunning(new ConsumerClosedError());
    await this.#revocations.all();
    const failure = await this.#committer.commitUntilClean(() => this.#partitions.values(), FINAL_COMMIT_ATTEMPTS);
    try {
      await this.#adapter.close();
    } finally {
      // A rebalance during the final commit may have revoked partitions: nothing waits for them now.
      this.#waiters.releaseAll();
      await this.#revocations.all();
      await this.#engine.close();
      this.#lifecycle.closed();
    }
    if (failure) {
      throw new CommitFailedError(failure.partitions, {
        cause: failure.cause,
        context: "close: the final offset commit failed; completed work may run again",
      });
    }
  }

  /** The consumer stops: `error` was reported already. */
  #stopAfterFailure(): void {
    this.#lifecycle.fail();
    this.#pause.failed();
    void this.close().catch((error: unknown) => this.events.emit("error", asClientFailure(error)));
  }

  /** One commit tick (see {@linkcode CommitTicker}); `false` once the consumer stopped. */
  #tick(): boolean {
    if (!this.#lifecycle.active) return false;
    this.#stalls.check(this.#partitions.values());
    this.#partitions.advanceTo(this.#adapter.fetchPositions());
    for (const state of this.#partitions.values()) state.poison?.prune();
    void this.commit();
    return true;
  }

  /** Commits every owned partition whose position or offset map changed. */
  async commit(): Promise<void> {
    const tried = await this.#committer.commit(this.#partitions.values());
    // The map size may have fallen below its threshold: a throttled partition may start again.
    for (const state of tried) this.#dispatcher.join(state);
    if (tried.length > 0) this.#dispatcher.pump();
  }

  metrics(): ConsumerMetrics {
    const reason = this.#pause.reason;
    const throttled = throttleMetrics(this.#throttle, this.#partitions.values(), this.#now());
    const live = {
      totalInFlight: this.#budget.messages,
      maxInFlight: this.#settings.maxInFlight,
      inFlightBytes: this.#budget.bytes,
      maxInFlightBytes: this.#settings.maxInFlightBytes,
      isPaused: reason !== null,
      pauseReason: reason,
      startPauseReason: throttled.reason,
      throttled: throttled.held,
    };
    return this.#statistics.snapshot(live, throttled.partitions);
  }

  // ---- AdapterListener ----

  assigned(partitions: readonly AssignedPartition[]): void {
    this.#partitions.assign(partitions);
  }

  revoked(partitions: readonly TopicPartition[]): void {
    this.#revocations.lose(partitions);
    this.#revocations.revoke(this.#partitions.remove(partitions));
  }

  releasing(partitions: readonly TopicPartition[]): Promise<void> {
    const states = this.#partitions.remove(partitions);
    return this.#revocations.release(states, async (kept) => {
      const failure = await this.#committer.commitUntilClean(kept, FINAL_COMMIT_ATTEMPTS);
      if (failure) {
        this.events.emit(
          "error",
          new CommitFailedError(failure.partitions, {
            cause: failure.cause,
            context: "rebalance: the commit of released partitions failed; their completed work may run again",
          }),
        );
      }
    });
  }

  /** Commits in this very tick: the request must beat the member's own JoinGroup to the coordinator. */
  rebalancing(): void {
    void this.#committer.commitNow(this.#partitions.values());
  }

  messages(batch: readonly ConsumerMessage[]): void {
    // One clock read per batch: its messages were fetched together.
    const fetchedAt = this.#now();
    const { ordering } = this.#settings;
    let state: PartitionState | undefined;
    for (const message of batch) {
      // A batch is mostly runs of one partition.
      if (state?.partition !== message.partition || state.topic !== message.topic) {
        if (state) this.#buffered(state);
        state = this.#partitions.stateOf(message.topic, message.partition);
      }
      state.accept(message, toSafeOffset(message.offset), laneOf(ordering, message.key), fetchedAt);
    }
    if (state) this.#buffered(state);
    this.#advance(fetchedAt);
  }

  /** Messages were buffered for the partition: it may have admissible work, and a full buffer. */
  #buffered(state: PartitionState): void {
    state.deliveryEnded();
    this.#admission.join(state);
    this.#pause.check(state);
  }

  failed(error: Error): void {
    this.events.emit("error", new KafkaClientError(error));
    this.#stopAfterFailure();
  }

  // ---- work ----

  /** The partition may have ready work again. */
  #resume(state: PartitionState): void {
    this.#dispatcher.join(state);
    this.#dispatcher.pump();
  }

  #succeeded(item: WorkItem, ended: number): void {
    if (item.partition.phase === "revoked") return this.#dispatcher.pump();
    this.#statistics.counts.processed++;
    this.#finish(item, ended);
  }

  /** The dispatcher for a batch handler (the engine knows which handler it runs once started). */
  #batchDispatcher(engine: BatchEngine): BatchDispatcher {
    const { cooldownMs } = this.#settings.poisonKey ?? {};
    const { batch } = this.#settings;
    return new BatchDispatcher(
      engine,
      this.#budget,
      this.#clock,
      this.#statistics,
      batch,
      cooldownMs,
      this.#lifecycle,
      {
        batchSucceeded: (done, ended) => this.#batchSucceeded(done, ended),
        attemptFailed: (item, error) => this.#failures.attemptFailed(item, error),
        engineFailed: (item, error) => this.#engineFailed(item, error),
        refused: (item, reason) => this.#failures.refused(item, reason),
      },
      this.#throttle,
    );
  }

  /** A chained message did not run: it leaves the window and waits behind its lane again. */
  #returned(item: WorkItem): void {
    const state = item.partition;
    state.giveBack(item);
    this.#budget.remove(1, item.bytes);
    // Its bytes are buffered again: the partition may have to stop being fetched.
    this.#pause.check(state);
    this.#admission.join(state);
    this.#dispatcher.join(state);
    this.#advanceSoon();
  }

  /** A batch handler returned: each of the batch's messages is done. */
  #batchSucceeded(batch: Batch, ended: number): void {
    if (batch.first.partition.phase === "revoked") return this.#dispatcher.pump();
    this.#statistics.batchProcessed(batch.items.length);
    for (const item of batch.items) this.#finish(item, ended);
  }

  /** The engine cannot run handlers: the consumer stops; the message was not attempted. */
  #engineFailed(item: WorkItem, error: EngineFailedError): void {
    item.partition.takeBack(item);
    if (this.#lifecycle.stopStartingWork()) {
      this.events.emit("error", error);
      this.#stopAfterFailure();
    }
    this.#advance();
  }

  /** The message is done for good: release its lane and move the commit position. */
  #finish(item: WorkItem, now: number = this.#now()): void {
    const state = item.partition;
    state.finish(item, now);
    this.#budget.remove(1, item.bytes);
    // Caught up: nothing moves the positions before the next tick, so commit without waiting for
    // it; while commits fail, the regular ticks retry them (see Committer.failing).
    if (!this.#committer.failing && this.#caughtUp()) this.#ticker.soon();
    this.#statistics.fetchToCompletionSeconds.observe((now - item.fetchedAt) / 1000);
    if (state.fetchHeld) this.#pause.check(state);
    // The key's next message may be admissible now.
    this.#admission.join(state);
    this.#dispatcher.join(state);
    this.#advanceSoon();
  }

  /**
   * `#advance` once the attempts ending in this tick have all been finished (or given back): a
   * worker's report, a broken chain or a burst of handlers ending together frees many slots, and
   * one pass refills them all.
   */
  #advanceSoon(): void {
    if (this.#advanceQueued) return;
    this.#advanceQueued = true;
    queueMicrotask(this.#advanceQueuedNow);
  }

  readonly #advanceQueuedNow = (): void => {
    this.#advanceQueued = false;
    this.#advance();
  };

  /**
   * Messages were buffered or released: admit what the window has room for, pause or resume
   * fetching at the budget's limits, start what can start, re-check what waits (`now` when the
   * caller read the clock).
   */
  #advance(now?: number): void {
    this.#admission.admit();
    this.#pause.admitted();
    this.#pause.released();
    this.#dispatcher.pump(now);
    this.#waiters.check();
  }

  /** Nothing fetched is left to run: none admitted (running, queued or waiting to retry), none buffered. */
  #caughtUp(): boolean {
    if (this.#budget.messages > 0) return false;
    for (const state of this.#partitions.values()) if (state.bufferedCount > 0) return false;
    return true;
  }

  /**
   * Nothing can make progress: no work running or being dead-lettered, and (while work may still
   * start) none ready or waiting to retry. Messages waiting behind a failed key cannot progress.
   */
  #isDrained(): boolean {
    if (this.#budget.messages === 0) return true;
    const startsWork = this.#lifecycle.startsWork;
    for (const state of this.#partitions.values()) {
      if (state.busy(startsWork) || (startsWork && this.#throttle.holds(state))) return false;
    }
    return true;
  }
}

/** A failure of start() or close() as a {@linkcode PyrallelError}: ours pass through, the rest are the client's. */
function asClientFailure(error: unknown): PyrallelError {
  return error instanceof PyrallelError ? error : new KafkaClientError(toError(error));
}
