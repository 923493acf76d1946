// Main-side shim over the runtimes' worker APIs: the Web `Worker` on Deno and Bun,
// `node:worker_threads` on Node (see runtime.ts for how each is found).
import type { FromWorker, ToWorker } from "./protocol.ts";
import { isBun, isDeno, nodeWorkerThreads, type WebWorkerConstructor, webWorkerConstructor } from "../../runtime.ts";

/** A started worker thread, whatever the runtime. */
export interface WorkerThread {
  post(message: ToWorker, transfer: ArrayBuffer[]): void;
  /** Ends the thread; resolves once it is gone (see `haltsRunningCode`). */
  terminate(): Promise<void>;
  /**
   * Whether terminate() stops code that is running. False on Deno: its worker runs on until its
   * synchronous code returns to the event loop, and only then stops (a loop that never returns
   * never stops: denoland/deno#35657).
   */
  readonly haltsRunningCode: boolean;
}

/** What the pool hears from a thread. `died` may be called more than once: only the first counts. */
export interface WorkerThreadEvents {
  message(data: FromWorker): void;
  died(cause: unknown): void;
}

/** Starts a thread for the pool: {@linkcode spawnWorker}, or the simulation's fake threads. */
export type SpawnWorker = (url: URL, name: string, events: WorkerThreadEvents) => WorkerThread;

/** Starts a worker running the module at `url`. */
export const spawnWorker: SpawnWorker = (url, name, events) => {
  const Worker = webWorkerConstructor();
  return Worker === undefined ? spawnNode(url, name, events) : spawnWeb(Worker, url, name, events);
};

/** A worker's thread ended (its module returned, called exit, or was terminated). */
export class WorkerExitedError extends Error {
  override readonly name = "WorkerExitedError";
  /** The exit code, where the runtime says it. */
  readonly code: number | undefined;

  constructor(code: number | undefined) {
    super(`worker exited with code ${code ?? "unknown"}`);
    this.code = code;
  }
}

function spawnNode(url: URL, name: string, events: WorkerThreadEvents): WorkerThread {
  const threads = nodeWorkerThreads();
  if (threads === undefined) throw new Error("no Worker global and no node:worker_threads: unsupported runtime");
  // (A cast: with bun-types installed, Deno's checker sees two different URL types here.)
  const worker = new threads.Worker(url as ConstructorParameters<typeof threads.Worker>[0], { name });
  worker.on("message", (data: FromWorker) => events.message(data));
  // Without an "error" listener an uncaught error in the worker would crash this process.
  worker.on("error", (error: unknown) => events.died(error));
  worker.on("messageerror", (error: unknown) => events.died(error));
  worker.on("exit", (code: number) => events.died(new WorkerExitedError(code)));
  return {
    post: (message, transfer) => worker.postMessage(message, transfer),
    terminate: () => worker.terminate().then(() => undefined),
    haltsRunningCode: true,
  };
}

function spawnWeb(Worker: WebWorkerConstructor, url: URL, name: string, events: WorkerThreadEvents): WorkerThread {
  const worker = new Worker(url, { type: "module", name });
  let closed = false;
  let onClosed: (() => void) | undefined;
  worker.addEventListener("message", (event) => events.message((event as MessageEvent<FromWorker>).data));
  worker.addEventListener("error", (event) => {
    // Deno: without preventDefault() an uncaught error in a worker also kills this process.
    event.preventDefault();
    const { error, message } = event as ErrorEvent;
    events.died(error ?? new Error(message || "uncaught error in worker"));
  });
  worker.addEventListener("messageerror", () => events.died(new Error("a worker message could not be deserialised")));
  // Bun only: fired when the thread is gone (after an exit, an uncaught error or terminate()).
  worker.addEventListener("close", (event) => {
    closed = true;
    onClosed?.();
    events.died(new WorkerExitedError((event as Event & { code?: number }).code));
  });
  return {
    post: (message, transfer) => worker.postMessage(message, transfer),
    terminate: () => {
      worker.terminate();
      // Deno's terminate() is final at once; Bun's thread ends later and reports "close".
      if (closed || !isBun) return Promise.resolve();
      return new Promise((resolve) => {
        const fallback = setTimeout(resolve, 2_000); // never hang close() on a missing event
        onClosed = () => {
          clearTimeout(fallback);
          resolve();
        };
      });
    },
    haltsRunningCode: !isDeno,
  };
}
