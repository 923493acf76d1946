// Child-process check: runs a few messages through a WorkerEngine, closes it, and must then exit
// on its own (no leaked worker, timer or listener). Prints "closed" when close() resolved.
import { Attempt } from "../../../src/core/attempt.ts";
import { WorkerEngine } from "../../../src/engines/worker/worker-engine.ts";
import { attemptOutcome } from "../engine-outcome.ts";

const engine = new WorkerEngine({
  module: new URL("./test-worker.ts", import.meta.url),
  workers: 2,
  concurrencyPerWorker: 4,
  maxBatchSize: 64,
  handlerTimeoutMs: 10_000,
  recycleAfterTasks: 3,
});
await engine.start();
const op = new Map([["op", new TextEncoder().encode("ok")]]);
const message = (offset: number) => ({
  topic: "t",
  partition: 0,
  offset: BigInt(offset),
  key: null,
  value: null,
  headers: op,
  timestamp: 0,
});
await Promise.all(Array.from({ length: 10 }, (_, i) => attemptOutcome(engine, message(i), new Attempt(1, 0))));
await engine.close();
console.log("closed");
