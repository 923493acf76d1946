import type { Attempt } from "../attempt.ts";
import { EngineFailedError, PoisonKeyError } from "../errors.ts";
import type { ExecutionEngine } from "../ports/execution-engine.ts";
import { Queue } from "../queue.ts";
import type { Lifecycle } from "./lifecycle.ts";
import type { PartitionState, WorkItem } from "./partition-state.ts";
import type { Statistics } from "./statistics.ts";

/** How an attempt ended, for the control plane to act on. */
export interface DispatchHost {
  succeeded(item: WorkItem, ended: number): void;
  /** The handler failed, or the attempt was aborted (timeout, blocked too long, closing, revoked). */
  attemptFailed(item: WorkItem, error: unknown): void;
  /** The engine cannot run handlers: the attempt did not happen. */
  engineFailed(item: WorkItem, error: EngineFailedError): void;
  /** The message's key is cooling: it takes the failure path without running. */
  refused(item: WorkItem, reason: PoisonKeyError): void;
}

/**
 * Starts ready work while the engine has room, one message per partition per turn (partitions
 * with ready work take turns in a rotation), and routes each attempt's end to the host.
 */
export class Dispatcher {
  readonly #engine: ExecutionEngine;
  readonly #now: () => number;
  readonly #statistics: Statistics;
  /** `poisonKey.cooldownMs` when poison-key isolation is on. */
  readonly #cooldownMs: number | undefined;
  readonly #lifecycle: Pick<Lifecycle, "startsWork">;
  readonly #host: DispatchHost;
  /** Partitions with ready work, taking turns one message at a time. */
  readonly #rotation = new Queue<PartitionState>();

  constructor(
    engine: ExecutionEngine,
    now: () => number,
    statistics: Statistics,
    cooldownMs: number | undefined,
    lifecycle: Pick<Lifecycle, "startsWork">,
    host: DispatchHost,
  ) {
    this.#lifecycle = lifecycle;
    this.#engine = engine;
    this.#now = now;
    this.#statistics = statistics;
    this.#cooldownMs = cooldownMs;
    this.#host = host;
  }

  /** Puts a partition with ready work in the rotation (once). */
  join(state: PartitionState): void {
    if (state.inReadyRotation || state.scheduler.readyCount === 0) return;
    state.inReadyRotation = true;
    this.#rotation.push(state);
  }

  /** Starts ready work while the engine has room. */
  pump(): void {
    if (!this.#lifecycle.startsWork) return;
    while (this.#engine.idleSlots > 0) {
      const state = this.#rotation.shift();
      if (state === undefined) break;
      state.inReadyRotation = false;
      if (state.phase !== "active" || state.waitingForDrain) continue;
      const item = state.mapFull ? nextBlocking(state) : state.scheduler.next();
      if (item && item.lane !== null && this.#cooldownMs !== undefined && state.poison?.isCooling(item.lane)) {
        const cooling = new PoisonKeyError(this.#cooldownMs);
        queueMicrotask(() => this.#host.refused(item, cooling));
      } else if (item) {
        this.#run(item);
      }
      // A map-throttled partition waits for a commit (which pumps) instead of spinning here.
      if (!state.mapFull) this.join(state);
    }
  }

  #run(item: WorkItem): void {
    const attempt = item.partition.startAttempt(item, this.#now());
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
   * An attempt ended. An aborted attempt counts as failed even when its handler returned
   * normally: a handler that gives up on its signal must not have its message counted as done.
   */
  #settled(item: WorkItem, attempt: Attempt, failed: boolean, error: unknown): void {
    const ended = this.#now();
    this.#statistics.handlerSeconds.observe((ended - attempt.startedAt) / 1000);
    if (!item.partition.endAttempt(item, attempt)) return;
    if (error instanceof EngineFailedError) return this.#host.engineFailed(item, error);
    if (!failed && !attempt.aborted) return this.#host.succeeded(item, ended);
    this.#host.attemptFailed(item, attempt.aborted ? attempt.reason : error);
  }
}

/** While the offset map is full, only the blocking offset may start: it is what shrinks the map. */
function nextBlocking(state: PartitionState): WorkItem | undefined {
  const blocking = state.tracker.blockingOffset;
  return blocking === null ? undefined : state.scheduler.nextMatching((item) => item.offset === blocking);
}
