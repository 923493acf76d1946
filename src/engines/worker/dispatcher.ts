// Main side: which worker runs which attempt. Attempts started in the same tick go out in batches
// to the least-loaded worker; each worker holds enough to stay busy until its next report (its
// depth, from the handler time it reports); results, cancels and handler timeouts are routed back
// to their attempts, and a handler that must stop has its worker terminated. The workers' lives
// are the pool's (pool.ts): the dispatcher is its tenant, told when a worker is ready, reports, or
// is gone. Where each posted task stands is on the worker's task board (task-board.ts).
import type { Attempt } from "../../core/attempt.ts";
import type { Clock, Timer } from "../../core/clock.ts";
import {
  BlockedTooLongError,
  HandlerTimeoutError,
  PartitionRevokedError,
  WorkerCrashedError,
} from "../../core/errors.ts";
import type { ConsumerMessage } from "../../core/message.ts";
import { type AttemptEnded, NotStartedError } from "../../core/ports/execution-engine.ts";
import type { Failure, PoolTenant, PoolWorker, WorkerListener } from "./pool.ts";
import { fromWireError, toWireError, type WorkerResults } from "./protocol.ts";
import { boardOffset, FAILED, QUEUED, RUNNING, SUCCEEDED, TaskBoard } from "./task-board.ts";
import { encodeBatch, type WireBatch } from "./wire-batch.ts";

/**
 * Work queued in a worker beyond its running handlers, in ms of its measured handler time: enough
 * to keep it busy while its results are held (up to 8 ms, reporter.ts), travel, and the engine's
 * thread waits for a core. Twice the hold: every wake-up of the engine's thread costs it more than
 * its share of work while the workers keep both cores busy (cold caches), so it wakes seldom.
 */
const QUEUE_TARGET_MS = 16;
/** Most messages queued in one worker beyond its running handlers. */
const MAX_QUEUED = 256;
/** Weight of the newest report in the running mean of the handler time. */
const SERVICE_TIME_WEIGHT = 1 / 4;
/**
 * A handler still running this long after its attempt was aborted for another reason than a
 * timeout (revoked, closing) is stopped by terminating its worker.
 */
export const ABORT_GRACE_MS = 1_000;
/** How often a terminated worker that may still run a handler (Deno) is looked at again. */
const RUNNING_ON_POLL_MS = 20;
/**
 * A worker inside one handler's synchronous code for this long (or four handler times, if more)
 * gives the messages it holds queued to the other workers: they would wait behind a stuck handler.
 */
const STUCK_AFTER_MS = 20;

/** Settings of {@linkcode TaskDispatcher}. */
export interface TaskDispatcherSettings {
  /** Handlers one worker runs at once (for handlers that await). */
  readonly concurrencyPerWorker: number;
  /** Most tasks in one postMessage (a task is one message, or one batch of a batch handler). */
  readonly maxBatchSize: number;
  /** A handler running this long is stopped (its worker terminated); undefined: never. */
  readonly handlerTimeoutMs: number | undefined;
  /** A worker given this many messages takes no more and is recycled once it holds none. */
  readonly recycleAfterTasks: number | undefined;
  /** Handler timeouts, abort graces. */
  readonly clock: Clock;
}

/** One attempt, from execute() until it settles. */
interface Task {
  readonly id: number;
  readonly message: ConsumerMessage;
  /** Batch handlers: the batch's messages (`message` is the first); one task, one result. */
  readonly messages: readonly ConsumerMessage[] | undefined;
  readonly context: Attempt;
  /** Told once how the attempt ended (see `#end`). */
  readonly ended: AttemptEnded<Attempt>;
  /** How it ended, kept until `ended` is told. */
  endedFailed: boolean;
  endError: unknown;
  /** Set as `context.onAbort` and `context.onWithdraw` while the task is ours. */
  readonly onAbort: (reason: unknown) => void;
  readonly onWithdraw: (reason: unknown) => boolean;
  /** The worker holding it; undefined while waiting for one. */
  lane: Lane | undefined;
  /** Its slot on the lane's board while held. */
  slot: number;
  /** Sent to the worker: from now on the board says where it stands. */
  posted: boolean;
  /** Aborted while running: when its worker is terminated unless the handler returns first. */
  grace: Timer | undefined;
  /** Chains: the task it runs after (on the same worker, once that one succeeded), while unsettled. */
  after: Task | undefined;
  /** Chains: the task that runs after it. */
  follower: Task | undefined;
  /**
   * Chains: the worker it was posted to as followed (with a follower to come). That worker keeps
   * its outcome for the follower: if the follower is never posted, the worker is told to forget it.
   */
  postedFollowed: PoolWorker | undefined;
  /** Settled: "ok" when it succeeded in an attempt nobody gave up on. */
  outcome: "pending" | "ok" | "failed";
  /**
   * A follower started although its chain broke (its predecessor's handler returned as its attempt
   * was given up on): its result counts for nothing, and that predecessor settles only after it.
   */
  brokenBy: Task | undefined;
  /** Followers of it still running after its chain broke: it settles once they ended. */
  brokenRunning: number;
  /** Its settling, held until `brokenRunning` is 0. */
  held: (() => void) | undefined;
}

/** What one pool worker holds. */
interface Lane {
  readonly worker: PoolWorker;
  readonly board: TaskBoard;
  /** Held tasks by board slot. */
  readonly tasks: (Task | undefined)[];
  readonly freeSlots: number[];
  /** Posted messages taken back before the worker started them: they will never finish there. */
  withdrawn: number;
  /** Held but not yet posted (posted on the next microtask, or once ready). */
  outbox: Task[];
  assigned: number;
  /** Takes no new work; recycled once it holds nothing. */
  retiring: boolean;
  /** Checks running handlers against handlerTimeoutMs while any is posted. */
  watchdog: Timer | undefined;
  /** Checks, while it holds queued messages, whether one handler keeps the worker's thread. */
  stuckCheck: Timer | undefined;
  /** Its thread is held by one handler: it takes no new work until it reports again. */
  stuck: boolean;
}

/**
 * Hands attempts to the pool's workers and settles them from the workers' reports, or from their
 * boards once a worker is gone: a result a worker produced is never lost, a message it never
 * started goes to another worker, and one it was running fails.
 */
export class TaskDispatcher implements PoolTenant {
  readonly #concurrency: number;
  readonly #maxBatch: number;
  readonly #timeoutMs: number | undefined;
  readonly #recycleAfter: number | undefined;
  readonly #clock: Clock;
  /** Added to the clock for times on the workers' boards. */
  readonly #boardOffset: number;
  /** Board slots per worker: the deepest it can be. */
  readonly #slots: number;
  /** Workers not yet ended: the current one of each slot, and those being terminated. */
  readonly #lanes = new Set<Lane>();
  /** Tasks no worker accepts right now (every worker is recycling or gone). */
  readonly #waiting: Task[] = [];
  #nextId = 0;
  /** Tasks ended whose engine is told on the next microtask (see `#end`). */
  #endings: Task[] = [];
  #flushQueued = false;
  /** The pool starts no more workers (closing or broken). */
  #stopped = false;
  #onQuiet: (() => void) | undefined;
  /** Running mean of the worker time per message (ms), from the reports; undefined before the first. */
  #serviceMs: number | undefined;
  /** Messages each worker holds: its running handlers and QUEUE_TARGET_MS of queued work. */
  #depth: number;

  constructor(settings: TaskDispatcherSettings) {
    this.#concurrency = settings.concurrencyPerWorker;
    this.#maxBatch = settings.maxBatchSize;
    this.#timeoutMs = settings.handlerTimeoutMs;
    this.#recycleAfter = settings.recycleAfterTasks;
    this.#clock = settings.clock;
    this.#boardOffset = boardOffset(settings.clock);
    this.#slots = this.#concurrency + MAX_QUEUED;
    this.#depth = 2 * this.#concurrency;
  }

  /** Messages each worker is given at most right now (adapts to the measured handler time). */
  get depth(): number {
    return this.#depth;
  }

  /** Free capacity of the workers that take work, less the tasks waiting for one. */
  get idleSlots(): number {
    let idle = -this.#waiting.length;
    for (const lane of this.#lanes) if (this.#accepts(lane)) idle += Math.max(0, this.#depth - this.#held(lane));
    return Math.max(0, idle);
  }

  /** Runs one attempt on some worker; ends with its result. */
  execute<A extends Attempt>(message: ConsumerMessage, attempt: A, ended: AttemptEnded<A>): void {
    this.#assign(this.#task(message, undefined, attempt, ended));
  }

  /** Runs one attempt of a batch handler on some worker, as one task; ends with its result. */
  executeBatch<A extends Attempt>(messages: readonly ConsumerMessage[], attempt: A, ended: AttemptEnded<A>): void {
    this.#assign(this.#task(messages[0]!, messages, attempt, ended));
  }

  /**
   * Runs consecutive messages of one lane on one worker, each after the one before succeeded (see
   * `ExecutionEngine.executeChain`): the worker starts a follower without waiting for this thread.
   */
  executeChain<A extends Attempt>(
    messages: readonly ConsumerMessage[],
    attempts: readonly A[],
    ended: AttemptEnded<A>,
  ): void {
    const tasks: Task[] = [];
    for (let i = 0; i < messages.length; i++) {
      const task = this.#task(messages[i]!, undefined, attempts[i]!, ended);
      const after = tasks.at(-1);
      if (after !== undefined) {
        task.after = after;
        after.follower = task;
      }
      tasks.push(task);
    }
    // Assigned once linked: a head failing at once returns its followers first.
    for (const task of tasks) if (task.outcome === "pending") this.#assign(task);
  }

  #task<A extends Attempt>(
    message: ConsumerMessage,
    messages: readonly ConsumerMessage[] | undefined,
    attempt: A,
    ended: AttemptEnded<A>,
  ): Task {
    const task: Task = {
      id: this.#nextId++,
      message,
      messages,
      context: attempt,
      // Only ever called with `attempt` itself (see #tellEnds), so the wider type is safe.
      ended: ended as AttemptEnded<Attempt>,
      endedFailed: false,
      endError: undefined,
      onAbort: () => this.#cancel(task),
      onWithdraw: (reason) => this.#withdraw(task, reason),
      lane: undefined,
      slot: -1,
      posted: false,
      grace: undefined,
      after: undefined,
      follower: undefined,
      postedFollowed: undefined,
      outcome: "pending",
      brokenBy: undefined,
      brokenRunning: 0,
      held: undefined,
    };
    // A hook, not a listener on attempt.signal: that would create an AbortController per message.
    attempt.onAbort = task.onAbort;
    attempt.onWithdraw = task.onWithdraw;
    return task;
  }

  /**
   * The task's attempt ended: its engine is told in a microtask, with every other end of this
   * tick, in order. Never inside the dispatcher's own work (a report's loop, a chain's break),
   * which the control plane's reaction (new attempts) would otherwise re-enter.
   */
  #end(task: Task, failed: boolean, error?: unknown): void {
    task.endedFailed = failed;
    task.endError = error;
    this.#endings.push(task);
    if (this.#endings.length === 1) queueMicrotask(this.#tellEnds);
  }

  readonly #tellEnds = (): void => {
    const endings = this.#endings;
    this.#endings = [];
    for (const task of endings) task.ended(task.context, task.endedFailed, task.endError);
  };

  /** Resolves once every task finished or was given up on (its attempt aborted). */
  quiet(): Promise<void> {
    return new Promise((resolve) => {
      this.#onQuiet = resolve;
      this.#checkQuiet();
    });
  }

  /** A worker joined the pool: from now on it is offered work (a successor takes its slot's place). */
  joined(worker: PoolWorker): WorkerListener {
    const board = new TaskBoard(this.#slots);
    const lane: Lane = {
      worker,
      board,
      tasks: new Array<Task | undefined>(this.#slots).fill(undefined),
      // Popped from the end: slot 0 first.
      freeSlots: Array.from({ length: this.#slots }, (_, i) => this.#slots - 1 - i),
      withdrawn: 0,
      outbox: [],
      assigned: 0,
      retiring: false,
      watchdog: undefined,
      stuckCheck: undefined,
      stuck: false,
    };
    this.#lanes.add(lane);
    // A successor (restart, recycling): tasks that waited for a worker go to it.
    if (this.#waiting.length > 0) this.#flushSoon();
    return {
      ready: () => this.#ready(lane),
      done: (results) => this.#done(lane, results),
      paused: (slot, id, ms) => this.#paused(lane, slot, id, ms),
      ended: (failure, restarted) => this.#ended(lane, failure, restarted),
    };
  }

  /** The pool starts no more workers: messages waiting for one fail. */
  stopped(failure: Failure): void {
    this.#stopped = true;
    for (const task of this.#waiting.splice(0)) this.#fail(task, failure());
  }

  /** Tasks the lane holds: its slots taken. */
  #held(lane: Lane): number {
    return this.#slots - lane.freeSlots.length;
  }

  #accepts(lane: Lane): boolean {
    return !lane.retiring && !lane.stuck && !lane.worker.dead;
  }

  #assign(task: Task): void {
    const after = task.after;
    // A follower goes behind its predecessor, on its worker, or nowhere.
    const lane = after === undefined ? this.#leastLoaded() : after.lane;
    if (lane === undefined) {
      this.#waiting.push(task);
      return;
    }
    if (after !== undefined && (lane.worker.dead || lane.stuck || lane.freeSlots.length === 0)) {
      return this.#return(task);
    }
    const slot = lane.freeSlots.pop()!;
    task.lane = lane;
    task.slot = slot;
    lane.tasks[slot] = task;
    lane.board.place(slot, task.id);
    lane.outbox.push(task);
    if (this.#recycleAfter !== undefined && ++lane.assigned >= this.#recycleAfter) lane.retiring = true;
    if (lane.outbox.length >= this.#maxBatch) this.#send(lane);
    else this.#flushSoon();
  }

  /**
   * Prefers a worker below its depth, then a ready one, then the least unfinished work: results
   * it has not reported yet still take slots, but no worker time (a worker busy with a stuck
   * handler must not win a tie with one that is done).
   */
  #leastLoaded(): Lane | undefined {
    let best: Lane | undefined;
    let bestScore = Infinity;
    for (const lane of this.#lanes) {
      if (!this.#accepts(lane) || lane.freeSlots.length === 0) continue;
      const unfinished = lane.board.posted - lane.board.finished - lane.withdrawn + lane.outbox.length;
      const score = (this.#held(lane) >= this.#depth ? 2e9 : 0) + (lane.worker.ready ? 0 : 1e9) + unfinished;
      if (score < bestScore) {
        best = lane;
        bestScore = score;
      }
    }
    return best;
  }

  /** Runs #flush on the next microtask (once, however many reasons there are). */
  #flushSoon(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => this.#flush());
  }

  /** Gives waiting tasks to workers with room, then posts every outbox. */
  #flush(): void {
    this.#flushQueued = false;
    while (this.#waiting.length > 0 && this.#leastLoaded() !== undefined) this.#assignWaiting(this.#waiting.shift()!);
    for (const lane of this.#lanes) this.#send(lane);
  }

  /** Posts the lane's outbox in batches of at most maxBatchSize, once its worker is ready. */
  #send(lane: Lane): void {
    const worker = lane.worker;
    while (worker.ready && !worker.dead && lane.outbox.length > 0) {
      const tasks = lane.outbox.length <= this.#maxBatch ? lane.outbox : lane.outbox.slice(0, this.#maxBatch);
      lane.outbox = tasks === lane.outbox ? [] : lane.outbox.slice(tasks.length);
      let batch: WireBatch;
      try {
        batch = encodeBatch(tasks);
      } catch (error) {
        // A malformed message (an untyped caller's): it fails, and the others are not harmed.
        for (const task of tasks) this.#fail(task, error);
        continue;
      }
      for (const task of tasks) {
        task.posted = true;
        if (task.follower !== undefined) task.postedFollowed = worker;
      }
      lane.board.addPosted(tasks.length);
      const timeoutMs = this.#timeoutMs;
      if (timeoutMs !== undefined) lane.watchdog ??= this.#clock.setTimeout(() => this.#watch(lane), timeoutMs);
      this.#watchStuck(lane);
      worker.post({ type: "run", batch }, [batch.buffer]);
    }
  }

  #ready(lane: Lane): void {
    const init = {
      type: "init",
      board: lane.board.buffer,
      slots: this.#slots,
      concurrency: this.#concurrency,
    } as const;
    lane.worker.post(init, []);
    this.#send(lane);
    // Somewhere to move work now: the others' queues are watched for a stuck handler.
    for (const other of this.#lanes) if (other !== lane && other.board.posted > 0) this.#watchStuck(other);
  }

  #done(lane: Lane, results: WorkerResults): void {
    lane.stuck = false;
    this.#measure(results);
    for (const slot of results.ok) this.#settle(lane, slot, undefined);
    for (const { slot, error } of results.failed) this.#settle(lane, slot, fromWireError(error));
  }

  /**
   * A handler called `context.pause(ms)`: its attempt here passes it to the consumer (no new
   * dispatch), and the other workers hold what they have queued (the pausing one already does).
   */
  #paused(lane: Lane, slot: number, id: number, ms: number): void {
    const task = lane.tasks[slot];
    if (task?.id === id) task.context.pause(ms);
    for (const other of this.#lanes) {
      if (other !== lane && other.worker.ready && !other.worker.dead) other.worker.post({ type: "pause", ms }, []);
    }
  }

  /** Updates the handler time per message, and with it how deep each worker is fed. */
  #measure(results: WorkerResults): void {
    const count = results.ok.length + results.failed.length;
    if (count === 0) return;
    const sample = results.busyMs / count;
    const previous = this.#serviceMs;
    const serviceMs = previous === undefined ? sample : previous + (sample - previous) * SERVICE_TIME_WEIGHT;
    this.#serviceMs = serviceMs;
    const queued = Math.min(MAX_QUEUED, Math.max(1, Math.ceil(QUEUE_TARGET_MS / Math.max(serviceMs, 1e-3))));
    this.#depth = this.#concurrency + queued;
  }

  #settle(lane: Lane, slot: number, error: Error | undefined): void {
    const task = lane.tasks[slot];
    if (task === undefined) return;
    if (task.brokenBy !== undefined) return this.#return(task);
    if (error !== undefined) return this.#fail(task, error);
    // The control plane counts an aborted attempt as failed, whatever its handler returned.
    if (task.context.aborted) this.#breakChain(task);
    this.#release(task, task.context.aborted ? "failed" : "ok");
    // Its retry must not start beside a follower its worker started anyway.
    if (task.brokenRunning > 0) task.held = () => this.#end(task, false);
    else this.#end(task, false);
    if (this.#onQuiet) this.#checkQuiet();
  }

  /**
   * The task did not succeed: the tasks chained after it will not run. Each is taken back (from
   * its worker's board if posted) and settles as not started, before the task itself settles; one
   * its worker started anyway (its predecessor returned as an abort came) counts for nothing once
   * it ends.
   */
  #breakChain(task: Task): void {
    for (let follower = task.follower; follower !== undefined; follower = follower.follower) {
      if (follower.outcome !== "pending") continue;
      const lane = follower.lane;
      if (follower.posted && lane !== undefined && !lane.board.withdraw(follower.slot, follower.id)) {
        follower.brokenBy = task;
        task.brokenRunning++;
        continue;
      }
      if (follower.posted) lane!.withdrawn++;
      this.#settleNotStarted(follower);
    }
    task.follower = undefined;
  }

  /** A follower that will not run: it and the tasks after it settle as not started. */
  #return(task: Task): void {
    this.#breakChain(task);
    this.#settleNotStarted(task);
  }

  #settleNotStarted(task: Task): void {
    if (task.outcome !== "pending") return;
    if (!task.posted) this.#unqueue(task);
    this.#release(task, "failed");
    this.#end(task, true, new NotStartedError());
    const predecessor = task.brokenBy;
    if (predecessor !== undefined && --predecessor.brokenRunning === 0) {
      predecessor.held?.();
      predecessor.held = undefined;
    }
    if (this.#onQuiet) this.#checkQuiet();
  }

  /**
   * The attempt was aborted. Not yet started: it is dropped. Running: a timeout, a blocked commit
   * or a revocation whose grace is over terminates its worker now (a function cannot be stopped; a
   * thread can; a revoked partition's next owner may start the message at once); any other
   * abort is passed to the handler's signal, and terminates the worker if the handler has not
   * returned ABORT_GRACE_MS later. The task settles once its worker is gone, never before: the
   * retry cannot run beside it.
   */
  #cancel(task: Task): void {
    const lane = task.lane;
    const reason = task.context.reason;
    if (this.#withdraw(task, reason)) return;
    if (lane !== undefined && !lane.worker.dead && lane.board.state(task.slot, task.id) === RUNNING) {
      if (stopsAtOnce(reason)) this.#kill(lane, reason);
      else {
        lane.worker.post({ type: "cancel", slot: task.slot, id: task.id, reason: toWireError(reason) }, []);
        task.grace = this.#clock.setTimeout(() => this.#kill(lane, reason), ABORT_GRACE_MS);
      }
    }
    if (this.#onQuiet) this.#checkQuiet();
  }

  /**
   * Takes a task back if its handler has not started (waiting, in an outbox, or queued in its
   * worker) and fails it with `reason`; `false` when it started (or its worker is gone).
   */
  #withdraw(task: Task, reason: unknown): boolean {
    const lane = task.lane;
    if (!task.posted) this.#unqueue(task);
    else if (lane !== undefined && lane.board.withdraw(task.slot, task.id)) {
      // The board decides, even for a worker being terminated: it claims each task there first.
      lane.withdrawn++;
    } else return false;
    this.#fail(task, reason);
    if (this.#onQuiet) this.#checkQuiet();
    return true;
  }

  /**
   * Terminates the lane's worker to stop a handler. The messages it has not started go to other
   * workers now (they were never attempted); the rest settle from its board once it is gone.
   */
  #kill(lane: Lane, reason: unknown): void {
    if (lane.worker.dead) return;
    const crashed = new WorkerCrashedError(
      `worker ${lane.worker.slot} was terminated to stop another message's handler: ${describe(reason)}`,
    );
    lane.worker.kill(() => crashed);
    this.#clock.clearTimeout(lane.watchdog);
    this.#clock.clearTimeout(lane.stuckCheck);
    lane.stuckCheck = undefined;
    lane.watchdog = undefined;
    lane.outbox = [];
    for (const task of lane.tasks) {
      if (task !== undefined && (!task.posted || lane.board.withdraw(task.slot, task.id))) this.#reassign(task);
    }
  }

  /**
   * A task its worker never started goes to another one, unless its attempt was aborted
   * meanwhile. A chain does not move: the tasks after it are returned (and a follower whose
   * predecessor has not settled is returned itself).
   */
  #reassign(task: Task): void {
    if (task.context.aborted) return this.#fail(task, task.context.reason);
    if (task.after !== undefined && task.after.outcome !== "ok") return this.#return(task);
    // Its predecessor, if any, succeeded: it is a chain's head now, and heads may move.
    task.after = undefined;
    this.#breakChain(task);
    this.#unhold(task);
    this.#assign(task);
  }

  /** Whether another worker takes work: somewhere to move the lane's queued messages. */
  #othersAccept(lane: Lane): boolean {
    for (const other of this.#lanes) if (other !== lane && this.#accepts(other)) return true;
    return false;
  }

  /** Arms the lane's stuck check (once) if its queued messages could go elsewhere. */
  #watchStuck(lane: Lane): void {
    if (lane.stuckCheck !== undefined || lane.worker.dead || !this.#othersAccept(lane)) return;
    lane.stuckCheck = this.#clock.setTimeout(() => this.#checkStuck(lane), this.#stuckAfterMs());
  }

  #stuckAfterMs(): number {
    return Math.max(STUCK_AFTER_MS, 4 * (this.#serviceMs ?? 0));
  }

  /**
   * While the lane holds queued messages: if its thread has been inside one handler's code for
   * longer than a few handler times, those messages go to the other workers (taken back from its
   * board first, so it cannot start them too), and the lane takes no work until it reports again.
   */
  #checkStuck(lane: Lane): void {
    lane.stuckCheck = undefined;
    // Nowhere to go, or nothing unfinished: the next batch posted to the lane checks again.
    if (lane.worker.dead || !this.#othersAccept(lane)) return;
    if (lane.board.posted - lane.board.finished - lane.withdrawn === 0) return;
    // Not inside a handler's code now: not stuck (the common case, without reading every slot).
    if (!lane.board.inCode) return this.#watchStuck(lane);
    const stuckAfter = this.#stuckAfterMs();
    const now = this.#clock.now() + this.#boardOffset;
    const queued: Task[] = [];
    let oldestStart = Infinity;
    for (const task of lane.tasks) {
      if (task === undefined || !task.posted) continue;
      const state = lane.board.state(task.slot, task.id);
      if (state === QUEUED) queued.push(task);
      else if (state === RUNNING) oldestStart = Math.min(oldestStart, lane.board.startedAt(task.slot));
    }
    if (queued.length === 0) return;
    if (now - oldestStart >= stuckAfter) {
      lane.stuck = true;
      for (const task of queued) {
        if (!lane.board.withdraw(task.slot, task.id)) continue;
        lane.withdrawn++;
        this.#reassign(task);
      }
    }
    this.#watchStuck(lane);
  }

  /** Checks the lane's running handlers against handlerTimeoutMs; runs again at the next deadline. */
  #watch(lane: Lane): void {
    lane.watchdog = undefined;
    const timeoutMs = this.#timeoutMs;
    if (timeoutMs === undefined || lane.worker.dead) return;
    const now = this.#clock.now() + this.#boardOffset;
    let next = Infinity;
    for (const task of lane.tasks) {
      if (task === undefined || !task.posted) continue;
      const state = lane.board.state(task.slot, task.id);
      if (state === QUEUED) next = Math.min(next, now + timeoutMs);
      if (state !== RUNNING) continue;
      const startedAt = Math.min(lane.board.startedAt(task.slot), now);
      if (now - startedAt >= timeoutMs) task.context.abort(new HandlerTimeoutError(timeoutMs));
      else next = Math.min(next, startedAt + timeoutMs);
    }
    if (next !== Infinity && !lane.worker.dead) {
      lane.watchdog = this.#clock.setTimeout(() => this.#watch(lane), next - now);
    }
  }

  /**
   * The lane's worker is gone, its board final. What it finished settles as it finished; what it
   * was running fails (with the attempt's abort reason if aborted); what it never started goes to
   * another worker if `restarted` (a successor took the slot), else fails too. Where terminate()
   * lets running code finish (Deno) and the worker is still in a handler, all that waits until it
   * returns: never two attempts of one message at once.
   */
  #ended(lane: Lane, failure: Failure | undefined, restarted: boolean): void {
    this.#clock.clearTimeout(lane.watchdog);
    this.#clock.clearTimeout(lane.stuckCheck);
    lane.stuckCheck = undefined;
    lane.watchdog = undefined;
    if (!lane.worker.haltsRunningCode && lane.board.inCode && !this.#stopped) {
      lane.watchdog = this.#clock.setTimeout(() => this.#ended(lane, failure, restarted), RUNNING_ON_POLL_MS);
      return;
    }
    this.#lanes.delete(lane);
    lane.outbox = [];
    const gone = () => failure?.() ?? new WorkerCrashedError(`worker ${lane.worker.slot} ended`);
    // In the order they were given: a chain's predecessor settles before its followers.
    const held = lane.tasks.filter((task) => task !== undefined).sort((a, b) => a.id - b.id);
    for (const task of held) {
      // Settled meanwhile (a chain broken by an earlier one), or moved to another worker.
      if (task.outcome !== "pending" || task.lane !== lane) continue;
      const state = task.posted ? lane.board.state(task.slot, task.id) : QUEUED;
      if (state === SUCCEEDED) this.#settle(lane, task.slot, undefined);
      else if (state === FAILED) {
        const lost = `worker ${lane.worker.slot} ended before reporting this handler's error`;
        this.#fail(task, new WorkerCrashedError(lost));
      } else if (state === RUNNING) this.#fail(task, task.context.aborted ? task.context.reason : gone());
      else if (restarted || task.context.aborted) this.#reassign(task);
      else this.#fail(task, gone());
    }
    if (this.#onQuiet) this.#checkQuiet();
  }

  /** A task that waited for a worker: it goes to one now, unless its attempt was aborted meanwhile. */
  #assignWaiting(task: Task): void {
    if (task.context.aborted) return this.#fail(task, task.context.reason);
    this.#assign(task);
  }

  /** Takes a task not yet posted out of where it waits: for a worker, or in its lane's outbox. */
  #unqueue(task: Task): void {
    const waiting = this.#waiting.indexOf(task);
    if (waiting >= 0) this.#waiting.splice(waiting, 1);
    const lane = task.lane;
    if (lane !== undefined) lane.outbox = lane.outbox.filter((other) => other !== task);
  }

  /** Takes a task off its lane (its slot freed). A retiring worker left empty is recycled. */
  #unhold(task: Task): void {
    const lane = task.lane;
    this.#clock.clearTimeout(task.grace);
    task.grace = undefined;
    task.posted = false;
    if (lane === undefined) return;
    lane.tasks[task.slot] = undefined;
    lane.freeSlots.push(task.slot);
    task.lane = undefined;
    task.slot = -1;
    // Room for a task that found none (every worker full, held by a handler, or recycling).
    if (this.#waiting.length > 0) this.#flushSoon();
    // Whatever removed its last task (result, cancel, failure), a retiring worker is done now.
    if (lane.retiring && !lane.worker.dead && this.#held(lane) === 0) lane.worker.recycle();
  }

  /** Forgets a settled task: its slot, its hooks and its place in a chain. */
  #release(task: Task, outcome: "ok" | "failed"): void {
    task.outcome = outcome;
    this.#unfollow(task);
    task.after = undefined;
    if (task.context.onAbort === task.onAbort) task.context.onAbort = undefined;
    if (task.context.onWithdraw === task.onWithdraw) task.context.onWithdraw = undefined;
    this.#unhold(task);
  }

  /**
   * A follower settles: its predecessor is followed no more. A follower that never reached the
   * worker (e.g. returned for want of a slot there) would leave that worker keeping the
   * predecessor's outcome for good: it is told to forget it.
   */
  #unfollow(task: Task): void {
    const after = task.after;
    if (after === undefined || after.follower !== task) return;
    after.follower = undefined;
    const worker = after.postedFollowed;
    after.postedFollowed = undefined;
    if (!task.posted && worker !== undefined && !worker.dead) worker.post({ type: "unfollow", id: after.id }, []);
  }

  #fail(task: Task, error: unknown): void {
    if (task.outcome !== "pending") return;
    if (task.brokenBy !== undefined) return this.#return(task);
    this.#breakChain(task);
    this.#release(task, "failed");
    this.#end(task, true, error);
  }

  /** While quiet() waits: resolves it once every task finished or was given up on. */
  #checkQuiet(): void {
    for (const task of this.#waiting) if (!task.context.aborted) return;
    for (const lane of this.#lanes) {
      for (const task of lane.tasks) if (task !== undefined && !task.context.aborted) return;
    }
    const resolve = this.#onQuiet;
    this.#onQuiet = undefined;
    resolve?.();
  }
}

function describe(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}

/** Abort reasons that leave the handler no time: it must stop now. */
function stopsAtOnce(reason: unknown): boolean {
  return reason instanceof HandlerTimeoutError || reason instanceof BlockedTooLongError ||
    reason instanceof PartitionRevokedError;
}
