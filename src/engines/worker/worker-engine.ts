import type { Attempt } from "../../core/attempt.ts";
import { type Clock, systemClock } from "../../core/clock.ts";
// deno-lint-ignore no-unused-vars -- EngineFailedError is named in the TSDoc
import { type EngineFailedError, WorkerCrashedError } from "../../core/errors.ts";
import type { ConsumerMessage } from "../../core/message.ts";
import { type AttemptEnded, endChainSoon, endSoon, type ExecutionEngine } from "../../core/ports/execution-engine.ts";
import { TaskDispatcher } from "./dispatcher.ts";
import { WorkerPool, type WorkerPoolStats } from "./pool.ts";
import { type SpawnWorker, spawnWorker } from "./spawn.ts";

/**
 * Settings of {@linkcode WorkerEngine}, all resolved: the consumer's options layer turns the public
 * `engine: { kind: "worker", ... }` option into these and owns every default.
 */
export interface WorkerEngineSettings {
  /** URL of the worker entry module, which calls `runWorker(handler)`: `new URL("./worker.ts", import.meta.url)`. */
  readonly module: string | URL;
  /** Worker threads in the pool. */
  readonly workers: number;
  /**
   * Handlers one worker runs at once (handlers that await; a synchronous one runs alone). Each
   * worker also holds queued messages: about 8 ms of its measured handler time, at most 256.
   */
  readonly concurrencyPerWorker: number;
  /** Most messages sent to a worker in one postMessage. */
  readonly maxBatchSize: number;
  /**
   * A handler still running this long after it started fails with `HandlerTimeoutError` (its
   * attempt is aborted with it): its worker is terminated and replaced. Time queued in the worker
   * before the handler started does not count.
   */
  readonly handlerTimeoutMs?: number | undefined;
  /** Replace each worker once it has been given this many messages (after it finishes them). */
  readonly recycleAfterTasks?: number | undefined;
  /** Timers (restart delays, ready deadline, handler timeouts). Default: the system clock. */
  readonly clock?: Clock | undefined;
  /** Starts one thread. Default: a real worker thread; the seeded simulation passes fake ones. */
  readonly spawn?: SpawnWorker | undefined;
}

/**
 * Runs handlers in a pool of worker threads: for CPU-bound work, which would otherwise block the
 * event loop (and with it heartbeats and fetching). The handler lives in a worker entry module
 * that calls `runWorker(handler)` from `@pyrallel/consumer/worker`.
 *
 * Attempts started in the same tick go out in batches to the least-loaded worker; payload bytes
 * are copied into exact-size buffers and transferred. Each worker is fed about 8 ms of work
 * beyond its running handlers (from the handler time it reports), so it never waits for this
 * thread. A handler running past `handlerTimeoutMs`, or blocking its partition past
 * `maxBlockingMs`, is stopped by terminating its worker; the attempt fails once the thread is gone.
 * A worker that dies or is terminated is replaced at once; its task board (shared memory) says
 * what it finished (those results stand), what it was running (those attempts fail and are
 * retried) and what it never started (those go to another worker, not attempted). When workers
 * cannot start (before any was ever ready, or 5 times in a row in one slot) the engine is broken:
 * everything fails with {@linkcode EngineFailedError}.
 *
 * The workers' lives are a {@linkcode WorkerPool}'s; which worker runs what, a {@linkcode TaskDispatcher}'s.
 */
export class WorkerEngine implements ExecutionEngine {
  readonly #pool: WorkerPool;
  readonly #dispatcher: TaskDispatcher;
  readonly #workers: number;
  #closed: Promise<void> | undefined;

  constructor(settings: WorkerEngineSettings) {
    const workers = positiveInt("workers", settings.workers);
    const concurrencyPerWorker = positiveInt("concurrencyPerWorker", settings.concurrencyPerWorker);
    const clock = settings.clock ?? systemClock;
    this.#workers = workers;
    this.#dispatcher = new TaskDispatcher({
      concurrencyPerWorker,
      maxBatchSize: positiveInt("maxBatchSize", settings.maxBatchSize),
      handlerTimeoutMs: optionalPositiveInt("handlerTimeoutMs", settings.handlerTimeoutMs),
      recycleAfterTasks: optionalPositiveInt("recycleAfterTasks", settings.recycleAfterTasks),
      clock,
    });
    this.#pool = new WorkerPool(
      { url: moduleUrl(settings.module), workers, clock, spawn: settings.spawn ?? spawnWorker },
      this.#dispatcher,
    );
  }

  /**
   * Free capacity of the workers that take work. Before start() it is the whole pool's; once the
   * engine is broken too, so the caller's next execute() learns it at once (its attempt fails).
   */
  get idleSlots(): number {
    const whole = this.#workers * this.#dispatcher.depth;
    if (this.#pool.broken !== undefined) return whole;
    if (this.#pool.closing) return 0;
    return this.#pool.launched ? this.#dispatcher.idleSlots : whole;
  }

  /** Counters of crashes, kills and recycles so far. */
  stats(): WorkerPoolStats {
    return this.#pool.stats();
  }

  /**
   * Starts the pool; resolves once a worker is ready (its module called `runWorker()`). Rejects
   * with {@linkcode EngineFailedError} when a worker dies or misses the ready deadline (30 s)
   * before any worker was ready: the module does not load. execute() starts the pool too.
   */
  start(): Promise<void> {
    if (this.#pool.broken !== undefined) return Promise.reject(this.#pool.broken);
    this.#pool.launch();
    return this.#pool.started;
  }

  /** Whether the module's `runWorker()` was given a batch handler (known once start() resolved). */
  get runsBatches(): boolean {
    return this.#pool.runsBatches;
  }

  execute<A extends Attempt>(message: ConsumerMessage, attempt: A, ended: AttemptEnded<A>): void {
    const refusal = this.#refusal(attempt);
    if (refusal === undefined) this.#dispatcher.execute(message, attempt, ended);
    else endSoon(ended, attempt, true, refusal.error);
  }

  /** One attempt of the module's batch handler, as one task of one worker. */
  executeBatch<A extends Attempt>(messages: readonly ConsumerMessage[], attempt: A, ended: AttemptEnded<A>): void {
    const refusal = this.#refusal(attempt);
    if (refusal === undefined) this.#dispatcher.executeBatch(messages, attempt, ended);
    else endSoon(ended, attempt, true, refusal.error);
  }

  /**
   * Runs consecutive messages of one lane on one worker, each once the one before succeeded (see
   * `ExecutionEngine.executeChain`): no round trip to the consumer's thread between them.
   */
  executeChain<A extends Attempt>(
    messages: readonly ConsumerMessage[],
    attempts: readonly A[],
    ended: AttemptEnded<A>,
  ): void {
    const refusal = this.#refusal(attempts[0]!);
    if (refusal === undefined) this.#dispatcher.executeChain(messages, attempts, ended);
    else endChainSoon(ended, attempts, refusal.error);
  }

  /** Why an attempt cannot be handed to a worker now (it then fails at once), or `undefined`. */
  #refusal(attempt: Attempt): { readonly error: unknown } | undefined {
    if (this.#pool.broken !== undefined) return { error: this.#pool.broken };
    if (this.#pool.closing) return { error: new Error("the worker engine is closed") };
    if (attempt.aborted) return { error: attempt.reason };
    this.#pool.launch();
    // launch() breaks the pool at once if a spawn reports its death before returning.
    if (this.#pool.broken !== undefined) return { error: this.#pool.broken };
    return undefined;
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
    this.#pool.beginClose();
    await this.#dispatcher.quiet();
    await this.#pool.terminate(() => new WorkerCrashedError("the worker engine closed before this attempt finished"));
  }
}

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`WorkerEngine: ${name} must be a whole number ≥ 1, got ${value}`);
  }
  return value;
}

function optionalPositiveInt(name: string, value: number | undefined): number | undefined {
  return value === undefined ? undefined : positiveInt(name, value);
}

function moduleUrl(module: string | URL): URL {
  if (module instanceof URL) return module;
  try {
    return new URL(module);
  } catch {
    throw new TypeError(
      `WorkerEngine: module must be a URL such as new URL("./worker.ts", import.meta.url), got ${
        JSON.stringify(module)
      }`,
    );
  }
}
