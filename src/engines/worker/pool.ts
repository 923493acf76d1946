// Main side: the lives of the worker threads. Starts one worker per slot, waits for it to become
// ready, notices its death and starts its successor in the same slot (after a capped backoff when
// it died while starting), and breaks the engine when workers cannot start. What the workers run is
// the tenant's business (dispatcher.ts): the pool only tells it, per worker, of readiness, results
// and the end.
import type { Clock, Timer } from "../../core/clock.ts";
import { EngineFailedError, WorkerCrashedError } from "../../core/errors.ts";
import { backoffMs } from "../../core/retry-policy.ts";
import { describeThrown, nameOfThrown } from "../../core/thrown.ts";
import type { FromWorker, ToWorker, WorkerResults } from "./protocol.ts";
import { type SpawnWorker, WorkerExitedError, type WorkerThread } from "./spawn.ts";

const READY_TIMEOUT_MS = 30_000;
const FIRST_RESTART_DELAY_MS = 100;
const MAX_RESTART_DELAY_MS = 5_000;
/** A slot whose workers die this many times in a row before becoming ready breaks the engine. */
const MAX_FAILED_STARTS = 5;

/** Makes the error for each message a gone worker had been sent. */
export type Failure = () => unknown;

/** One worker of the pool, as its tenant sees it. A replacement is a new PoolWorker in the same slot. */
export interface PoolWorker {
  /** Its place in the pool, 0 to `workers - 1`; it names the thread. */
  readonly slot: number;
  /** Its module called runWorker(): messages can be posted. */
  readonly ready: boolean;
  /** Gone (died or terminated): it takes nothing more. */
  readonly dead: boolean;
  /** Whether terminating its thread stops a handler running there (see `WorkerThread`). */
  readonly haltsRunningCode: boolean;
  /** Posts to its thread. Failing to post is its death, which the tenant hears of before this returns. */
  post(message: ToWorker, transfer: ArrayBuffer[]): void;
  /** Replaces it: it was given its `recycleAfterTasks` messages and holds none any more. */
  recycle(): void;
  /** Terminates and replaces it, to stop a handler (a timeout, a blocked commit, an ignored abort). */
  kill(failure: Failure): void;
}

/** What the pool tells its tenant about one worker. */
export interface WorkerListener {
  /** It can take messages now. */
  ready(): void;
  /** It reported results. */
  done(results: WorkerResults): void;
  /** The handler of the task in `slot` (task `id`) called `context.pause(ms)`. */
  paused(slot: number, id: number, ms: number): void;
  /**
   * It is gone: its thread no longer runs (told only once terminate() completed). `failure()` is
   * why (undefined: recycled, or it never became ready); `restarted`: a successor already took
   * the slot.
   */
  ended(failure: Failure | undefined, restarted: boolean): void;
}

/** Who puts work on the pool's workers. */
export interface PoolTenant {
  /** A worker was added to the pool (at launch or as a successor); its news go to the returned listener. */
  joined(worker: PoolWorker): WorkerListener;
  /** The pool starts no more workers (broken or closed): whatever waits for one fails with `failure()`. */
  stopped(failure: Failure): void;
}

/** Settings of {@linkcode WorkerPool}. */
export interface PoolSettings {
  /** The worker entry module. */
  readonly url: URL;
  /** Slots, each with one worker at a time. */
  readonly workers: number;
  /** Restart delays and the ready deadline. */
  readonly clock: Clock;
  /** Starts one thread. */
  readonly spawn: SpawnWorker;
}

/** Counters of the pool's life, e.g. for metrics. */
export interface WorkerPoolStats {
  /** Threads started, replacements included. */
  readonly workersStarted: number;
  /** Workers that died: uncaught error, exit, failed load or missed ready deadline. */
  readonly crashes: number;
  /** Workers terminated to stop a handler: `handlerTimeoutMs`, `maxBlockingMs`, or an ignored abort. */
  readonly kills: number;
  /** Workers replaced after `recycleAfterTasks`. */
  readonly recycles: number;
}

interface Member extends PoolWorker {
  /** Consecutive deaths of this slot's workers before they became ready: sets the restart delay. */
  readonly failedStarts: number;
  ready: boolean;
  dead: boolean;
  thread: WorkerThread | undefined;
  /** Restart delay, then the deadline for becoming ready. */
  timer: Timer | undefined;
  /** Set right after creation, by the tenant. */
  listener: WorkerListener | undefined;
}

/**
 * The worker threads of one engine. A worker that dies after it was ready is replaced at once; one
 * that dies while starting is replaced after a delay doubling from 100 ms to 5 s. Workers that
 * cannot start (before any was ever ready, or 5 times in a row in one slot) break the pool: every
 * worker goes and {@linkcode WorkerPool.broken} says why.
 */
export class WorkerPool {
  readonly #url: URL;
  readonly #workers: number;
  readonly #clock: Clock;
  readonly #spawn: SpawnWorker;
  readonly #tenant: PoolTenant;
  /** The current worker of each slot. */
  readonly #members: Member[] = [];
  readonly #terminations = new Set<Promise<void>>();
  /** Settles once a worker is ready, or the pool broke or began closing before that. */
  readonly #started: Promise<void>;
  #startedSettle: { resolve: () => void; reject: (error: EngineFailedError) => void } | undefined;
  #launched = false;
  /** Some worker became ready: later failed starts are retried, not fatal. */
  #everReady = false;
  /** The module's runWorker() was given a batch handler (said by the first worker ready). */
  #runsBatches = false;
  #broken: EngineFailedError | undefined;
  #closing = false;
  /** Closing and done waiting: no more successors. */
  #terminating = false;
  readonly #stats = { workersStarted: 0, crashes: 0, kills: 0, recycles: 0 };

  constructor(settings: PoolSettings, tenant: PoolTenant) {
    this.#url = settings.url;
    this.#workers = settings.workers;
    this.#clock = settings.clock;
    this.#spawn = settings.spawn;
    this.#tenant = tenant;
    this.#started = new Promise((resolve, reject) => (this.#startedSettle = { resolve, reject }));
    // Handled here: when execute() launched the pool, nobody may be awaiting `started`.
    this.#started.catch(() => undefined);
  }

  /** Whether {@linkcode launch} started the workers. */
  get launched(): boolean {
    return this.#launched;
  }

  /** Whether the workers run a batch handler: known once a worker is ready. */
  get runsBatches(): boolean {
    return this.#runsBatches;
  }

  /** Why the pool cannot run handlers any more, once it cannot. */
  get broken(): EngineFailedError | undefined {
    return this.#broken;
  }

  /** Whether {@linkcode beginClose} was called. */
  get closing(): boolean {
    return this.#closing;
  }

  /**
   * Resolves once a worker is ready. Rejects with {@linkcode EngineFailedError} when the pool broke
   * or began closing before that.
   */
  get started(): Promise<void> {
    return this.#started;
  }

  /** Counters of starts, crashes, kills and recycles so far. */
  stats(): WorkerPoolStats {
    return { ...this.#stats };
  }

  /** Starts a worker in every slot, once; not after the pool broke or began closing. */
  launch(): void {
    if (this.#launched || this.#closing || this.#broken !== undefined) return;
    this.#launched = true;
    for (let slot = 0; slot < this.#workers && this.#broken === undefined; slot++) this.#start(slot, 0);
  }

  /** First step of closing: no launch from now, and `started` rejects if still pending. */
  beginClose(): void {
    this.#closing = true;
    this.#startedSettle?.reject(new EngineFailedError("the worker engine was closed before a worker was ready"));
    this.#startedSettle = undefined;
  }

  /**
   * Last step of closing: terminates every worker (what they were sent fails with `failure()`)
   * and resolves once all threads are gone.
   */
  async terminate(failure: Failure): Promise<void> {
    this.#terminating = true;
    for (const member of this.#members) if (!member.dead) this.#replace(member, failure, false);
    this.#tenant.stopped(failure);
    await Promise.all([...this.#terminations]);
  }

  /** A member for `slot`, in place at once; its thread starts after a delay growing with failed starts. */
  #start(slot: number, failedStarts: number): void {
    const member: Member = {
      slot,
      failedStarts,
      ready: false,
      dead: false,
      thread: undefined,
      timer: undefined,
      listener: undefined,
      get haltsRunningCode() {
        return member.thread?.haltsRunningCode ?? true;
      },
      post: (message, transfer) => this.#post(member, message, transfer),
      recycle: () => {
        this.#stats.recycles++;
        this.#replace(member, undefined, false);
      },
      kill: (failure) => {
        if (member.dead) return;
        this.#stats.kills++;
        this.#replace(member, failure, false);
      },
    };
    this.#members[slot] = member;
    member.listener = this.#tenant.joined(member);
    const delay = failedStarts === 0 ? 0 : backoffMs(FIRST_RESTART_DELAY_MS, MAX_RESTART_DELAY_MS, failedStarts - 1);
    if (delay === 0) this.#spawnThread(member);
    else member.timer = this.#clock.setTimeout(() => this.#spawnThread(member), delay);
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

  #post(member: Member, message: ToWorker, transfer: ArrayBuffer[]): void {
    try {
      member.thread!.post(message, transfer);
    } catch (error) {
      this.#died(member, error);
    }
  }

  #onMessage(member: Member, data: FromWorker): void {
    if (member.dead) return;
    if (data.type === "ready") {
      member.ready = true;
      // Every worker loads the same module: the first to be ready says which handler it runs.
      if (data.batches === true) this.#runsBatches = true;
      this.#clock.clearTimeout(member.timer);
      this.#everReady = true;
      this.#startedSettle?.resolve();
      this.#startedSettle = undefined;
      member.listener?.ready();
    } else if (data.type === "done") {
      member.listener?.done(data);
    } else if (data.type === "pause") {
      member.listener?.paused(data.slot, data.id, data.ms);
    } else {
      this.#died(member, new Error("the worker exited"));
    }
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
      // Node and Bun end a worker whose module returned without calling runWorker() (code 0);
      // Deno keeps it idle until the ready timeout, whose message says the same.
      const ended = cause instanceof WorkerExitedError && cause.code === 0;
      const why = ended ? "it ended without calling runWorker(handler): call it in the module" : describe(cause);
      const message = `the worker module ${this.#url} failed to start: ${why}`;
      return this.#break(new EngineFailedError(message, { cause }));
    }
    if (failedStarts >= MAX_FAILED_STARTS) {
      const message = `worker ${member.slot} failed to start ${failedStarts} times in a row (module ${this.#url})`;
      return this.#break(new EngineFailedError(`${message}: ${describe(cause)}`, { cause }));
    }
    this.#replace(member, undefined, true);
  }

  /** The pool cannot run handlers: every worker goes, and everything waiting for one fails. */
  #break(error: EngineFailedError): void {
    if (this.#broken !== undefined) return;
    this.#broken = error;
    this.#startedSettle?.reject(error);
    this.#startedSettle = undefined;
    const failure = () => error;
    for (const member of this.#members) if (!member.dead) this.#replace(member, failure, false);
    this.#tenant.stopped(failure);
  }

  /**
   * Terminates the member's thread and, unless the pool is closing or broken, starts its successor
   * in the same slot at once (after a delay if it `failedToStart`). The tenant hears that the
   * member ended once its thread is gone: only then is what it was running known to have stopped.
   */
  #replace(member: Member, failure: Failure | undefined, failedToStart: boolean): void {
    member.dead = true;
    this.#clock.clearTimeout(member.timer);
    const restarted = !this.#terminating && this.#broken === undefined;
    if (restarted) this.#start(member.slot, failedToStart ? member.failedStarts + 1 : 0);
    this.#terminate(member.thread, () => member.listener?.ended(failure, restarted));
  }

  /** Ends a thread, then calls `gone`; terminate() waits for both. */
  #terminate(thread: WorkerThread | undefined, gone: () => void = () => undefined): void {
    const stopped = thread === undefined
      ? Promise.resolve()
      : thread.terminate().then(() => undefined, () => undefined);
    const terminated = stopped.then(gone);
    this.#terminations.add(terminated);
    void terminated.then(() => this.#terminations.delete(terminated));
  }
}

function describe(cause: unknown): string {
  return cause instanceof Error ? `${nameOfThrown(cause)}: ${describeThrown(cause)}` : describeThrown(cause);
}
