import type { ConsumerMessage, HandlerContext } from "../../core/message.ts";
import type { ExecutionEngine } from "../engine.ts";
import { HandlerTimeoutError } from "../handler-timeout-error.ts";
import { WorkerCrashedError } from "./errors.ts";
import { encodeBatch, type FromWorker, fromWireError, toWireError } from "./protocol.ts";
import { spawnWorker, type WorkerThread } from "./spawn.ts";

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
   * {@linkcode HandlerTimeoutError}; its worker is terminated and replaced. The time includes
   * waiting behind the worker's other messages (at most `concurrencyPerWorker - 1`).
   */
  handlerTimeoutMs?: number;
  /** Most messages sent to a worker in one postMessage. Default 64. */
  maxBatchSize?: number;
  /** Replace each worker once it has been given this many messages (after it finishes them). */
  recycleAfterTasks?: number;
}

/** Counters of the pool's life, e.g. for metrics. */
export interface WorkerEngineStats {
  /** Threads started, replacements included. */
  readonly workersStarted: number;
  /** Workers that died (uncaught error, exit, failed load) and were replaced. */
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
  readonly context: HandlerContext;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  readonly onAbort: () => void;
  /** The worker holding it; undefined while no worker accepts work (all recycling). */
  member: Member | undefined;
  /** Set once posted to the worker. */
  batch: Batch | undefined;
}

/** Messages posted together: they share a send time, hence a timeout timer. */
interface Batch {
  pending: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** One worker thread of the pool and what it holds. A replacement is a new Member in the same slot. */
interface Member {
  readonly slot: number;
  /** Consecutive deaths of this slot's workers before they became ready: sets the restart delay. */
  readonly failedStarts: number;
  thread: WorkerThread | undefined;
  /** The module called runWorker(): messages can be posted. */
  ready: boolean;
  /** Takes no new work; replaced once what it holds completes. */
  retiring: boolean;
  dead: boolean;
  readonly held: Map<number, Task>;
  /** Held but not yet posted (posted on the next microtask, or once ready). */
  outbox: Task[];
  /** Messages posted to this worker so far, shared with it: it reports early when running low. */
  readonly posted: Int32Array;
  assigned: number;
  /** Restart delay, then the deadline for becoming ready. */
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** Defaults of the pool's sizes (the consumer's option validation applies the same ones). */
export const WORKER_DEFAULTS: { readonly concurrencyPerWorker: number; readonly maxBatchSize: number } = {
  concurrencyPerWorker: 4,
  maxBatchSize: 64,
};
const READY_TIMEOUT_MS = 30_000;
const MAX_RESTART_DELAY_MS = 5_000;

/**
 * Runs handlers in a pool of worker threads: for CPU-bound work, which would otherwise block the
 * event loop (and with it heartbeats and fetching). The handler lives in a worker entry module
 * that calls `runWorker(handler)` from `@pyrallel/consumer/worker`.
 *
 * Attempts started in the same tick go out in batches to the least-loaded worker; payload bytes
 * are copied into exact-size buffers and transferred. A worker that dies or exceeds
 * `handlerTimeoutMs` is replaced, and every message it held fails (and is retried).
 */
export class WorkerEngine implements ExecutionEngine {
  readonly #url: URL;
  readonly #capacity: number;
  readonly #timeoutMs: number | undefined;
  readonly #maxBatch: number;
  readonly #recycleAfter: number | undefined;
  readonly #members: Member[] = [];
  /** Tasks no worker accepts right now (every worker is recycling). */
  readonly #waiting: Task[] = [];
  readonly #terminations = new Set<Promise<void>>();
  #nextId = 0;
  #flushQueued = false;
  #closing = false;
  #closed: Promise<void> | undefined;
  #onQuiet: (() => void) | undefined;
  #stats = { workersStarted: 0, crashes: 0, timeouts: 0, recycles: 0 };

  constructor(options: WorkerEngineOptions) {
    const workers = positiveInt("workers", options.workers);
    this.#capacity = positiveInt("concurrencyPerWorker", options.concurrencyPerWorker ?? WORKER_DEFAULTS.concurrencyPerWorker);
    this.#maxBatch = positiveInt("maxBatchSize", options.maxBatchSize ?? WORKER_DEFAULTS.maxBatchSize);
    this.#timeoutMs = options.handlerTimeoutMs === undefined ? undefined : positiveInt("handlerTimeoutMs", options.handlerTimeoutMs);
    this.#recycleAfter = options.recycleAfterTasks === undefined ? undefined : positiveInt("recycleAfterTasks", options.recycleAfterTasks);
    this.#url = moduleUrl(options.module);
    for (let slot = 0; slot < workers; slot++) this.#members.push(this.#start(slot, 0));
  }

  get idleSlots(): number {
    if (this.#closing) return 0;
    let idle = -this.#waiting.length;
    for (const member of this.#members) if (!member.retiring) idle += Math.max(0, this.#capacity - member.held.size);
    return Math.max(0, idle);
  }

  /** Counters of crashes, timeouts and recycles so far. */
  stats(): WorkerEngineStats {
    return { ...this.#stats };
  }

  execute(message: ConsumerMessage, context: HandlerContext): Promise<void> {
    if (this.#closing) return Promise.reject(new Error("the worker engine is closed"));
    if (context.signal.aborted) return Promise.reject(context.signal.reason);
    return new Promise((resolve, reject) => {
      const task: Task = {
        id: this.#nextId++,
        message,
        context,
        resolve,
        reject,
        onAbort: () => this.#cancel(task),
        member: undefined,
        batch: undefined,
      };
      context.signal.addEventListener("abort", task.onAbort, { once: true });
      this.#assign(task);
    });
  }

  /**
   * Waits for held messages to finish (except those whose signal was aborted: the consumer has
   * given up on them), then terminates every worker. Resolves once all threads are gone.
   */
  close(): Promise<void> {
    this.#closed ??= this.#shutdown();
    return this.#closed;
  }

  async #shutdown(): Promise<void> {
    this.#closing = true;
    await new Promise<void>((resolve) => {
      this.#onQuiet = resolve;
      this.#checkQuiet();
    });
    const closed = () => new WorkerCrashedError("the worker engine closed before this attempt finished");
    for (const member of this.#members) if (!member.dead) this.#replace(member, closed);
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
      const wire = encodeBatch(tasks);
      const batch: Batch = { pending: tasks.length, timer: undefined };
      for (const task of tasks) task.batch = batch;
      const timeoutMs = this.#timeoutMs;
      if (timeoutMs !== undefined) batch.timer = setTimeout(() => this.#timedOut(member, batch, timeoutMs), timeoutMs);
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
      clearTimeout(member.timer);
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
    if (member.retiring && member.held.size === 0) {
      this.#stats.recycles++;
      this.#replace(member, undefined);
    }
    if (this.#onQuiet) this.#checkQuiet();
  }

  /** The owner aborted the attempt: drop it if not yet posted, else tell the worker. */
  #cancel(task: Task): void {
    const member = task.member;
    if (task.batch === undefined) {
      if (member === undefined) this.#waiting.splice(this.#waiting.indexOf(task), 1);
      else member.outbox = member.outbox.filter((other) => other !== task);
      this.#fail(task, task.context.signal.reason);
    } else if (member !== undefined && !member.dead) {
      try {
        member.thread!.post({ type: "cancel", ids: [task.id], reason: toWireError(task.context.signal.reason) }, []);
      } catch (error) {
        this.#died(member, error);
      }
    }
    if (this.#onQuiet) this.#checkQuiet();
  }

  /** Forgets a task: its worker slot, abort listener and timeout share. */
  #release(task: Task): void {
    task.member?.held.delete(task.id);
    task.context.signal.removeEventListener("abort", task.onAbort);
    const batch = task.batch;
    if (batch !== undefined && --batch.pending === 0) clearTimeout(batch.timer);
  }

  #fail(task: Task, error: unknown): void {
    this.#release(task);
    task.reject(error);
  }

  // ---- worker lifecycle ----

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
    const delay = failedStarts === 0 ? 0 : Math.min(100 * 2 ** (failedStarts - 1), MAX_RESTART_DELAY_MS);
    if (delay === 0) this.#launch(member);
    else member.timer = setTimeout(() => this.#launch(member), delay);
    return member;
  }

  #launch(member: Member): void {
    this.#stats.workersStarted++;
    try {
      member.thread = spawnWorker(this.#url, `pyrallel-worker-${member.slot}`, {
        message: (data) => this.#onMessage(member, data),
        died: (cause) => this.#died(member, cause),
      });
    } catch (error) {
      queueMicrotask(() => this.#died(member, error));
      return;
    }
    member.timer = setTimeout(
      () => this.#died(member, new Error(`the worker module did not call runWorker() within ${READY_TIMEOUT_MS} ms`)),
      READY_TIMEOUT_MS,
    );
  }

  #died(member: Member, cause: unknown): void {
    if (member.dead) return;
    this.#stats.crashes++;
    const error = new WorkerCrashedError(
      `worker ${member.slot} ${member.ready ? "crashed" : "failed to start"} before this attempt finished: ${describe(cause)}`,
      { cause },
    );
    this.#replace(member, () => error);
  }

  #timedOut(member: Member, batch: Batch, timeoutMs: number): void {
    if (member.dead) return;
    this.#stats.timeouts++;
    const crashed = new WorkerCrashedError(
      `worker ${member.slot} was terminated because another of its messages exceeded handlerTimeoutMs (${timeoutMs} ms)`,
    );
    this.#replace(member, (task) => (task.batch === batch ? new HandlerTimeoutError(timeoutMs) : crashed));
  }

  /**
   * Terminates the member's thread, fails every message it held with `errorFor` (none are held
   * when recycling) and, unless closing, starts its successor in the same slot.
   */
  #replace(member: Member, errorFor: ((task: Task) => Error) | undefined): void {
    member.dead = true;
    clearTimeout(member.timer);
    if (member.thread !== undefined) {
      const terminated: Promise<void> = member.thread.terminate().then(() => undefined, () => undefined);
      this.#terminations.add(terminated);
      void terminated.then(() => this.#terminations.delete(terminated));
    }
    const held = [...member.held.values()];
    member.outbox = [];
    if (!this.#closing) {
      this.#members[member.slot] = this.#start(member.slot, member.ready ? 0 : member.failedStarts + 1);
      for (const task of this.#waiting.splice(0)) this.#assign(task);
    }
    for (const task of held) {
      this.#fail(task, errorFor?.(task) ?? new WorkerCrashedError(`worker ${member.slot} ended`));
    }
    if (this.#onQuiet) this.#checkQuiet();
  }

  /** While closing: resolves the wait once every held message finished or was given up on. */
  #checkQuiet(): void {
    for (const member of this.#members) {
      for (const task of member.held.values()) if (!task.context.signal.aborted) return;
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
  return cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
}
