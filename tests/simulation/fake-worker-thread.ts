// In-process worker threads for running the real WorkerEngine in virtual time. A fake thread
// speaks the real protocol (structured clones, transferred payloads, ready/init/run/cancel/done)
// and runs its tasks with the real worker-side TaskRunner and Reporter; only loading the module,
// the thread itself and crashing are modelled. Every delay goes through the given Clock.
import type { Clock, Timer } from "../../src/core/clock.ts";
import type { ConsumerMessage, HandlerContext } from "../../src/core/message.ts";
import type { ParentPort } from "../../src/engines/worker/port.ts";
import type { FromWorker, ToWorker } from "../../src/engines/worker/protocol.ts";
import type { SpawnWorker, WorkerThread, WorkerThreadEvents } from "../../src/engines/worker/spawn.ts";
import { TaskBoard } from "../../src/engines/worker/task-board.ts";
import { TaskRunner } from "../../src/engines/worker/task-runner.ts";

/** How one fake thread behaves. */
export interface FakeWorkerBehaviour {
  /** Virtual ms until the module is loaded and calls runWorker (or fails to load if `loads` is false). */
  readonly loadMs: number;
  readonly loads: boolean;
  /** Runs one message inside the fake worker: resolve/reject like a handler; may never settle. */
  handle(message: ConsumerMessage, context: HandlerContext): Promise<void> | void;
  /** Set when the module runs a batch handler (runWorker({ batchHandler })): runs one batch instead. */
  handleBatch?(messages: readonly ConsumerMessage[], context: HandlerContext): unknown;
  /** Called for each batch received: a delay in ms after which the worker dies (uncaught error), or undefined. */
  crashAfterMs?(batchSize: number): number | undefined;
  /** Virtual ms a message takes to reach the other side, either way. Default 0 (still asynchronous). */
  readonly latencyMs?: number;
  /** Called once when the thread stops (terminated or crashed): its running handlers are gone with it. */
  stopped?(): void;
  /** Called with the thread's TaskRunner once the module loaded (to look inside the worker's side). */
  loaded?(runner: TaskRunner): void;
  /**
   * Called as each handler starts: virtual ms of synchronous code it starts with, holding the
   * thread, or undefined. Meanwhile the board says the worker is in code and the thread takes no
   * message; the handler learns it from {@linkcode threadHoldMs}. Only for workers that run one
   * handler at a time (see #holding).
   */
  holdsThreadMs?(): number | undefined;
}

/** Which thread a behaviour is for: the engine names threads by slot, `start` counts that name's threads. */
export interface FakeThreadInfo {
  /** The name the engine gave it, e.g. "pyrallel-worker-0" (the same for a slot's replacements). */
  readonly name: string;
  /** 0 for the first thread of this name, 1 for its first replacement, and so on. */
  readonly start: number;
}

/**
 * A `spawn` option for WorkerEngine that starts fake threads on `clock`. `behaviour` is asked once
 * per thread; the module URL is ignored.
 */
export function fakeSpawn(clock: Clock, behaviour: (thread: FakeThreadInfo) => FakeWorkerBehaviour): SpawnWorker {
  const starts = new Map<string, number>();
  return (_url, name, events) => {
    const start = starts.get(name) ?? 0;
    starts.set(name, start + 1);
    return new FakeWorkerThread(clock, behaviour({ name, start }), events);
  };
}

/** Handlers whose synchronous code holds their thread, by their context: how long (virtual ms). */
const HOLDS = new WeakMap<HandlerContext, number>();

/**
 * How long a handler's synchronous code holds its worker's thread (0: not at all). The handler has
 * started when it is called (the runner claimed its task then); it does its own work only after
 * this long, so neither its end nor its result comes before the thread is free again.
 */
export function threadHoldMs(context: HandlerContext): number {
  return HOLDS.get(context) ?? 0;
}

/** Thrown into the fake worker's running handlers' signals when its thread goes away. */
class ThreadGone extends Error {
  override readonly name = "ThreadGone";
}

class FakeWorkerThread implements WorkerThread {
  readonly haltsRunningCode = true;
  readonly #clock: Clock;
  readonly #behaviour: FakeWorkerBehaviour;
  readonly #events: WorkerThreadEvents;
  readonly #latencyMs: number;
  /** Timers of this thread still pending: cleared when it stops. */
  readonly #timers = new Set<Timer>();
  /** Messages that arrived before the module loaded (a real thread queues them too). */
  readonly #inbox: ToWorker[] = [];
  #runner: TaskRunner | undefined;
  /** The worker's view of its task board (from the init message), for holds. */
  #board: TaskBoard | undefined;
  /** A handler's synchronous code holds the thread until then (virtual ms). */
  #heldUntil = -Infinity;
  #alive = true;

  constructor(clock: Clock, behaviour: FakeWorkerBehaviour, events: WorkerThreadEvents) {
    this.#clock = clock;
    this.#behaviour = behaviour;
    this.#events = events;
    this.#latencyMs = behaviour.latencyMs ?? 0;
    this.#later(behaviour.loadMs, () => this.#load());
  }

  post(message: ToWorker, transfer: ArrayBuffer[]): void {
    if (!this.#alive) return; // posting to a gone worker is silently dropped, as on the runtimes
    const copy = structuredClone(message, { transfer }); // cloned now: transferred buffers detach, like postMessage
    this.#later(this.#latencyMs, () => this.#receive(copy));
  }

  terminate(): Promise<void> {
    this.#stop(new ThreadGone("the worker was terminated"));
    return Promise.resolve();
  }

  #load(): void {
    if (!this.#behaviour.loads) return this.#crash(new Error("the fake worker module failed to load"));
    const port: ParentPort = { post: (message, transfer = []) => this.#reply(message, transfer) };
    // What runWorker() does, on a fake port.
    const behaviour = this.#behaviour;
    const batches = behaviour.handleBatch !== undefined;
    const handler = batches
      ? {
        batchHandler: (messages: readonly ConsumerMessage[], context: HandlerContext) =>
          behaviour.handleBatch!(messages, context) as void,
      }
      : (message: ConsumerMessage, context: HandlerContext) =>
        this.#holding(context, () => behaviour.handle(message, context));
    this.#runner = new TaskRunner(handler, port, this.#clock);
    behaviour.loaded?.(this.#runner);
    port.post({ type: "ready", batches });
    for (const message of this.#inbox.splice(0)) this.#receive(message);
  }

  #receive(message: ToWorker): void {
    const runner = this.#runner;
    if (runner === undefined) {
      this.#inbox.push(message);
      return;
    }
    const held = this.#heldUntil - this.#clock.now();
    if (held > 0) return this.#later(held, () => this.#receive(message));
    if (message.type === "init") this.#board = new TaskBoard(message.slots, message.board);
    if (message.type === "run") {
      const crashAfterMs = this.#behaviour.crashAfterMs?.(message.batch.count);
      if (crashAfterMs !== undefined) {
        this.#later(crashAfterMs, () => this.#crash(new Error(`fake worker crashed ${crashAfterMs} ms after a batch`)));
      }
    }
    runner.receive(message);
  }

  #reply(message: FromWorker, transfer: ArrayBuffer[]): void {
    if (!this.#alive) return; // a stopped thread never reports again
    const copy = structuredClone(message, { transfer });
    this.#later(this.#latencyMs, () => this.#events.message(copy));
  }

  /**
   * Calls a handler whose synchronous code may hold the thread first (see {@linkcode threadHoldMs}):
   * meanwhile the board says the worker is in code (set once the runner's own code is done: it
   * clears the flag on its way out) and the thread takes no message. Only for one handler at a time
   * per worker: a real thread would not settle another handler meanwhile either.
   */
  #holding(context: HandlerContext, handle: () => Promise<void> | void): Promise<void> | void {
    const ms = this.#behaviour.holdsThreadMs?.();
    if (ms === undefined || ms <= 0) return handle();
    HOLDS.set(context, ms);
    this.#heldUntil = this.#clock.now() + ms;
    queueMicrotask(() => this.#board?.setInCode(true));
    this.#later(ms, () => this.#board?.setInCode(false));
    return handle();
  }

  /** Dies like a thread with an uncaught error: stops, then tells the engine. */
  #crash(cause: Error): void {
    this.#stop(new ThreadGone(cause.message));
    this.#events.died(cause);
  }

  /** Stops everything: pending deliveries, the crash timer, and (through their signals) running handlers. */
  #stop(reason: Error): void {
    if (!this.#alive) return;
    this.#alive = false;
    for (const timer of this.#timers) this.#clock.clearTimeout(timer);
    this.#timers.clear();
    this.#inbox.length = 0;
    this.#runner?.stop(reason);
    this.#behaviour.stopped?.();
  }

  /** Runs `callback` after `ms` of virtual time, unless the thread stopped by then. */
  #later(ms: number, callback: () => void): void {
    const timer = this.#clock.setTimeout(() => {
      this.#timers.delete(timer);
      if (this.#alive) callback();
    }, ms);
    this.#timers.add(timer);
  }
}
