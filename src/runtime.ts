// What the running runtime offers (threads, cores), probed from globals in this one place. Deno and Bun
// have the Web `Worker` and, inside a worker, a global `postMessage`; Node has neither and uses
// `node:worker_threads`, loaded through `process.getBuiltinModule` so that Deno and Bun never load
// it (the `import()` below is a type, erased at runtime).
type NodeWorkerThreads = typeof import("node:worker_threads");

/** The part of a Web `Worker` (Deno, Bun) the main side uses. */
export interface WebWorkerLike {
  postMessage(message: unknown, transfer: Transferable[]): void;
  terminate(): void;
  addEventListener(type: string, listener: (event: Event) => void): void;
}

/** The Web `Worker` constructor; Deno requires `{ type: "module" }`. */
export type WebWorkerConstructor = new (url: URL, options: { type: "module"; name?: string }) => WebWorkerLike;

/** The global scope of a Web worker (Deno, Bun), as seen from inside it. */
export interface WebWorkerScope {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  addEventListener(type: string, listener: (event: Event) => void): void;
  close?: () => void;
}

const scope = globalThis as unknown as {
  Worker?: WebWorkerConstructor;
  postMessage?: unknown;
  Bun?: unknown;
  Deno?: unknown;
  process?: { getBuiltinModule?(id: string): unknown };
  navigator?: { hardwareConcurrency?: number };
};

/** Running on Bun. */
export const isBun: boolean = scope.Bun !== undefined;

/** Running on Deno. */
export const isDeno: boolean = scope.Deno !== undefined;

/** The Web `Worker` constructor (Deno, Bun), or `undefined` (Node). */
export function webWorkerConstructor(): WebWorkerConstructor | undefined {
  return scope.Worker;
}

/**
 * `node:worker_threads`, loaded synchronously (`process.getBuiltinModule`, Node ≥ 22.3), or
 * `undefined` where there is no such loader.
 */
export function nodeWorkerThreads(): NodeWorkerThreads | undefined {
  return scope.process?.getBuiltinModule?.("node:worker_threads") as NodeWorkerThreads | undefined;
}

/**
 * The global scope when it has `postMessage`: inside a Web worker (Deno, Bun; Bun's main thread
 * has one too). `undefined` on Node, where a worker talks through `node:worker_threads`.
 */
export function webWorkerScope(): WebWorkerScope | undefined {
  return typeof scope.postMessage === "function" ? (globalThis as unknown as WebWorkerScope) : undefined;
}

/** CPU cores as the Web platform reports them (Node, Deno and Bun all have `navigator`), if it does. */
export function cpuCores(): number | undefined {
  return scope.navigator?.hardwareConcurrency;
}
