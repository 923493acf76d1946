// The heartbeat timer: one heartbeat in flight at a time, the next one after the interval the
// coordinator asked for, sooner when the membership has news (an acknowledged revocation), later
// after a failure (doubling backoff).
import type { Clock, Timer } from "../../core/clock.ts";
import { backoffMs } from "../../core/retry-policy.ts";
import type { HeartbeatRequest, HeartbeatResponse, HeartbeatTransport } from "./heartbeat.ts";

/** Before the coordinator said otherwise (its default `group.consumer.heartbeat.interval.ms`). */
const DEFAULT_INTERVAL_MS = 5_000;
const RETRY_FIRST_MS = 100;

/** What the loop reports. Called on the event loop, one heartbeat at a time. */
export interface HeartbeatSink {
  /** The request to send now, or `undefined` to send nothing (the member left). */
  request(): HeartbeatRequest | undefined;
  answered(response: HeartbeatResponse): void;
  refused(error: unknown): void;
}

/** Sends heartbeats, one at a time. */
export class HeartbeatLoop {
  readonly #transport: HeartbeatTransport;
  readonly #clock: Clock;
  readonly #sink: HeartbeatSink;
  #timer: Timer | undefined;
  #inFlight: Promise<void> | undefined;
  /** Another heartbeat is wanted as soon as the one in flight is answered. */
  #again = false;
  #intervalMs = DEFAULT_INTERVAL_MS;
  #stopped = false;

  constructor(transport: HeartbeatTransport, clock: Clock, sink: HeartbeatSink) {
    this.#transport = transport;
    this.#clock = clock;
    this.#sink = sink;
  }

  /** The heartbeat in flight, if any: a commit waits for it, since its answer may move the epoch. */
  get inFlight(): Promise<void> | undefined {
    return this.#inFlight;
  }

  /** Heartbeats now, or as soon as the one in flight is answered. */
  now(): void {
    if (this.#stopped) return;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#inFlight !== undefined) {
      this.#again = true;
      return;
    }
    const request = this.#sink.request();
    if (request === undefined) return;
    this.#inFlight = this.#transport.heartbeat(request).then(
      (response) => {
        if (this.#stopped) return;
        if (response.heartbeatIntervalMs > 0) this.#intervalMs = response.heartbeatIntervalMs;
        this.#schedule(this.#intervalMs);
        this.#sink.answered(response);
      },
      (error: unknown) => {
        if (!this.#stopped) this.#sink.refused(error);
      },
    ).finally(() => {
      this.#inFlight = undefined;
      if (this.#again) {
        this.#again = false;
        this.now();
      }
    });
  }

  /** The next heartbeat after a failure: 100 ms, doubling, at most the heartbeat interval. */
  retry(failures: number): void {
    this.#schedule(backoffMs(RETRY_FIRST_MS, this.#intervalMs, failures - 1));
  }

  /** No more heartbeats (a request in flight is still answered, and ignored). */
  stop(): void {
    this.#stopped = true;
    this.#again = false;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Heartbeats again after stop(). */
  restart(): void {
    this.#stopped = false;
  }

  #schedule(ms: number): void {
    if (this.#stopped || this.#again) return;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.now();
    }, ms);
  }
}
