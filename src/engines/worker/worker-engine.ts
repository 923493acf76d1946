import type { Attempt } from "../../core/attempt.ts";
import { type Clock, systemClock, type Timer } from "../../core/clock.ts";
import { EngineFailedError, HandlerTimeoutError, WorkerCrashedError } from "../../core/errors.ts";
import type { ConsumerMessage } from "../../core/message.ts";
import { backoffMs } from "../../core/retry-policy.ts";
import { describeThrown, nameOfThrown } from "../../core/thrown.ts";
import type { ExecutionEngine } from "../../core/ports/execution-engine.ts";
import { encodeBatch, type FromWorker, fromWireError, toWireError } from "./protocol.ts";
import { type SpawnWorker, spawnWorker, type WorkerThread } from "./spawn.ts";

/** Options of {@linkcode WorkerEngine}. */
export interface WorkerEngineOptions {
  /** URL of the worker entry module, which calls `runWorker(handler)`: `new URL("./worker.ts", import.meta.url)`. */
  module: string | URL;
  /** Worker threads in the pool. */
  workers: number;
  /**
   * Messages held by one worker at once. Default 4: the worker always has its next messages
   * queued (it never idles while more travel to it), and reports results in groups once it gets
   * down to half of them, so one round trip serves about two messages. Raise it for handlers that
   * await I/O; 1 keeps the least work queued behind a slow message.
   */
  concurrencyPerWorker?: number;
  /**
   * A message still unfinished this long after it was handed to its worker fails with
   * {@linkcode HandlerTimeoutError} (its attempt is aborted with it); its worker is terminated and
   * replaced. The time includes waiting behind the worker's other messages (at most
   * `concurrencyPerWorker - 1`).
   */
  handlerTimeoutMs?: number;
  /** Most messages sent to a worker in one postMessage. Default 64. */
  maxBatchSize?: number;
  /** Replace each worker once it has been given this many messages (after it finishes them). */
  recycleAfterTasks?: number;
  /** Timers (restart delays, ready deadline, handler timeouts). Default: the system clock. */
  clock?: Clock;
  /** Starts one thread. Default: a real worker thread; the seeded simulation passes fake ones. */
  spawn?: SpawnWorker;
}

/** Counters of the pool's life, e.g. for metrics. */
export interface WorkerEngineStats {
  /** Threads started, replacements included. */
  readonly workersStarted: number;
  /** Workers that died: uncaught error, exit, failed load or missed ready deadline. */
  readonly crashes: number;
  /** Workers terminated because a message exceeded `handlerTimeoutMs`. */
  readonly timeouts: number;
  /** Workers replaced after `recycleAfterTasks`. */
  readonly recycles: number;
}

/** One attempt, from execute() until it settles. */
interface Task {
  readonly id: number;
  readonly message: ConsumerMessage;
  readonly context: Attempt;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  /** Set as `context.onAbort` while the task is ours. */
  readonly onAbort: (reason: unknown) => void;
  /** The worker holding it; undefined while no worker accepts work (all recycling). */
  member: Member | undefined;
  /** Set once posted to the worker. */
  batch: Batch | undefined;
}

/** Messages posted together: they share a send time, hence a timeout timer. */
interface Batch {
  pending: number;
  timer: Timer | undefined;
}

/** One worker thread of the pool and what it holds. A replacement is a new Member in the same slot. */
interface Member {
  readonly slot: number;
  /** Consecutive deaths of this slot's workers before they became ready: sets the restart delay. */
  readonly failedStarts: number;
  thread: WorkerThread | undefined;
  /** The module called runWorker(): messages can be posted. */
  ready: boolean;
  /** Takes no new work; replaced once it holds nothing. */
  retiring: boolean;
  dead: boolean;
  readonly held: Map<number, Task>;
  /** Held but not yet posted (posted on the next microtask, or once ready). */
  outbox: Task[];
  /** Messages posted to this worker so far, shared with it: it reports early when running low. */
  readonly posted: Int32Array;
  assigned: number;
  /** Restart delay, then the deadline for becoming ready. */
  timer: Timer | undefined;
}

/** Defaults of the pool's sizes (the consumer's option validation applies the same ones). */
export const WORKER_DEFAULTS: { readonly concurrencyPerWorker: number; readonly maxBatchSize: number } = {
  concurrencyPerWorker: 4,
  maxBatchSize: 64,
};
const READY_TIMEOUT_MS = 30_000;
const FIRST_RESTART_DELAY_MS = 100;
const MAX_RESTART_DELAY_MS = 5_000;
/** A slot whose workers die this many times in a row before becoming ready breaks the engine. */
const MAX_FAILED_STARTS = 5;

/**
 * Runs handlers in a pool of worker threads: for CPU-bound work, which would otherwise block the
 * event loop (and with it heartbeats and fetching). The handler lives in a worker entry module
 * that calls `runWorker(handler)` from `@pyrallel/consumer/worker`.
 *
 * Attempts started in the same tick go out in batches to the least-loaded worker; payload bytes
 * are copied into exact-size buffers and transferred. A worker that dies or exceeds
 * `handlerTimeoutMs` after it was ready is replaced, and every message it held fails (and is
 * retried). A worker that dies before it is ready ran nothing: its messages wait for another
 * worker. When workers cannot start (before any was ever ready, or 5 times in a row in one slot)
 * the engine is broken: everything fails with {@linkcode EngineFailedError}.
 */
export class WorkerEngine implements ExecutionEngine {
  readonly #url: URL;
  readonly #workers: number;
  readonly #capacity: number;
  readonly #timeoutMs: number | undefined;
  readonly #maxBatch: number;
  readonly #recycleAfter: number | undefined;
  readonly #clock: Clock;
  readonly #spawn: SpawnWorker;
  readonly #members: Member[] = [];
  /** Tasks no worker accepts right now (every worker is recycling). */
  readonly #waiting: Task[] = [];
  readonly #terminations = new Set<Promise<void>>();
  /** Settles once a worker is ready, or the engine broke or closed before that. */
  readonly #started: Promise<void>;
  #startedSettle: { resolve: () => void; reject: (error: EngineFailedError) => void } | undefined;
  #launched = false;
  /** Some worker of this engine became ready: later failed starts are retried, not fatal. */
  #everReady = false;
  /** Why the engine cannot run handlers any more. */
  #broken: EngineFailedError | undefined;
  #nextId = 0;
  #flushQueued = false;
  #closing = false;
  /** close() finished waiting: no more restarts. */
  #terminating = false;
  #closed: Promise<void> | undefined;
  #onQuiet: (() => void) | undefined;
  #stats = { workersStarted: 0, crashes: 0, timeouts: 0, recycles: 0 };

  constructor(options: WorkerEngineOptions) {
    this.#workers = positiveInt("workers", options.workers);
    this.#capacity = positiveInt("concurrencyPerWorker", options.concurrencyPerWorker ?? WORKER_DEFAULTS.concurrencyPerWorker);
    this.#maxBatch = positiveInt("maxBatchSize", options.maxBatchSize ?? WORKER_DEFAULTS.maxBatchSize);
    this.#timeoutMs = options.handlerTimeoutMs === undefined ? undefined : positiveInt("handlerTimeoutMs", options.handlerTimeoutMs);
    this.#recycleAfter = options.recycleAfterTasks === undefined ? undefined : positiveInt("recycleAfterTasks", options.recycleAfterTasks);
    this.#url = moduleUrl(options.module);
    this.#clock = options.clock ?? systemClock;
    this.#spawn = options.spawn ?? spawnWorker;
    this.#started = new Promise((resolve, reject) => (this.#startedSettle = { resolve, reject }));
    // Handled here: when execute() started the pool, nobody may be awaiting start().
    this.#started.catch(() => undefined);
  }

  /**
   * Free capacity of the workers that take work. Before start() it is the whole pool's; once the
   * engine is broken too, so the caller's next execute() learns it at once (it rejects).
   */
  get idleSlots(): number {
    if (this.#broken !== undefined) return this.#workers * this.#capacity;
    if (this.#closing) return 0;
    if (!this.#launched) return this.#workers * this.#capacity;
    let idle = -this.#waiting.length;
    for (const member of this.#members) if (!member.retiring) idle += Math.max(0, this.#capacity - member.held.size);
    return Math.max(0, idle);
  }

  /** Counters of crashes, timeouts and recycles so far. */
  stats(): WorkerEngineStats {
    return { ...this.#stats };
  }

  /**
   * Starts the pool; resolves once a worker is ready (its module called `runWorker()`). Rejects
   * with {@linkcode EngineFailedError} when a worker dies or misses the ready deadline (30 s)
   * before any worker was ready: the module does not load. execute() starts the pool too.
   */
  start(): Promise<void> {
    if (this.#broken !== undefined) return Promise.reject(this.#broken);
    this.#launch();
    return this.#started;
  }

  execute(message: ConsumerMessage, attempt: Attempt): Promise<void> {
    if (this.#broken !== undefined) return Promise.reject(this.#broken);
    if (this.#closing) return Promise.reject(new Error("the worker engine is closed"));
    if (attempt.aborted) return Promise.reject(attempt.reason);
    return new Promise((resolve, reject) => {
      const task: Task = {
        id: this.#nextId++,
        message,
        context: attempt,
        resolve,
        reject,
        onAbort: () => this.#cancel(task),
        member: undefined,
        batch: undefined,
      };
      // A hook, not a listener on attempt.signal: that would create an AbortController per message.
      attempt.onAbort = task.onAbort;
      this.#launch();
      this.#assign(task);
    });
  }

  /**
   * Waits for held messages to finish (except those whose attempt was aborted: the consumer has
   * given up on them), then terminates every worker. Resolves once all threads are gone.
   */
  close(): Promise<void> {
    this.#closed ??= this.#shutdown();
    return this.#closed;
  }

  async #shutdown(): Promise<void> {
    this.#closing = true;
    this.#startedSettle?.reject(new EngineFailedError("the worker engine was closed before a worker was ready"));
    this.#startedSettle = undefined;
    await new Promise<void>((resolve) => {
      this.#onQuiet = resolve;
      this.#checkQuiet();
    });
    this.#terminating = true;
    const closed = () => new WorkerCrashedError("the worker engine closed before this attempt finished");
    for (const member of this.#members) if (!member.dead) this.#replace(member, closed, false);
    for (const task of this.#waiting.splice(0)) this.#fail(task, closed());
    await Promise.all([...this.#terminations]);
  }

  // ---- dispatch ----

  #assign(task: Task): void {
    const member = this.#leastLoaded();
    if (member === undefined) {
      this.#waiting.push(task);
      return;
    }
    task.member = member;
    member.held.set(task.id, task);
    member.outbox.push(task);
    if (this.#recycleAfter !== undefined && ++member.assigned >= this.#recycleAfter) member.retiring = true;
    if (member.outbox.length >= this.#maxBatch) this.#send(member);
    else if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(() => this.#flush());
    }
  }

  /** Prefers a worker below capacity, then a ready one, then the fewest held messages. */
  #leastLoaded(): Member | undefined {
    let best: Member | undefined;
    let bestScore = Infinity;
    for (const member of this.#members) {
      if (member.retiring || member.dead) continue;
      const load = member.held.size;
      const score = (load >= this.#capacity ? 2e9 : 0) + (member.ready ? 0 : 1e9) + load;
      if (score < bestScore) {
        best = member;
        bestScore = score;
      }
    }
    return best;
  }

  #flush(): void {
    this.#flushQueued = false;
    for (const member of this.#members) this.#send(member);
  }

  /** Posts the member's outbox in batches of at most maxBatchSize. */
  #send(member: Member): void {
    while (member.ready && !member.dead && member.outbox.length > 0) {
      const tasks = member.outbox.length <= this.#maxBatch ? member.outbox : member.outbox.slice(0, this.#maxBatch);
      member.outbox = tasks === member.outbox ? [] : member.outbox.slice(tasks.length);
      let wire: ReturnType<typeof encodeBatch>;
      try {
        wire = encodeBatch(tasks);
      } catch (error) {
        // A malformed message (an untyped caller's): it fails, and the others are not harmed.
        for (const task of tasks) this.#fail(task, error);
        continue;
      }
      const batch: Batch = { pending: tasks.length, timer: undefined };
      for (const task of tasks) task.batch = batch;
      const timeoutMs = this.#timeoutMs;
      if (timeoutMs !== undefined) {
        batch.timer = this.#clock.setTimeout(() => this.#timedOut(member, batch, timeoutMs), timeoutMs);
      }
      Atomics.add(member.posted, 0, tasks.length);
      try {
        member.thread!.post({ type: "run", tasks: wire.tasks, payloads: wire.payloads }, [wire.payloads]);
      } catch (error) {
        this.#died(member, error);
      }
    }
  }

  #onMessage(member: Member, data: FromWorker): void {
    if (member.dead) return;
    if (data.type === "ready") {
      member.ready = true;
      this.#clock.clearTimeout(member.timer);
      this.#everReady = true;
      this.#startedSettle?.resolve();
      this.#startedSettle = undefined;
      // The worker groups its results while more than half its capacity is still queued for it.
      const lowWater = Math.floor(this.#capacity / 2);
      try {
        member.thread!.post({ type: "init", posted: member.posted.buffer as SharedArrayBuffer, lowWater }, []);
      } catch (error) {
        return this.#died(member, error);
      }
      this.#send(member);
    } else if (data.type === "done") {
      for (const id of data.ok) this.#settle(member, id, undefined);
      for (const { id, error } of data.failed) this.#settle(member, id, fromWireError(error));
    } else {
      this.#died(member, new Error("the worker exited"));
    }
  }

  #settle(member: Member, id: number, error: Error | undefined): void {
    const task = member.held.get(id);
    if (task === undefined) return;
    this.#release(task);
    if (error === undefined) task.resolve();
    else task.reject(error);
    if (this.#onQuiet) this.#checkQuiet();
  }

  /** The attempt was aborted: drop the task if not yet posted, else tell the worker. */
  #cancel(task: Task): void {
    const member = task.member;
    const reason = task.context.reason;
    if (task.batch === undefined) {
      const waiting = this.#waiting.indexOf(task);
      if (waiting >= 0) this.#waiting.splice(waiting, 1);
      if (member !== undefined) member.outbox = member.outbox.filter((other) => other !== task);
      this.#fail(task, reason);
    } else if (member !== undefined && !member.dead) {
      try {
        member.thread!.post({ type: "cancel", ids: [task.id], reason: toWireError(reason) }, []);
      } catch (error) {
        this.#died(member, error);
      }
    }
    if (this.#onQuiet) this.#checkQuiet();
  }

  /** Forgets a task: its worker slot, abort hook and timeout share. A retiring worker left empty is replaced. */
  #release(task: Task): void {
    if (task.context.onAbort === task.onAbort) task.context.onAbort = undefined;
    const batch = task.batch;
    if (batch !== undefined && --batch.pending === 0) this.#clock.clearTimeout(batch.timer);
    const member = task.member;
    if (member === undefined) return;
    member.held.delete(task.id);
    task.member = undefined;
    // Whatever removed its last task (result, cancel, failure), a retiring worker is done now.
    if (member.retiring && !member.dead && member.held.size === 0) {
      this.#stats.recycles++;
      this.#replace(member, undefined, false);
    }
  }

  #fail(task: Task, error: unknown): void {
    this.#release(task);
    // The control plane reads why an attempt ended from the attempt: a timeout aborts it.
    if (error instanceof HandlerTimeoutError) task.context.abort(error);
    task.reject(error);
  }

  // ---- worker lifecycle ----

  /** Starts the pool once (start() or the first execute()). */
  #launch(): void {
    if (this.#launched || this.#closing || this.#broken !== undefined) return;
    this.#launched = true;
    for (let slot = 0; slot < this.#workers; slot++) this.#members.push(this.#start(slot, 0));
  }

  /** A member for `slot`; its thread starts after a delay growing with failed starts. */
  #start(slot: number, failedStarts: number): Member {
    const member: Member = {
      slot,
      failedStarts,
      thread: undefined,
      ready: false,
      retiring: false,
      dead: false,
      held: new Map(),
      outbox: [],
      posted: new Int32Array(new SharedArrayBuffer(4)),
      assigned: 0,
      timer: undefined,
    };
    const delay = failedStarts === 0 ? 0 : backoffMs(FIRST_RESTART_DELAY_MS, MAX_RESTART_DELAY_MS, failedStarts - 1);
    if (delay === 0) this.#spawnThread(member);
    else member.timer = this.#clock.setTimeout(() => this.#spawnThread(member), delay);
    return member;
  }

  #spawnThread(member: Member): void {
    this.#stats.workersStarted++;
    try {
      member.thread = this.#spawn(this.#url, `pyrallel-worker-${member.slot}`, {
        message: (data) => this.#onMessage(member, data),
        died: (cause) => this.#died(member, cause),
      });
    } catch (error) {
      queueMicrotask(() => this.#died(member, error));
      return;
    }
    if (member.dead) return this.#terminate(member.thread); // it reported its death from inside spawn
    member.timer = this.#clock.setTimeout(
      () => this.#died(member, new Error(`the worker module did not call runWorker() within ${READY_TIMEOUT_MS} ms`)),
      READY_TIMEOUT_MS,
    );
  }

  /**
   * A worker died. After it was ready, the messages it was sent were attempted: they fail. Before,
   * none was sent: they wait for another worker, unless starting workers looks hopeless (no
   * worker was ever ready, or this slot failed to start MAX_FAILED_STARTS times in a row).
   */
  #died(member: Member, cause: unknown): void {
    if (member.dead) return;
    this.#stats.crashes++;
    if (member.ready) {
      const message = `worker ${member.slot} crashed before this attempt finished: ${describe(cause)}`;
      const error = new WorkerCrashedError(message, { cause });
      return this.#replace(member, () => error, false);
    }
    const failedStarts = member.failedStarts + 1;
    if (!this.#everReady) {
      const message = `the worker module ${this.#url} failed to start: ${describe(cause)}`;
      return this.#break(new EngineFailedError(message, { cause }));
    }
    if (failedStarts >= MAX_FAILED_STARTS) {
      const message = `worker ${member.slot} failed to start ${failedStarts} times in a row (module ${this.#url})`;
      return this.#break(new EngineFailedError(`${message}: ${describe(cause)}`, { cause }));
    }
    this.#replace(member, undefined, true);
  }

  #timedOut(member: Member, batch: Batch, timeoutMs: number): void {
    if (member.dead) return;
    this.#stats.timeouts++;
    const crashed = new WorkerCrashedError(
      `worker ${member.slot} was terminated because another of its messages exceeded handlerTimeoutMs (${timeoutMs} ms)`,
    );
    const errorFor = (task: Task) => (task.batch === batch ? new HandlerTimeoutError(timeoutMs) : crashed);
    this.#replace(member, errorFor, false);
  }

  /** The engine cannot run handlers: every worker goes, every message and later execute() fails. */
  #break(error: EngineFailedError): void {
    if (this.#broken !== undefined) return;
    this.#broken = error;
    this.#startedSettle?.reject(error);
    this.#startedSettle = undefined;
    for (const member of this.#members) if (!member.dead) this.#replace(member, () => error, false);
    for (const task of this.#waiting.splice(0)) this.#fail(task, error);
  }

  /**
   * Terminates the member's thread and, unless the engine is closing or broken, starts its
   * successor in the same slot (after a delay if it `failedToStart`). Messages it was sent fail
   * with `errorFor`; those not yet sent were never attempted and go to other workers.
   */
  #replace(member: Member, errorFor: ((task: Task) => unknown) | undefined, failedToStart: boolean): void {
    member.dead = true;
    this.#clock.clearTimeout(member.timer);
    if (member.thread !== undefined) this.#terminate(member.thread);
    const held = [...member.held.values()];
    member.held.clear();
    member.outbox = [];
    const restart = !this.#terminating && this.#broken === undefined;
    if (restart) this.#members[member.slot] = this.#start(member.slot, failedToStart ? member.failedStarts + 1 : 0);
    for (const task of held) {
      task.member = undefined;
      if (task.batch === undefined && restart) this.#assign(task);
      else this.#fail(task, errorFor?.(task) ?? new WorkerCrashedError(`worker ${member.slot} ended`));
    }
    if (restart) for (const task of this.#waiting.splice(0)) this.#assign(task);
    if (this.#onQuiet) this.#checkQuiet();
  }

  /** Ends a thread; close() waits for it to be gone. */
  #terminate(thread: WorkerThread): void {
    const terminated: Promise<void> = thread.terminate().then(() => undefined, () => undefined);
    this.#terminations.add(terminated);
    void terminated.then(() => this.#terminations.delete(terminated));
  }

  /** While closing: resolves the wait once every message finished or was given up on. */
  #checkQuiet(): void {
    for (const task of this.#waiting) if (!task.context.aborted) return;
    for (const member of this.#members) {
      for (const task of member.held.values()) if (!task.context.aborted) return;
    }
    const resolve = this.#onQuiet;
    this.#onQuiet = undefined;
    resolve?.();
  }
}

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`WorkerEngine: ${name} must be a whole number ≥ 1, got ${value}`);
  return value;
}

function moduleUrl(module: string | URL): URL {
  if (module instanceof URL) return module;
  try {
    return new URL(module);
  } catch {
    throw new TypeError(
      `WorkerEngine: module must be a URL such as new URL("./worker.ts", import.meta.url), got ${JSON.stringify(module)}`,
    );
  }
}

function describe(cause: unknown): string {
  return cause instanceof Error ? `${nameOfThrown(cause)}: ${describeThrown(cause)}` : describeThrown(cause);
}
