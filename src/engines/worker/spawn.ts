// Main-side shim over the runtimes' worker APIs. Deno and Bun have the Web `Worker` (Deno needs
// `{ type: "module" }`); Node has none and uses `node:worker_threads`, loaded only on Node.
import type { FromWorker, ToWorker } from "./protocol.ts";

/** A started worker thread, whatever the runtime. */
export interface WorkerThread {
  post(message: ToWorker, transfer: ArrayBuffer[]): void;
  /** Ends the thread; resolves once it is gone. */
  terminate(): Promise<void>;
}

/** What the pool hears from a thread. `died` may be called more than once: only the first counts. */
export interface WorkerThreadEvents {
  message(data: FromWorker): void;
  died(cause: unknown): void;
}

interface WebWorkerLike {
  postMessage(message: unknown, transfer: Transferable[]): void;
  terminate(): void;
  addEventListener(type: string, listener: (event: Event) => void): void;
}
type WebWorkerConstructor = new (url: URL, options: { type: "module"; name?: string }) => WebWorkerLike;
type NodeWorkerThreads = typeof import("node:worker_threads");

const runtime = globalThis as unknown as {
  Worker?: WebWorkerConstructor;
  Bun?: unknown;
  process?: { getBuiltinModule?(id: string): unknown };
};

/** Starts a worker running the module at `url`. */
export function spawnWorker(url: URL, name: string, events: WorkerThreadEvents): WorkerThread {
  return runtime.Worker === undefined ? spawnNode(url, name, events) : spawnWeb(runtime.Worker, url, name, events);
}

function spawnNode(url: URL, name: string, events: WorkerThreadEvents): WorkerThread {
  // getBuiltinModule (Node ≥ 22.3) loads it synchronously, and never on Deno or Bun.
  const threads = runtime.process?.getBuiltinModule?.("node:worker_threads") as NodeWorkerThreads | undefined;
  if (threads === undefined) throw new Error("no Worker global and no node:worker_threads: unsupported runtime");
  // (A cast: with bun-types installed, Deno's checker sees two different URL types here.)
  const worker = new threads.Worker(url as ConstructorParameters<NodeWorkerThreads["Worker"]>[0], { name });
  worker.on("message", (data: FromWorker) => events.message(data));
  // Without an "error" listener an uncaught error in the worker would crash this process.
  worker.on("error", (error: unknown) => events.died(error));
  worker.on("messageerror", (error: unknown) => events.died(error));
  worker.on("exit", (code: number) => events.died(new Error(`worker exited with code ${code}`)));
  return {
    post: (message, transfer) => worker.postMessage(message, transfer),
    terminate: () => worker.terminate().then(() => undefined),
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
    events.died(new Error(`worker exited with code ${(event as Event & { code?: number }).code ?? "unknown"}`));
  });
  return {
    post: (message, transfer) => worker.postMessage(message, transfer),
    terminate: () => {
      worker.terminate();
      // Deno's terminate() is final at once; Bun's thread ends later and reports "close".
      if (closed || runtime.Bun === undefined) return Promise.resolve();
      return new Promise((resolve) => {
        const fallback = setTimeout(resolve, 2_000); // never hang close() on a missing event
        onClosed = () => {
          clearTimeout(fallback);
          resolve();
        };
      });
    },
  };
}

/** Starts a thread for the pool: {@linkcode spawnWorker}, or the simulation's fake threads. */
export type SpawnWorker = (url: URL, name: string, events: WorkerThreadEvents) => WorkerThread;
