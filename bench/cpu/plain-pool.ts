// The physical reference for the worker engine: a plain pool of W threads, outside the consumer,
// running the same mix over the same values. Batches of 32 values (copied into one transferred
// buffer per batch), 2 batches outstanding per worker so that none waits for its next batch.
// The raw Web `Worker` on Deno and Bun, node:worker_threads on Node (src/runtime.ts finds them).
import { nodeWorkerThreads, webWorkerConstructor } from "../../src/runtime.ts";
import { cpuSeconds } from "./usage.ts";

/** One batch, main → worker: `count + 1` uint32 offsets, then the values' bytes, in one buffer. */
export interface PoolBatch {
  rounds: number;
  count: number;
  buffer: ArrayBuffer;
}

/** Worker → main, once per batch. */
export interface PoolReply {
  count: number;
  /** The worker's running XOR of the results (keeps them observable). */
  sink: number;
}

export interface PoolResult {
  messages: number;
  /** From the first batch posted to the last reply (the workers were started and ready before). */
  seconds: number;
  /** Process CPU seconds (all threads) over the same span. */
  cpuSeconds: number;
  /** Spawning the workers until every one said it was ready (not in `seconds`). */
  startSeconds: number;
}

interface Thread {
  post(batch: PoolBatch): void;
  terminate(): Promise<void>;
}

const MODULE = new URL("./plain-pool-worker.ts", import.meta.url);

function spawn(onMessage: (data: PoolReply | { ready: true }) => void, onError: (error: unknown) => void): Thread {
  const Web = webWorkerConstructor();
  if (Web !== undefined) {
    const worker = new Web(MODULE, { type: "module" });
    worker.addEventListener("message", (event) => onMessage((event as MessageEvent<PoolReply>).data));
    worker.addEventListener("error", (event) => {
      event.preventDefault(); // Deno: an uncaught error in a worker would kill this process too
      onError((event as ErrorEvent).error ?? new Error((event as ErrorEvent).message));
    });
    return {
      post: (batch) => worker.postMessage(batch, [batch.buffer]),
      terminate: () => Promise.resolve(worker.terminate()),
    };
  }
  const threads = nodeWorkerThreads();
  if (threads === undefined) throw new Error("no Worker global and no node:worker_threads");
  const worker = new threads.Worker(MODULE as ConstructorParameters<typeof threads.Worker>[0]);
  worker.on("message", onMessage);
  worker.on("error", onError);
  return {
    post: (batch) => worker.postMessage(batch, [batch.buffer]),
    terminate: () => worker.terminate().then(() => undefined),
  };
}

/** Copies `values[from, to)` into one buffer: offsets, then bytes. */
function pack(values: readonly Uint8Array[], from: number, to: number, rounds: number): PoolBatch {
  const count = to - from;
  const header = (count + 1) * 4;
  let bytes = 0;
  for (let i = from; i < to; i++) bytes += values[i]!.length;
  const buffer = new ArrayBuffer(header + bytes);
  const offsets = new Uint32Array(buffer, 0, count + 1);
  const body = new Uint8Array(buffer);
  let at = header;
  for (let i = from; i < to; i++) {
    offsets[i - from] = at;
    body.set(values[i]!, at);
    at += values[i]!.length;
  }
  offsets[count] = at;
  return { rounds, count, buffer };
}

/** Runs `mix(value, rounds)` over every value in a fresh pool of `workers` threads. */
export async function runPlainPool(
  values: readonly Uint8Array[],
  rounds: number,
  workers: number,
  batchSize = 32,
  outstanding = 2,
): Promise<PoolResult> {
  const spawnedAt = performance.now();
  let ready = 0;
  let done = 0;
  let next = 0;
  let sink = 0;
  let onReady!: () => void;
  let onDone!: () => void;
  let failed!: (error: unknown) => void;
  const allReady = new Promise<void>((resolve) => (onReady = resolve));
  const allDone = new Promise<void>((resolve, reject) => {
    onDone = resolve;
    failed = reject;
  });
  const postNext = (thread: Thread) => {
    if (next >= values.length) return;
    const to = Math.min(values.length, next + batchSize);
    thread.post(pack(values, next, to, rounds));
    next = to;
  };
  const threads: Thread[] = [];
  for (let w = 0; w < workers; w++) {
    const thread: Thread = spawn((data) => {
      if ("ready" in data) {
        if (++ready === workers) onReady();
        return;
      }
      sink ^= data.sink;
      done += data.count;
      if (done === values.length) onDone();
      else postNext(thread);
    }, (error) => failed(error));
    threads.push(thread);
  }
  try {
    await Promise.race([allReady, allDone]);
    const startSeconds = (performance.now() - spawnedAt) / 1000;
    const cpuBefore = cpuSeconds();
    const started = performance.now();
    for (let round = 0; round < outstanding; round++) for (const thread of threads) postNext(thread);
    await allDone;
    const seconds = (performance.now() - started) / 1000;
    const cpu = cpuSeconds() - cpuBefore;
    if (sink === -1) console.log(sink);
    return { messages: values.length, seconds, cpuSeconds: cpu, startSeconds };
  } finally {
    await Promise.all(threads.map((thread) => thread.terminate()));
  }
}
