import type { Attempt } from "../core/attempt.ts";
import { type Clock, systemClock, type Timer } from "../core/clock.ts";
import { pendingResult } from "../core/handler-result.ts";
import type { BatchHandler, ConsumerMessage, EngineHandler, MessageHandler } from "../core/message.ts";
import { type AttemptEnded, endSoon, type ExecutionEngine } from "../core/ports/execution-engine.ts";
import { HandlerTimeoutError } from "../core/errors.ts";

const DONE: Promise<void> = Promise.resolve();

/**
 * Synchronous handlers that run without the event loop turning in between (each one's end starts
 * the next through microtasks, with the consumer's own work between them) yield the loop after
 * this long, so timers and I/O (heartbeats, fetches, commits, the user's own server) run.
 */
const SYNC_SLICE_MS = 50;

/** Options of {@linkcode AsyncEngine}. */
export interface AsyncEngineSettings {
  /** Handlers running at once. */
  readonly concurrency: number;
  /** Per attempt: the attempt's signal aborts after this long. */
  readonly handlerTimeoutMs?: number | undefined;
  readonly clock?: Clock | undefined;
}

/**
 * Runs handlers on the event loop, at most `concurrency` at a time. For I/O-bound handlers.
 *
 * A function cannot be stopped: on `handlerTimeoutMs` the attempt's signal aborts and the attempt
 * counts as failed once the handler returns; a handler that ignores its signal keeps its slot (and
 * its key) until it returns. The worker engine can terminate a stuck handler's thread instead.
 */
export class AsyncEngine implements ExecutionEngine {
  readonly #handler: MessageHandler | undefined;
  readonly #batchHandler: BatchHandler | undefined;
  readonly #concurrency: number;
  readonly #timeoutMs: number | undefined;
  readonly #clock: Clock;
  /** Timeout timers of running attempts: close() clears those of handlers that never return. */
  readonly #timers = new Set<Timer>();
  #running = 0;
  /** Start of the current slice: the first synchronous handler since the event loop last turned. */
  #sliceStart = 0;
  /** A slice is on: its timer, set when it began, has not fired, so the loop has not turned since. */
  #inSlice = false;
  /** A slice ran out: nothing starts until the event loop has run its timers and I/O. */
  #yielding = false;

  constructor(handler: EngineHandler, settings: AsyncEngineSettings) {
    if (typeof handler === "function") this.#handler = handler;
    else this.#batchHandler = handler.batchHandler;
    this.#concurrency = settings.concurrency;
    this.#timeoutMs = settings.handlerTimeoutMs;
    this.#clock = settings.clock ?? systemClock;
  }

  get runsBatches(): boolean {
    return this.#batchHandler !== undefined;
  }

  get idleSlots(): number {
    return this.#yielding ? 0 : this.#concurrency - this.#running;
  }

  start(): Promise<void> {
    return DONE;
  }

  execute<A extends Attempt>(message: ConsumerMessage, attempt: A, ended: AttemptEnded<A>): void {
    const handler = this.#handler;
    if (handler === undefined) return endSoon(ended, attempt, true, new TypeError("this engine runs a batch handler"));
    this.#run(handler, message, attempt, ended);
  }

  /** One attempt of the batch handler, in one slot; ends as `execute`'s. */
  executeBatch<A extends Attempt>(messages: readonly ConsumerMessage[], attempt: A, ended: AttemptEnded<A>): void {
    const handler = this.#batchHandler;
    if (handler === undefined) {
      return endSoon(ended, attempt, true, new TypeError("this engine runs a message handler"));
    }
    this.#run(handler, messages, attempt, ended);
  }

  /**
   * Calls the handler in a slot and tells `ended` once its result settled (a synchronous handler
   * costs no promise, an async one a single `then`), aborting the attempt on `handlerTimeoutMs`.
   */
  #run<Input, A extends Attempt>(
    handler: (input: Input, context: Attempt) => unknown,
    input: Input,
    attempt: A,
    ended: AttemptEnded<A>,
  ): void {
    this.#running++;
    let pending: Promise<unknown> | undefined;
    try {
      pending = pendingResult(handler(input, attempt));
    } catch (error) {
      this.#running--;
      return endSoon(ended, attempt, true, error);
    }
    if (pending === undefined) return this.#ranSync(attempt, ended);
    const timer = this.#timeoutMs === undefined ? undefined : this.#abortAfter(this.#timeoutMs, attempt);
    pending.then(
      () => {
        this.#free(timer);
        ended(attempt, false, undefined);
      },
      (error: unknown) => {
        this.#free(timer);
        ended(attempt, true, error);
      },
    );
  }

  /** Aborts the attempt once it ran for `timeoutMs`. */
  #abortAfter(timeoutMs: number, attempt: Attempt): Timer {
    const timer = this.#clock.setTimeout(() => {
      this.#timers.delete(timer);
      attempt.abort(new HandlerTimeoutError(timeoutMs));
    }, timeoutMs);
    this.#timers.add(timer);
    return timer;
  }

  /** A handler's result settled: its slot and its timeout timer are free. */
  #free(timer: Timer | undefined): void {
    if (timer !== undefined) {
      this.#clock.clearTimeout(timer);
      this.#timers.delete(timer);
    }
    this.#running--;
  }

  /**
   * A synchronous handler returned. Once SYNC_SLICE_MS passed since the first synchronous handler
   * after the loop last turned, this one keeps its slot until a timer fires (and so after the
   * loop's pending I/O): no new attempt starts meanwhile. Without it, a chain of CPU-bound handlers
   * blocks the loop for seconds and the group drops the member. The loop's turn is told by a timer
   * set when the slice began, not by a pause between handlers: the consumer's own work between two
   * fast handlers (decoding a response, a commit, a garbage collection) can take a millisecond
   * while the loop stays blocked, and each such pause began a new slice.
   */
  #ranSync<A extends Attempt>(attempt: A, ended: AttemptEnded<A>): void {
    const end = this.#clock.now();
    if (!this.#inSlice) {
      this.#inSlice = true;
      this.#sliceStart = attempt.startedAt;
      this.#clock.setTimeout(this.#loopTurned, 0);
    }
    if (end - this.#sliceStart < SYNC_SLICE_MS) {
      this.#running--;
      return endSoon(ended, attempt, false);
    }
    this.#yielding = true;
    this.#clock.setTimeout(() => {
      this.#yielding = false;
      this.#running--;
      ended(attempt, false, undefined);
    }, 0);
  }

  readonly #loopTurned = (): void => {
    this.#inSlice = false;
  };

  close(): Promise<void> {
    for (const timer of this.#timers) this.#clock.clearTimeout(timer);
    this.#timers.clear();
    return DONE;
  }
}
