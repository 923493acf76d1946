// Worker-side shim: how a worker talks to its parent. Deno and Bun: the worker global scope
// (`self.postMessage`, "message" events). Node: `parentPort` of node:worker_threads.
import type { FromWorker, ToWorker } from "./protocol.ts";
import { isDeno, nodeWorkerThreads, type WebWorkerScope, webWorkerScope } from "../../runtime.ts";

/** The worker's end of the channel to the WorkerEngine. */
export interface ParentPort {
  post(message: FromWorker, transfer?: ArrayBuffer[]): void;
}

/**
 * Listens for the parent's messages. Registers synchronously: Deno drops messages that arrive
 * before a listener exists, and a worker module may have top-level awaits after this call.
 * `onExit` runs when a Deno worker ends itself, before the parent is told.
 */
export function openParentPort(onMessage: (message: ToWorker) => void, onExit: () => void): ParentPort {
  const scope = webWorkerScope();
  if (scope !== undefined) {
    scope.addEventListener("message", (event) => onMessage((event as MessageEvent<ToWorker>).data));
    const port: ParentPort = { post: (message, transfer = []) => scope.postMessage(message, transfer) };
    if (isDeno) reportDenoExit(scope, port, onExit);
    return port;
  }
  const parent = nodeWorkerThreads()?.parentPort;
  if (!parent) throw new Error("runWorker() must run in a worker started by the worker engine");
  parent.on("message", onMessage);
  return { post: (message, transfer = []) => parent.postMessage(message, transfer) };
}

/**
 * Deno tells the parent nothing when a worker ends itself (`Deno.exit()`, `process.exit()`,
 * `self.close()`): say so first, or the messages this worker held would wait forever.
 */
function reportDenoExit(scope: WebWorkerScope, port: ParentPort, onExit: () => void): void {
  const notify = () => {
    onExit();
    port.post({ type: "exit" });
  };
  scope.addEventListener("unload", notify); // fired by Deno.exit() and process.exit()
  const close = scope.close;
  if (typeof close === "function") {
    scope.close = () => {
      notify();
      close.call(scope);
    };
  }
}
