// Worker entry of the CPU benchmark: the same work as the sequential baseline, in a worker.
import { runWorker } from "../../src/worker.ts";
import { numberHeader } from "./messages.ts";
import { shaRounds } from "./sha256.ts";

let sink = 0;
runWorker((message) => {
  const rounds = numberHeader(message, "rounds");
  for (let i = numberHeader(message, "repeat"); i > 0; i--) sink ^= shaRounds(message.value!, rounds)[0]!;
  if (sink === -1) console.log(sink); // keeps the result observable
});
