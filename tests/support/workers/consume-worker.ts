// Worker entry for the worker-engine integration test. Each successful message appends
// "key seq attempt" to the file named by PYRALLEL_WORKER_LOG (appends are ordered by time, so the
// file shows the order in which each key's messages completed). A message whose value has
// "crash": true makes its worker exit on the first attempt.
import { appendFileSync } from "node:fs";
import { runWorker } from "../../../src/worker.ts";

const decoder = new TextDecoder();
const env =
  (globalThis as unknown as { process: { env: Record<string, string | undefined>; exit(code: number): never } })
    .process;
const log = env.env.PYRALLEL_WORKER_LOG;

runWorker((message, { attempt }) => {
  const { seq, crash } = JSON.parse(decoder.decode(message.value!)) as { seq: number; crash?: boolean };
  if (crash && attempt === 1) env.exit(3);
  let x = seq; // a little CPU work
  for (let i = 0; i < 20_000; i++) x = (Math.imul(x, 2654435761) + i) | 0;
  if (log) appendFileSync(log, `${decoder.decode(message.key!)} ${seq} ${attempt} ${x === 0.5 ? "" : "ok"}\n`);
});
