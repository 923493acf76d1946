// Worker entry that does nothing: measures the cost of getting messages to a worker and back.
import { runWorker } from "../../src/worker.ts";

runWorker(() => {});
