// Worker entry for the worker-engine pause test. Each message's value is JSON { log, seq, pauseMs? }:
// the handler appends "start <seq> <time>" to the file `log`; a message with pauseMs calls
// context.pause(pauseMs) (as on a 429 from downstream) and appends "pause <seq> <time>" right after.
import { appendFileSync } from "node:fs";
import { runWorker } from "../../../src/worker.ts";

const decoder = new TextDecoder();

runWorker(async (message, context) => {
  const { log, seq, pauseMs } = JSON.parse(decoder.decode(message.value!)) as {
    log: string;
    seq: number;
    pauseMs?: number;
  };
  appendFileSync(log, `start ${seq} ${Date.now()}\n`);
  if (pauseMs !== undefined) {
    context.pause(pauseMs);
    appendFileSync(log, `pause ${seq} ${Date.now()}\n`);
  }
  await new Promise((resolve) => setTimeout(resolve, 2));
});
