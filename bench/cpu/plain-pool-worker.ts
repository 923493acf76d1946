// Worker module of the plain pool (plain-pool.ts): runs mix over each batch of values it is sent and
// answers with the count. No consumer code: the physical reference for the worker engine.
import { nodeWorkerThreads, webWorkerScope } from "../../src/runtime.ts";
import { mix } from "./mix.ts";
import type { PoolBatch, PoolReply } from "./plain-pool.ts";

let sink = 0;

function run(batch: PoolBatch): PoolReply {
  const offsets = new Uint32Array(batch.buffer, 0, batch.count + 1);
  const bytes = new Uint8Array(batch.buffer);
  for (let i = 0; i < batch.count; i++) sink ^= mix(bytes.subarray(offsets[i]!, offsets[i + 1]!), batch.rounds);
  return { count: batch.count, sink };
}

// Deno and Bun: the Web worker scope; Node: node:worker_threads' parentPort.
const scope = webWorkerScope();
if (scope !== undefined) {
  scope.addEventListener("message", (event) => scope.postMessage(run((event as MessageEvent<PoolBatch>).data)));
  scope.postMessage({ ready: true });
} else {
  const parent = nodeWorkerThreads()?.parentPort;
  if (!parent) throw new Error("plain-pool-worker.ts must run in a worker");
  parent.on("message", (batch: PoolBatch) => parent.postMessage(run(batch)));
  parent.postMessage({ ready: true });
}
