// Worker entry for the record-shapes test: checks every message against the record written, fails
// the ones marked "fail" (they are dead-lettered), and reports a mismatch as a distinct failure.
import { runWorker } from "../../../src/worker.ts";
import { failsOn, mismatch } from "../record-shapes.ts";

runWorker((message) => {
  const problem = mismatch(message);
  if (problem) throw new Error(`MISMATCH ${problem}`);
  if (failsOn(message)) throw new Error("marked to fail");
});
