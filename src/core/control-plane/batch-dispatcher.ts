import { Attempt } from "../attempt.ts";
import type { InFlightBudget } from "../backpressure.ts";
import type { Clock, Timer } from "../clock.ts";
import { EngineFailedError } from "../errors.ts";
import { type BatchEngine, endSoon } from "../ports/execution-engine.ts";
import { Rotation } from "../rotation.ts";
import { type Batch, type BatchEntry, batchOf, takeBatch } from "./batch.ts";
import { type DispatchHost, refusedWhileCooling, takeBlocking } from "./dispatcher.ts";
import type { Lifecycle } from "./lifecycle.ts";
import type { PartitionState, WorkItem } from "./partition-state.ts";
import type { Statistics } from "./statistics.ts";
import { OPEN_GATE, type StartGate } from "./throttle.ts";

/** How batches are built: the `batch` option, resolved. */
export interface BatchSettings {
  /** Most messages in one batch. */
  readonly maxMessages: number;
  /** Once a message is ready, how long a partition may wait for a fuller batch (0: never). */
  readonly maxWaitMs: number;
}

/** How a batch attempt ended, for the control plane to act on; a failed batch is named by its `first` item. */
export interface BatchDispatchHost extends Omit<DispatchHost, "succeeded" | "returned"> {
  /** The handler returned: every message of the batch is done. */
  batchSucceeded(batch: Batch, ended: number): void;
}

/** A partition holding its ready messages back for a fuller batch, until `deadline`. */
interface Wait {
  readonly deadline: number;
  timer: Timer | undefined;
  /** Its timer fired (a timer may fire a little before the clock reaches the deadline). */
  over: boolean;
}

/**
 * The dispatcher for batch handlers: starts batches while the engine has room (one slot each),
 * partitions with ready work taking turns, and routes each batch attempt's end to the host. A
 * batch holds messages of one partition, built from the same admission and lanes as single
 * messages (see {@linkcode takeBatch}); a partition whose ready messages cannot fill a batch waits
 * up to `maxWaitMs` for more before starting what it has.
 */
export class BatchDispatcher {
  readonly #engine: BatchEngine;
  readonly #budget: Pick<InFlightBudget, "add" | "hasRoom">;
  readonly #clock: Clock;
  readonly #statistics: Statistics;
  readonly #settings: BatchSettings;
  /** `poisonKey.cooldownMs` when poison-key isolation is on. */
  readonly #cooldownMs: number | undefined;
  readonly #lifecycle: Pick<Lifecycle, "startsWork">;
  readonly #host: BatchDispatchHost;
  /** Rate limit and handler pauses: asked before each batch, and by each batch's first message of a lane. */
  readonly #gate: StartGate<WorkItem>;
  /** Partitions with ready work, taking turns one batch at a time. */
  readonly #rotation = new Rotation<"inDispatch", PartitionState>("inDispatch");
  readonly #waits = new Map<PartitionState, Wait>();
  /** While a batch's messages finish one by one, nothing starts: the batches built after see all of them done. */
  #finishing = false;

  constructor(
    engine: BatchEngine,
    budget: Pick<InFlightBudget, "add" | "hasRoom">,
    clock: Clock,
    statistics: Statistics,
    settings: BatchSettings,
    cooldownMs: number | undefined,
    lifecycle: Pick<Lifecycle, "startsWork">,
    host: BatchDispatchHost,
    gate: StartGate<WorkItem> = OPEN_GATE,
  ) {
    this.#engine = engine;
    this.#budget = budget;
    this.#clock = clock;
    this.#statistics = statistics;
    this.#settings = settings;
    this.#cooldownMs = cooldownMs;
    this.#lifecycle = lifecycle;
    this.#host = host;
    this.#gate = gate;
  }

  /** The consumer closes: no partition waits for a fuller batch any more (their timers are cleared). */
  stop(): void {
    for (const wait of this.#waits.values()) this.#clock.clearTimeout(wait.timer);
    this.#waits.clear();
  }

  /** Puts a partition with ready work in the rotation (once). */
  join(state: PartitionState): void {
    if (state.scheduler.readyCount > 0) this.#rotation.add(state);
  }

  /** Starts batches while the engine has room; `now` when the caller just read the clock. */
  pump(now?: number): void {
    if (!this.#lifecycle.startsWork || this.#finishing) return;
    while (this.#engine.idleSlots > 0) {
      if (this.#gate.engaged && !this.#gate.isOpen(now ??= this.#clock.now())) break;
      const state = this.#rotation.next();
      if (state === undefined) break;
      if (state.phase !== "active") {
        this.#stopWaiting(state);
        continue;
      }
      if (state.waitingForDrain) continue;
      now ??= this.#clock.now();
      let batch: Batch | undefined;
      // A batch takes only as many messages as the offset map has room for; with none, only the
      // blocking offset starts.
      const room = state.mapRoom(this.#settings.maxMessages);
      if (room === 0) batch = this.#blocking(state, now);
      else if (this.#due(state, now)) batch = takeBatch(state, room, this.#budget, this.#entry, now);
      else continue; // its wait's timer puts it back
      if (batch !== undefined) this.#run(batch, now);
      if (state.scheduler.readyCount === 0) this.#stopWaiting(state);
      // A map-throttled partition waits for a commit or a completion (which pump) instead of
      // spinning here; after a start it comes round once more, as its blocking offset may be ready.
      if (batch !== undefined || room > 0) this.join(state);
    }
  }

  /** A ready message joins a batch unless its key is cooling (it is refused) or the throttle parks it. */
  readonly #entry: BatchEntry = {
    accepts: (item, now) => !refusedWhileCooling(item, this.#cooldownMs, this.#host) && this.#gate.admit(item, now),
    acceptsAnother: (item, now) => this.#gate.takeAnother(item, now),
    acceptsAgain: (batch, now) => this.#gate.admitAgain(batch.first, batch.items, now),
  };

  /**
   * Whether the partition's batch should start now: it is full, or a batch runs again, or the
   * partition's first ready message has waited `maxWaitMs`. Otherwise the wait starts (once).
   */
  #due(state: PartitionState, now: number): boolean {
    const { maxMessages, maxWaitMs } = this.#settings;
    const scheduler = state.scheduler;
    if (maxWaitMs === 0 || scheduler.readyCount >= maxMessages || scheduler.peekReady()?.batch !== undefined) {
      return true;
    }
    const wait = this.#waits.get(state);
    if (wait !== undefined) return wait.over || now >= wait.deadline;
    if (scheduler.readyCount === 0 || scheduler.takeableCount(maxMessages) >= maxMessages) return true;
    const timer = this.#clock.setTimeout(() => this.#waitOver(state), maxWaitMs);
    this.#waits.set(state, { deadline: now + maxWaitMs, timer, over: false });
    return false;
  }

  #waitOver(state: PartitionState): void {
    const wait = this.#waits.get(state);
    if (wait !== undefined) {
      wait.timer = undefined;
      wait.over = true;
    }
    if (state.phase !== "active" || state.scheduler.readyCount === 0) this.#stopWaiting(state);
    this.join(state);
    this.pump();
  }

  /** Its ready messages are gone (or it is revoked): the next one starts a new wait. */
  #stopWaiting(state: PartitionState): void {
    const wait = this.#waits.get(state);
    if (wait === undefined) return;
    this.#clock.clearTimeout(wait.timer);
    this.#waits.delete(state);
  }

  /**
   * While the offset map is full only the blocking offset may start, alone or as its batch's
   * `first`, and as the rate limit lets it (otherwise it waits, parked or refused).
   */
  #blocking(state: PartitionState, now: number): Batch | undefined {
    const item = takeBlocking(state, this.#budget);
    if (item === undefined) return undefined;
    if (item.batch !== undefined) return this.#entry.acceptsAgain(item.batch, now) ? item.batch : undefined;
    return this.#entry.accepts(item, now) ? batchOf([item]) : undefined;
  }

  #run(batch: Batch, now: number): void {
    const attempt = new Attempt(batch.first.attempt + 1, now);
    attempt.onPause = this.#gate.pause;
    for (const item of batch.items) item.partition.joinAttempt(item, attempt);
    const ended = (_: Attempt, failed: boolean, error: unknown) => this.#settled(batch, attempt, failed, error);
    try {
      this.#engine.executeBatch(batch.messages, attempt, ended);
    } catch (error) {
      // As in Dispatcher#run: the port says it never throws; if one did, the attempt fails.
      endSoon(ended, attempt, true, error);
    }
  }

  /**
   * A batch attempt ended. As with single messages, an aborted attempt counts as failed even when
   * the handler returned normally.
   */
  #settled(batch: Batch, attempt: Attempt, failed: boolean, error: unknown): void {
    let current = true;
    for (const item of batch.items) if (!item.partition.endAttempt(item, attempt)) current = false;
    // A withdrawn attempt was ended when it was taken back: its handler never ran.
    if (!current) return;
    const ended = this.#clock.now();
    this.#statistics.handlerSeconds.observe((ended - attempt.startedAt) / 1000);
    const first = batch.first;
    if (error instanceof EngineFailedError) {
      // Not attempted: `first` is taken back (and with it the batch), the others count it back here.
      for (const item of batch.items) if (item !== first) item.attempt--;
      return this.#host.engineFailed(first, error);
    }
    if (failed || attempt.aborted) return this.#host.attemptFailed(first, attempt.aborted ? attempt.reason : error);
    this.#finishing = true;
    try {
      this.#host.batchSucceeded(batch, ended);
    } finally {
      this.#finishing = false;
    }
    this.pump(ended);
  }
}
