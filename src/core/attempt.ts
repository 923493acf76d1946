import type { HandlerContext } from "./message.ts";
import { checkPauseMs } from "./pause-duration.ts";

/**
 * One run of a handler for one message. It is the handler's context (`signal`, `attempt`) and the
 * one place an attempt is given up on: the control plane aborts it when its partition is revoked,
 * the consumer closes or it blocks too long; an engine aborts it on `handlerTimeoutMs`.
 *
 * Each attempt has its own signal, created only when the handler reads it: a signal shared by a
 * partition would collect every listener its handlers add until the partition is revoked, and
 * `AbortSignal.any()` on a long-lived signal costs quadratic time on Node.
 */
export class Attempt implements HandlerContext {
  /** 1 for the first attempt of a message, 2 for its first retry, and so on. */
  readonly attempt: number;
  /** `Clock.now()` when the attempt started. */
  readonly startedAt: number;
  /**
   * Set by an engine that must act on an abort (e.g. tell the worker running it). Called once, in
   * the tick of the abort.
   */
  onAbort: ((reason: unknown) => void) | undefined = undefined;
  /**
   * Set by an engine that queues attempts before their handler starts (the worker engine): takes
   * the attempt back if its handler has not started, settling it with `reason`; `true` when it did.
   */
  onWithdraw: ((reason: unknown) => boolean) | undefined = undefined;
  /** Set by whoever starts the attempt: receives the handler's `pause(ms)` (the consumer's throttle, or a worker's report). */
  onPause: ((ms: number) => void) | undefined = undefined;
  #controller: AbortController | undefined;
  #aborted = false;
  #withdrawn = false;
  #reason: unknown = undefined;

  constructor(attempt: number, startedAt: number) {
    this.attempt = attempt;
    this.startedAt = startedAt;
  }

  /** Aborted when the attempt is given up on; its reason says why. */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** Whether the attempt was given up on. */
  get aborted(): boolean {
    return this.#aborted;
  }

  /** Why it was given up on (`undefined` while it was not). */
  get reason(): unknown {
    return this.#reason;
  }

  /**
   * Gives up on the attempt only if its handler has not started (it waits in an engine's queue):
   * `true` when the handler never will run. The attempt then counts as aborted with `reason`, and
   * its message as not attempted. Lets a revoked partition stop work that would start late.
   */
  withdraw(reason: unknown): boolean {
    if (this.#aborted || this.onWithdraw?.(reason) !== true) return false;
    this.#withdrawn = true;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
    return true;
  }

  /**
   * The handler's back-off (e.g. its downstream answered 429 or 503): no new message starts for
   * `ms` milliseconds; running ones, this one included, go on. The latest end wins.
   * @throws {TypeError} when `ms` is not a finite number of 0 or more.
   */
  pause(ms: number): void {
    checkPauseMs(ms);
    if (ms > 0) this.onPause?.(ms);
  }

  /** Whether it was taken back by {@linkcode withdraw}: its handler never ran. */
  get withdrawn(): boolean {
    return this.#withdrawn;
  }

  /** Gives up on the attempt: the first reason wins. */
  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
    this.onAbort?.(reason);
  }
}
