// Worker entry for the batch-handler tests: runWorker({ batchHandler }). Each batch that succeeds
// appends one line to the file named by PYRALLEL_WORKER_LOG: its start and end time (ms since the
// epoch, sub-millisecond) and its messages as key:value pairs, in the order the handler got them.
// A batch holding a message whose value is "bad" throws.
import { appendFileSync } from "node:fs";
import { runWorker } from "../../../src/worker.ts";

const decoder = new TextDecoder();
const env = (globalThis as unknown as { process: { env: Record<string, string | undefined> } }).process.env;
const log = env.PYRALLEL_WORKER_LOG;
const now = () => performance.timeOrigin + performance.now();

runWorker({
  batchHandler: async (messages) => {
    const startedAt = now();
    const pairs = messages.map((m) => `${decoder.decode(m.key!)}:${decoder.decode(m.value!)}`);
    if (pairs.some((pair) => pair.endsWith(":bad"))) throw new Error("bulk write refused");
    let x = messages.length; // a little CPU work
    for (let i = 0; i < 2_000 * messages.length; i++) x = (Math.imul(x, 2654435761) + i) | 0;
    await new Promise((resolve) => setTimeout(resolve, 1));
    if (log) appendFileSync(log, `${startedAt} ${now()} ${x === 0.5 ? "" : pairs.join(",")}\n`);
  },
});
