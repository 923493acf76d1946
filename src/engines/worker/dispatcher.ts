// Main side: which worker runs which attempt. Attempts started in the same tick go out in batches
// to the least-loaded worker, at most `concurrencyPerWorker` held per worker; results, cancels and
// handler timeouts are routed back to their attempts. The workers' lives are the pool's (pool.ts):
// the dispatcher is its tenant, told when a worker is ready, reports, or is gone.
import type { Attempt } from "../../core/attempt.ts";
import type { Clock, Timer } from "../../core/clock.ts";
import { HandlerTimeoutError, WorkerCrashedError } from "../../core/errors.ts";
import type { ConsumerMessage } from "../../core/message.ts";
import type { Failure, PoolTenant, PoolWorker, WorkerListener, WorkerResults } from "./pool.ts";
import { encodeBatch, fromWireError, toWireError } from "./protocol.ts";

/** Settings of {@linkcode TaskDispatcher}. */
export interface TaskDispatcherSettings {
  /** Messages one worker holds at once. */
  readonly concurrencyPerWorker: number;
  /** Most messages in one postMessage. */
  readonly maxBatchSize: number;
  /** A message unfinished this long after it was posted times out; undefined: never. */
  readonly handlerTimeoutMs: number | undefined;
  /** A worker given this many messages takes no more and is recycled once it holds none. */
  readonly recycleAfterTasks: number | undefined;
  /** Handler timeouts. */
  readonly clock: Clock;
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
  /** The worker holding it; undefined while waiting (every worker was recycling). */
  lane: Lane | undefined;
  /** Set once posted to the worker. */
  batch: Batch | undefined;
}

/** Messages posted together: they share a send time, hence a timeout timer. */
interface Batch {
  pending: number;
  timer: Timer | undefined;
}

/** What one pool worker holds. */
interface Lane {
  readonly worker: PoolWorker;
  readonly held: Map<number, Task>;
  /** Held but not yet posted (posted on the next microtask, or once ready). */
  outbox: Task[];
  /** Messages posted to this worker so far, shared with it: it reports early when running low. */
  readonly posted: Int32Array;
  assigned: number;
  /** Takes no new work; recycled once it holds nothing. */
  retiring: boolean;
  /** The batch whose timeout is terminating this worker: its messages fail with HandlerTimeoutError. */
  timedOut: { readonly batch: Batch; readonly timeoutMs: number } | undefined;
}

/**
 * Hands attempts to the pool's workers and settles them from the workers' reports. Messages a
 * worker was sent fail when it is gone; those not yet sent move to another worker.
 */
export class TaskDispatcher implements PoolTenant {
  readonly #capacity: number;
  readonly #maxBatch: number;
  readonly #timeoutMs: number | undefined;
  readonly #recycleAfter: number | undefined;
  readonly #clock: Clock;
  /** The current worker of each slot. */
  readonly #lanes: Lane[] = [];
  /** Tasks no worker accepts right now (every worker is recycling). */
  readonly #waiting: Task[] = [];
  #nextId = 0;
  #flushQueued = false;
  #onQuiet: (() => void) | undefined;

  constructor(settings: TaskDispatcherSettings) {
    this.#capacity = settings.concurrencyPerWorker;
    this.#maxBatch = settings.maxBatchSize;
    this.#timeoutMs = settings.handlerTimeoutMs;
    this.#recycleAfter = settings.recycleAfterTasks;
    this.#clock = settings.clock;
  }

  /** Free capacity of the workers that take work, less the tasks waiting for one. */
  get idleSlots(): number {
    let idle = -this.#waiting.length;
    for (const lane of this.#lanes) if (!lane.retiring) idle += Math.max(0, this.#capacity - lane.held.size);
    return Math.max(0, idle);
  }

  /** Runs one attempt on some worker; settles with its result. */
  execute(message: ConsumerMessage, attempt: Attempt): Promise<void> {
    return new Promise((resolve, reject) => {
      const task: Task = {
        id: this.#nextId++,
        message,
        context: attempt,
        resolve,
        reject,
        onAbort: () => this.#cancel(task),
        lane: undefined,
        batch: undefined,
      };
      // A hook, not a listener on attempt.signal: that would create an AbortController per message.
      attempt.onAbort = task.onAbort;
      this.#assign(task);
    });
  }

  /** Resolves once every task finished or was given up on (its attempt aborted). */
  quiet(): Promise<void> {
    return new Promise((resolve) => {
      this.#onQuiet = resolve;
      this.#checkQuiet();
    });
  }

  /** A worker joined the pool: from now on it is offered work (a successor takes its slot's place). */
  joined(worker: PoolWorker): WorkerListener {
    const lane: Lane = {
      worker,
      held: new Map(),
      outbox: [],
      posted: new Int32Array(new SharedArrayBuffer(4)),
      assigned: 0,
      retiring: false,
      timedOut: undefined,
    };
    this.#lanes[worker.slot] = lane;
    return {
      ready: () => this.#ready(lane),
      done: (results) => this.#done(lane, results),
      ended: (failure, restarted) => this.#ended(lane, failure, restarted),
    };
  }

  /** The pool starts no more workers: messages waiting for one fail. */
  stopped(failure: Failure): void {
    for (const task of this.#waiting.splice(0)) this.#fail(task, failure());
  }

  #assign(task: Task): void {
    const lane = this.#leastLoaded();
    if (lane === undefined) {
      this.#waiting.push(task);
      return;
    }
    task.lane = lane;
    lane.held.set(task.id, task);
    lane.outbox.push(task);
    if (this.#recycleAfter !== undefined && ++lane.assigned >= this.#recycleAfter) lane.retiring = true;
    if (lane.outbox.length >= this.#maxBatch) this.#send(lane);
    else if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(() => this.#flush());
    }
  }

  /** Prefers a worker below capacity, then a ready one, then the fewest held messages. */
  #leastLoaded(): Lane | undefined {
    let best: Lane | undefined;
    let bestScore = Infinity;
    for (const lane of this.#lanes) {
      if (lane.retiring || lane.worker.dead) continue;
      const load = lane.held.size;
      const score = (load >= this.#capacity ? 2e9 : 0) + (lane.worker.ready ? 0 : 1e9) + load;
      if (score < bestScore) {
        best = lane;
        bestScore = score;
      }
    }
    return best;
  }

  #flush(): void {
    this.#flushQueued = false;
    for (const lane of this.#lanes) this.#send(lane);
  }

  /** Posts the lane's outbox in batches of at most maxBatchSize, once its worker is ready. */
  #send(lane: Lane): void {
    const worker = lane.worker;
    while (worker.ready && !worker.dead && lane.outbox.length > 0) {
      const tasks = lane.outbox.length <= this.#maxBatch ? lane.outbox : lane.outbox.slice(0, this.#maxBatch);
      lane.outbox = tasks === lane.outbox ? [] : lane.outbox.slice(tasks.length);
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
        batch.timer = this.#clock.setTimeout(() => this.#timedOut(lane, batch, timeoutMs), timeoutMs);
      }
      Atomics.add(lane.posted, 0, tasks.length);
      worker.post({ type: "run", tasks: wire.tasks, payloads: wire.payloads }, [wire.payloads]);
    }
  }

  #ready(lane: Lane): void {
    // The worker groups its results while more than half its capacity is still queued for it.
    const lowWater = Math.floor(this.#capacity / 2);
    lane.worker.post({ type: "init", posted: lane.posted.buffer as SharedArrayBuffer, lowWater }, []);
    this.#send(lane);
  }

  #done(lane: Lane, results: WorkerResults): void {
    for (const id of results.ok) this.#settle(lane, id, undefined);
    for (const { id, error } of results.failed) this.#settle(lane, id, fromWireError(error));
  }

  #settle(lane: Lane, id: number, error: Error | undefined): void {
    const task = lane.held.get(id);
    if (task === undefined) return;
    this.#release(task);
    if (error === undefined) task.resolve();
    else task.reject(error);
    if (this.#onQuiet) this.#checkQuiet();
  }

  /** The attempt was aborted: drop the task if not yet posted, else tell the worker. */
  #cancel(task: Task): void {
    const lane = task.lane;
    const reason = task.context.reason;
    if (task.batch === undefined) {
      const waiting = this.#waiting.indexOf(task);
      if (waiting >= 0) this.#waiting.splice(waiting, 1);
      if (lane !== undefined) lane.outbox = lane.outbox.filter((other) => other !== task);
      this.#fail(task, reason);
    } else if (lane !== undefined && !lane.worker.dead) {
      lane.worker.post({ type: "cancel", ids: [task.id], reason: toWireError(reason) }, []);
    }
    if (this.#onQuiet) this.#checkQuiet();
  }

  #timedOut(lane: Lane, batch: Batch, timeoutMs: number): void {
    if (lane.worker.dead) return;
    lane.timedOut = { batch, timeoutMs };
    const crashed = new WorkerCrashedError(
      `worker ${lane.worker.slot} was terminated because another of its messages exceeded handlerTimeoutMs (${timeoutMs} ms)`,
    );
    lane.worker.timedOut(() => crashed);
  }

  /**
   * The lane's worker is gone. Messages it was sent fail (a timed-out batch with
   * HandlerTimeoutError); those not yet sent were never attempted and go to other workers.
   */
  #ended(lane: Lane, failure: Failure | undefined, restarted: boolean): void {
    const held = [...lane.held.values()];
    lane.held.clear();
    lane.outbox = [];
    const timedOut = lane.timedOut;
    for (const task of held) {
      task.lane = undefined;
      if (task.batch === undefined && restarted) this.#assign(task);
      else if (timedOut !== undefined && task.batch === timedOut.batch) {
        this.#fail(task, new HandlerTimeoutError(timedOut.timeoutMs));
      } else this.#fail(task, failure?.() ?? new WorkerCrashedError(`worker ${lane.worker.slot} ended`));
    }
    if (restarted) { for (const task of this.#waiting.splice(0)) this.#assign(task); }
    if (this.#onQuiet) this.#checkQuiet();
  }

  /** Forgets a task: its worker slot, abort hook and timeout share. A retiring worker left empty is recycled. */
  #release(task: Task): void {
    if (task.context.onAbort === task.onAbort) task.context.onAbort = undefined;
    const batch = task.batch;
    if (batch !== undefined && --batch.pending === 0) this.#clock.clearTimeout(batch.timer);
    const lane = task.lane;
    if (lane === undefined) return;
    lane.held.delete(task.id);
    task.lane = undefined;
    // Whatever removed its last task (result, cancel, failure), a retiring worker is done now.
    if (lane.retiring && !lane.worker.dead && lane.held.size === 0) lane.worker.recycle();
  }

  #fail(task: Task, error: unknown): void {
    this.#release(task);
    // The control plane reads why an attempt ended from the attempt: a timeout aborts it.
    if (error instanceof HandlerTimeoutError) task.context.abort(error);
    task.reject(error);
  }

  /** While quiet() waits: resolves it once every task finished or was given up on. */
  #checkQuiet(): void {
    for (const task of this.#waiting) if (!task.context.aborted) return;
    for (const lane of this.#lanes) {
      for (const task of lane.held.values()) if (!task.context.aborted) return;
    }
    const resolve = this.#onQuiet;
    this.#onQuiet = undefined;
    resolve?.();
  }
}
