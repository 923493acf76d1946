// Worker entry for the cancellation test. Each message's value is JSON { log, stuck? }: the handler
// appends "offset attempt start|end time" to the file `log`. A stuck message's first attempt spins
// without yielding, appending "offset attempt alive time" every 20 ms: forever on Node and Bun
// (until its thread is terminated), for SPIN_ON_DENO_MS on Deno, whose terminate() cannot stop a
// loop (denoland/deno#35657).
import { appendFileSync } from "node:fs";
import { runWorker } from "../../../src/worker.ts";
import { SPIN_ON_DENO_MS } from "./cancel-timing.ts";

const decoder = new TextDecoder();
const spinMs = "Deno" in globalThis ? SPIN_ON_DENO_MS : Infinity;

runWorker((message, { attempt }) => {
  const { log, stuck } = JSON.parse(decoder.decode(message.value!)) as { log: string; stuck?: boolean };
  const line = (what: string) => appendFileSync(log, `${message.offset} ${attempt} ${what} ${Date.now()}\n`);
  line("start");
  if (stuck && attempt === 1) {
    const started = Date.now();
    for (let last = 0; Date.now() - started < spinMs;) { // ignores its signal, never yields
      if (Date.now() - last >= 20) {
        last = Date.now();
        line("alive");
      }
    }
    line("end");
    return;
  }
  line("end");
});
