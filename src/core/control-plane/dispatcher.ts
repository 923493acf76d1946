import type { InFlightBudget } from "../backpressure.ts";
import { EngineFailedError, PoisonKeyError } from "../errors.ts";
import { endChainSoon, endSoon, type ExecutionEngine, NotStartedError } from "../ports/execution-engine.ts";
import { Rotation } from "../rotation.ts";
import type { Lifecycle } from "./lifecycle.ts";
import type { PartitionState, WorkAttempt, WorkItem } from "./partition-state.ts";
import type { Statistics } from "./statistics.ts";
import { OPEN_GATE, type StartGate } from "./throttle.ts";

/** How an attempt ended, for the control plane to act on. */
export interface DispatchHost {
  succeeded(item: WorkItem, ended: number): void;
  /** The handler failed, or the attempt was aborted (timeout, blocked too long, closing, revoked). */
  attemptFailed(item: WorkItem, error: unknown): void;
  /** The engine cannot run handlers: the attempt did not happen. */
  engineFailed(item: WorkItem, error: EngineFailedError): void;
  /** The message's key is cooling: it takes the failure path without running. */
  refused(item: WorkItem, reason: PoisonKeyError): void;
  /** A chained message did not run (a message before it did not succeed): it waits behind its lane again. */
  returned(item: WorkItem): void;
}

/**
 * Most messages one chain takes behind its first (see `Dispatcher.#chainOf`); the engine's spare
 * room bounds it first for longer handlers. With few lanes (partition ordering, few keys) and short
 * handlers a chain is what a worker does between two round trips: 64 against 16 gave 4-8% more at
 * 0.1 ms on Node (key and partition ordering, `bench/cpu/run.ts --ordering`), and a chain given
 * back (a failure) still grows its partition's buffer past its limit by little.
 */
export const MAX_FOLLOWERS = 64;

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
  /** Admits the blocking offset out of turn while a partition's offset map is full, and chains' followers. */
  readonly #budget: Pick<InFlightBudget, "add" | "hasRoom">;
  /** Partitions with ready work, taking turns one message at a time. */
  readonly #rotation = new Rotation<"inDispatch", PartitionState>("inDispatch");
  /** Rate limit and handler pauses: asked before each start. */
  readonly #gate: StartGate<WorkItem>;

  constructor(
    engine: ExecutionEngine,
    budget: Pick<InFlightBudget, "add" | "hasRoom">,
    now: () => number,
    statistics: Statistics,
    cooldownMs: number | undefined,
    lifecycle: Pick<Lifecycle, "startsWork">,
    host: DispatchHost,
    gate: StartGate<WorkItem> = OPEN_GATE,
  ) {
    this.#gate = gate;
    this.#lifecycle = lifecycle;
    this.#engine = engine;
    this.#budget = budget;
    this.#now = now;
    this.#statistics = statistics;
    this.#cooldownMs = cooldownMs;
    this.#host = host;
  }

  /** Puts a partition with ready work in the rotation (once). */
  join(state: PartitionState): void {
    if (state.scheduler.readyCount > 0) this.#rotation.add(state);
  }

  /** Starts ready work while the engine has room; `now` when the caller just read the clock. */
  pump(now?: number): void {
    if (!this.#lifecycle.startsWork) return;
    while (this.#engine.idleSlots > 0) {
      // A closed gate (no global token, a handler's pause) wakes the dispatcher when it opens.
      if (this.#gate.engaged && !this.#gate.isOpen(now ??= this.#now())) break;
      const state = this.#rotation.next();
      if (state === undefined) break;
      if (state.phase !== "active" || state.waitingForDrain) continue;
      const item = state.mapFull ? takeBlocking(state, this.#budget) : state.scheduler.next();
      // A cooling key's message is refused; one the throttle parks stays queued, holding no engine
      // slot, and is given back when its tokens are due.
      if (
        item && !refusedWhileCooling(item, this.#cooldownMs, this.#host) && this.#gate.admit(item, now ??= this.#now())
      ) {
        this.#run(item, now);
      }
      // A map-throttled partition waits for a commit or a completion (which pump) instead of
      // spinning here; after a start it comes round once more, as its blocking offset may be ready.
      if (item !== undefined || !state.mapFull) this.join(state);
    }
  }

  #run(item: WorkItem, now: number): void {
    const chain = this.#chainOf(item);
    if (chain !== undefined) return this.#runChain(chain, now);
    const attempt = this.#startAttempt(item, now);
    try {
      this.#engine.execute(item.message, attempt, this.#ended);
    } catch (error) {
      // The port says it never throws; if one did, the attempt fails rather than the pump.
      endSoon(this.#ended, attempt, true, error);
    }
  }

  #startAttempt(item: WorkItem, now: number): WorkAttempt {
    const attempt = item.partition.startAttempt(item, now);
    attempt.onPause = this.#gate.pause;
    return attempt;
  }

  /** Every attempt's end comes here: one function, no promise or closure per message. */
  readonly #ended = (attempt: WorkAttempt, failed: boolean, error: unknown): void => {
    this.#settled(attempt.item, attempt, failed, error);
  };

  /**
   * With an engine that chains (the worker engine), the messages waiting behind the item's lane
   * start with it, up to its share of the engine's spare room and the window's: a key's next messages then run
   * where its last one ran, without a round trip to this thread each. Not while the rate limit or
   * a handler's pause is engaged (each start must pass it), while the offset map is full (only the
   * blocking offset may start), nor while an earlier chain of the lane is still out.
   */
  #chainOf(item: WorkItem): WorkItem[] | undefined {
    const engine = this.#engine;
    const lane = item.lane;
    if (engine.executeChain === undefined || lane === null || this.#gate.engaged) return undefined;
    const state = item.partition;
    const scheduler = state.scheduler;
    if (scheduler.hasTaken(lane)) return undefined;
    // The engine's spare room, shared among the messages ready to start (this partition's, as many
    // in each partition waiting for its turn): the first keys dispatched must not take it all.
    const ready = (scheduler.readyCount + 1) * (this.#rotation.size + 1);
    let room = Math.min(MAX_FOLLOWERS, Math.floor(engine.idleSlots / ready) - 1);
    let chain: WorkItem[] | undefined;
    // Each follower must fit the offset map too (none does while the map is full).
    while (room-- > 0 && this.#budget.hasRoom && state.mapHasRoom(1)) {
      const follower = state.admitWaiting(lane);
      if (follower === undefined) break;
      this.#budget.add(follower.bytes);
      (chain ??= [item]).push(follower);
    }
    return chain;
  }

  #runChain(chain: readonly WorkItem[], now: number): void {
    const attempts = chain.map((item) => this.#startAttempt(item, now));
    try {
      this.#engine.executeChain!(chain.map((item) => item.message), attempts, this.#ended);
    } catch (error) {
      // As in #run: the chain fails rather than the pump.
      endChainSoon(this.#ended, attempts, error);
    }
  }

  /**
   * An attempt ended. An aborted attempt counts as failed even when its handler returned
   * normally: a handler that gives up on its signal must not have its message counted as done.
   */
  #settled(item: WorkItem, attempt: WorkAttempt, failed: boolean, error: unknown): void {
    // A withdrawn attempt was ended when it was taken back: its handler never ran.
    if (!item.partition.endAttempt(item, attempt)) return;
    if (error instanceof NotStartedError) return this.#host.returned(item);
    const ended = this.#now();
    this.#statistics.handlerSeconds.observe((ended - attempt.startedAt) / 1000);
    if (error instanceof EngineFailedError) return this.#host.engineFailed(item, error);
    if (!failed && !attempt.aborted) return this.#host.succeeded(item, ended);
    this.#host.attemptFailed(item, attempt.aborted ? attempt.reason : error);
  }
}

/**
 * While the offset map is full, only the blocking offset may start (it is what shrinks the map):
 * takes it out of turn, counting it in the window if it was admitted only now.
 */
export function takeBlocking(state: PartitionState, budget: Pick<InFlightBudget, "add">): WorkItem | undefined {
  const blocking = state.nextBlocking();
  if (blocking?.admitted) budget.add(blocking.item.bytes);
  return blocking?.item;
}

/** A message whose key is cooling is refused (asynchronously, as a failure without running): `true` then. */
export function refusedWhileCooling(
  item: WorkItem,
  cooldownMs: number | undefined,
  host: Pick<DispatchHost, "refused">,
): boolean {
  if (item.lane === null || cooldownMs === undefined || !item.partition.poison?.isCooling(item.lane)) return false;
  const cooling = new PoisonKeyError(cooldownMs);
  queueMicrotask(() => host.refused(item, cooling));
  return true;
}
