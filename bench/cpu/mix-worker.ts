// Worker entry of the CPU benchmark for the worker engine (engine: { kind: "worker", module }): the
// same mix as the async engine's handler and the plain pool, with the rounds each record carries in
// its "rounds" header (4 bytes, big-endian).
import { runWorker } from "../../src/worker.ts";
import { mix } from "./mix.ts";
import { roundsHeader } from "./records.ts";

let sink = 0;
runWorker((message) => {
  sink ^= mix(message.value!, roundsHeader(message.headers));
  if (sink === -1) console.log(sink); // keeps the result observable
});
