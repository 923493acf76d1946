// Worker side, whatever the thread: queues the tasks of the batches the engine sends, runs up to
// `concurrency` handlers at once, answers cancels, and reports results. Each task is claimed on
// the task board before its handler starts and marked finished before the next one is claimed.
// A real worker (runWorker) and the simulation's fake thread both drive this one class, so the
// simulation exercises the worker code that ships.
import { Attempt } from "../../core/attempt.ts";
import { type Clock, systemClock } from "../../core/clock.ts";
import { pendingResult } from "../../core/handler-result.ts";
import type { ConsumerMessage, EngineHandler } from "../../core/message.ts";
import type { ParentPort } from "./port.ts";
import { fromWireError, toWireError, type ToWorker, type WireError } from "./protocol.ts";
import { Reporter } from "./reporter.ts";
import { StartHold } from "./start-hold.ts";
import { boardOffset, TaskBoard } from "./task-board.ts";
import { BatchReader } from "./wire-batch.ts";

/** Task `index` of a received batch. */
interface Queued {
  readonly batch: BatchReader;
  readonly index: number;
}

/** A handler running now: its task's id and board slot, and its attempt. */
interface Running {
  readonly id: number;
  readonly slot: number;
  readonly attempt: Attempt;
  /** A task of its chain runs after it: its outcome is kept for that one. */
  readonly followed: boolean;
}

/** Calls the handler for the task starting at message `index` of `batch`; returns what it returned. */
type TaskCall = (batch: BatchReader, index: number, context: Attempt) => unknown;

/** Runs the engine's tasks with `handler` and posts their results to `port`. */
export class TaskRunner {
  readonly #call: TaskCall;
  readonly #reporter: Reporter;
  readonly #port: ParentPort;
  /** Queued tasks wait while a handler's `context.pause(ms)` is on. */
  readonly #hold: StartHold;
  readonly #clock: Clock;
  /** Added to the clock for start times on the board (comparable with the engine's). */
  readonly #boardOffset: number;
  #board: TaskBoard | undefined;
  #concurrency = 1;
  #queue: Queued[] = [];
  #head = 0;
  /**
   * Chains: outcomes of tasks a follower runs after, by id, kept until the follower starts (`true`:
   * succeeded). A follower never starts after a failure: the engine takes it back.
   */
  readonly #outcomes = new Map<number, boolean>();
  /** Chains: tasks whose follower will not come (`unfollow`) and that have not ended yet. */
  readonly #unfollowed = new Set<number>();
  /** Chains: followers whose turn came while the task they run after had not ended, by that task's id. */
  readonly #parked = new Map<number, Queued>();
  /** Running handlers by board slot; each attempt is the handler's context (its signal made on first use). */
  readonly #running = new Map<number, Running>();
  #pumping = false;
  #stopped = false;
  /** Nesting of the engine's entry points on the stack (see #inside). */
  #depth = 0;

  /** `clock`: only the simulation passes one (the reporter's timers then run in virtual time). */
  constructor(handler: EngineHandler, port: ParentPort, clock: Clock = systemClock) {
    this.#call = typeof handler === "function"
      ? (batch, index, context) => handler(batch.message(index), context)
      : (batch, index, context) => handler.batchHandler(messagesOf(batch, index), context);
    this.#clock = clock;
    this.#boardOffset = boardOffset(clock);
    this.#reporter = new Reporter(port, clock);
    this.#port = port;
    this.#hold = new StartHold(clock, () => this.#inside(() => this.#pump()));
  }

  /** Outcomes kept for followers not started yet (diagnostics: it returns to 0 once chains end). */
  get chainOutcomesKept(): number {
    return this.#outcomes.size + this.#unfollowed.size;
  }

  /** Handles one message from the engine. */
  receive(message: ToWorker): void {
    this.#inside(() => this.#receive(message));
  }

  /**
   * Runs `body` marked on the board as the engine's code: the engine learns whether a terminated
   * worker may still be running a handler (Deno lets synchronous code run on after terminate()).
   */
  #inside(body: () => void): void {
    if (this.#depth++ === 0) this.#board?.setInCode(true);
    try {
      body();
    } finally {
      if (--this.#depth === 0) this.#board?.setInCode(false);
    }
  }

  #receive(message: ToWorker): void {
    if (message.type === "run") {
      const batch = new BatchReader(message.batch);
      // A task is one message, or a batch handler's messages (counted by its first).
      for (let index = 0; index < batch.count; index += Math.max(1, batch.messages(index))) {
        this.#queue.push({ batch, index });
      }
      this.#pump();
    } else if (message.type === "init") {
      this.#board = new TaskBoard(message.slots, message.board);
      this.#concurrency = message.concurrency;
      this.#reporter.configure(this.#board);
    } else if (message.type === "pause") {
      this.#hold.extend(message.ms);
    } else if (message.type === "unfollow") {
      if (!this.#outcomes.delete(message.id)) this.#unfollowed.add(message.id);
    } else {
      const running = this.#running.get(message.slot);
      if (running?.id === message.id) running.attempt.abort(fromWireError(message.reason));
    }
  }

  /** The worker ends itself (Deno's unload): whatever it was running will not return. */
  exiting(): void {
    this.#board?.setInCode(false);
  }

  /**
   * The thread is gone (the simulation's fake thread): running handlers' signals abort, and
   * nothing this runner does afterwards reaches the board or the engine, as with a real thread.
   */
  stop(reason: Error): void {
    this.#stopped = true;
    this.#hold.stop();
    this.#queue = [];
    this.#head = 0;
    this.#parked.clear();
    this.#outcomes.clear();
    this.#unfollowed.clear();
    for (const { attempt } of this.#running.values()) attempt.abort(reason);
  }

  /** Starts queued tasks while fewer than `concurrency` handlers run; synchronous ones run here, one after another. */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    while (this.#running.size < this.#concurrency && this.#head < this.#queue.length && !this.#hold.holding) {
      const { batch, index } = this.#queue[this.#head++]!;
      this.#start(batch, index);
    }
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    }
    this.#pumping = false;
  }

  #start(batch: BatchReader, index: number): void {
    const after = batch.after(index);
    if (after >= 0 && !this.#mayFollow(after, { batch, index })) return;
    const id = batch.id(index);
    const slot = batch.slot(index);
    const followed = batch.followed(index);
    const startedAt = this.#clock.now();
    if (this.#board?.claim(slot, id, startedAt + this.#boardOffset) === false) {
      // The engine took it back: what follows it will not run either.
      if (followed) this.#chainEnded(id, false);
      return;
    }
    this.#reporter.started(startedAt);
    const running: Running = { id, slot, attempt: new Attempt(batch.attempt(index), startedAt), followed };
    this.#running.set(slot, running);
    running.attempt.onPause = (ms) => this.#paused(running, ms);
    let pending: Promise<unknown> | undefined;
    try {
      pending = pendingResult(this.#call(batch, index, running.attempt));
    } catch (error) {
      return this.#finish(running, toWireError(error));
    }
    if (pending === undefined) return this.#finish(running);
    // A thenable that never calls back keeps its task running, like a promise that never settles.
    pending.then(
      () => this.#inside(() => this.#finish(running)),
      (error: unknown) => this.#inside(() => this.#finish(running, toWireError(error))),
    );
  }

  /** A handler called `context.pause(ms)`: this worker holds its queue, and the engine hears of it at once. */
  #paused(running: Running, ms: number): void {
    if (this.#stopped) return;
    this.#hold.extend(ms);
    this.#port.post({ type: "pause", slot: running.slot, id: running.id, ms });
  }

  #finish(running: Running, error?: WireError): void {
    if (this.#stopped) return;
    this.#running.delete(running.slot);
    this.#board?.finish(running.slot, running.id, error === undefined);
    this.#reporter.add(running.slot, error, running.attempt.startedAt);
    if (running.followed) this.#chainEnded(running.id, error === undefined);
    this.#pump();
  }

  /**
   * A follower's turn came (it runs after task `after`): `true` if that task succeeded. Until it
   * ended the follower waits aside; after a failure it never starts (the engine takes it back).
   */
  #mayFollow(after: number, follower: Queued): boolean {
    const succeeded = this.#outcomes.get(after);
    if (succeeded === undefined) {
      this.#parked.set(after, follower);
      return false;
    }
    this.#outcomes.delete(after);
    if (!succeeded) this.#dropped(follower);
    return succeeded;
  }

  /** A task with a follower ended (or will never start): its follower may start now, or never. */
  #chainEnded(id: number, succeeded: boolean): void {
    if (this.#unfollowed.delete(id)) return;
    const parked = this.#parked.get(id);
    if (parked === undefined) {
      this.#outcomes.set(id, succeeded);
      return;
    }
    this.#parked.delete(id);
    if (!succeeded) return this.#dropped(parked);
    // Next in its key's order: first in the queue.
    this.#outcomes.set(id, true);
    if (this.#head > 0) this.#queue[--this.#head] = parked;
    else this.#queue.unshift(parked);
  }

  /** A follower that will not start: neither will its own follower. */
  #dropped({ batch, index }: Queued): void {
    if (batch.followed(index)) this.#chainEnded(batch.id(index), false);
  }
}

/** The messages of the batch task starting at message `index`. */
function messagesOf(batch: BatchReader, index: number): ConsumerMessage[] {
  const count = batch.messages(index);
  const messages = new Array<ConsumerMessage>(count);
  for (let i = 0; i < count; i++) messages[i] = batch.message(index + i);
  return messages;
}
