// Worker entry of the harness's cpu-worker workload (engine: { kind: "worker" }): the same
// SHA-256 rounds as the "cpu" workload, in a worker thread. Rounds come from BENCH_CPU_ROUNDS,
// which run.ts sets before the consumer starts its workers.
import { createHash } from "node:crypto";
import { runWorker } from "../../src/worker.ts";

const rounds = Number(process.env.BENCH_CPU_ROUNDS ?? 200);
let sink = 0;
runWorker((message) => {
  let digest: Uint8Array = message.value ?? new Uint8Array(0);
  for (let i = 0; i < rounds; i++) digest = createHash("sha256").update(digest).digest();
  sink ^= digest[0]!;
  if (sink === -1) console.log(sink); // keeps the result observable
});
