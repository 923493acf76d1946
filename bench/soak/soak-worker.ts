// Worker module of the soak's worker engine run: the same simulated I/O as its async handler.
import { runWorker } from "../../src/worker.ts";

const [min, max] = (process.env.SOAK_HANDLER_MS ?? "1-10").split("-").map(Number) as [number, number];

runWorker(() => new Promise<void>((resolve) => setTimeout(resolve, min + Math.random() * (max - min))));
