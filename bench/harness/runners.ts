// The measured runs: the library itself, and the two baselines read with the same client
// (raw consumption, and one sequential async chain per partition). Each run reads its topic from
// the start in a fresh consumer group.
import {
  Consumer,
  type Message,
  type MessagesStream,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
} from "@platformatic/kafka";
import {
  type ConsumerMessage,
  type ConsumerMetrics,
  createParallelConsumer,
  type HandlerContext,
  type Ordering,
  type ParallelConsumer,
} from "../../mod.ts";
import { RECORDS_PER_RESPONSE, responseLimit } from "../../src/adapters/group/fetcher.ts";
import { DEFAULTS } from "../../src/config/defaults.ts";
import { memory, rss, settleGarbage } from "./runtime.ts";
import { histogramQuantile, int, sampleQuantile } from "./stats.ts";

/** What a handler does with one message (the workload). */
export type Work = (message: { key: Uint8Array | null | undefined; value: Uint8Array | null | undefined }) =>
  | Promise<void>
  | void;

export interface Context {
  brokers: string[];
  log: (line: string) => void;
  /** A run that makes no progress for this long fails. */
  stallTimeoutMs: number;
  /** What-if fetch sizes (`--fetch-max-bytes`) for the library's consumers, instead of its defaults. */
  fetch?: { readonly fetchMaxBytes: number; readonly fetchMaxBytesPerPartition: number } | undefined;
}

/** Result of one measured run. Rates are messages per second. */
export interface RunResult {
  name: string;
  kind: "pyrallel" | "raw" | "sequential" | "memory" | "skipped" | "failed";
  config: string;
  /** Messages counted (completed, or received for raw consumption). */
  messages: number;
  /** From start()/consume() resolving to the last message counted. */
  seconds: number;
  /** Messages / seconds: joining the group and the first fetch included, as a user sees it. */
  rate: number;
  /** Messages / time from the first message received to the last one counted (excludes the first fetch). */
  steadyRate: number;
  /** Fetch → completion quantiles, seconds. */
  p50?: number;
  p99?: number;
  latencySource?: "histogram" | "measured";
  peakRss: number;
  /** Mean handler duration (seconds) from the library's handlerSeconds histogram. */
  handlerMean?: number;
  /** Mean of `processing` (handlers running), sampled every 100 ms. */
  meanProcessing?: number;
  /** Share of the samples in which fetching was paused. */
  pausedShare?: number;
  /** Seconds from joined to the first message. */
  firstMessageSeconds?: number;
  /** Little's-law bound for the configuration (I/O workloads), messages/s. */
  littleBound?: number;
  /** The bound with the handler latency actually measured instead of the nominal one. */
  littleBoundMeasured?: number;
  notes: string[];
  /** The sequential baseline with the same handler (its name), for the "vs seq" ratio. */
  sequential?: string;
  /** 1-minute load average when the run started. */
  load?: number;
  /** Memory runs: bytes per held message. */
  heapPerMessage?: number;
  rssPerMessage?: number;
  externalPerMessage?: number;
}

// ---------------------------------------------------------------------------------------------

/** Samples RSS (and optionally the consumer's state) every 100 ms during a run. */
class Sampler {
  peakRss = rss();
  #processing = 0;
  #paused = 0;
  #mapFull = 0;
  #samples = 0;
  readonly #timer: ReturnType<typeof setInterval>;
  constructor(metrics?: () => ConsumerMetrics) {
    this.#timer = setInterval(() => {
      this.peakRss = Math.max(this.peakRss, rss());
      if (!metrics) return;
      const m = metrics();
      this.#samples++;
      this.#processing += m.processing;
      if (m.isPaused) this.#paused++;
      if (m.partitions.some((p) => p.pauseReason === "commitMetadataFull")) this.#mapFull++;
    }, 100);
  }
  stop(): { peakRss: number; meanProcessing?: number; pausedShare?: number; mapFullShare?: number } {
    clearInterval(this.#timer);
    this.peakRss = Math.max(this.peakRss, rss());
    if (this.#samples === 0) return { peakRss: this.peakRss };
    return {
      peakRss: this.peakRss,
      meanProcessing: this.#processing / this.#samples,
      pausedShare: this.#paused / this.#samples,
      mapFullShare: this.#mapFull / this.#samples,
    };
  }
}

/** Prints progress every 2 s, and fails the run when nothing moved for `stallTimeoutMs`. */
function watch(
  ctx: Context,
  label: string,
  target: number,
  done: () => number,
  fail: (error: Error) => void,
  extra?: () => string,
): () => void {
  let last = done();
  let lastMoved = performance.now();
  let lastPrinted = performance.now();
  let printedCount = last;
  const timer = setInterval(() => {
    const now = performance.now();
    const count = done();
    if (count !== last) {
      last = count;
      lastMoved = now;
    } else if (now - lastMoved > ctx.stallTimeoutMs) {
      fail(new Error(`no progress for ${ctx.stallTimeoutMs / 1000} s (${count}/${target})`));
    }
    if (now - lastPrinted >= 2000) {
      const rate = ((count - printedCount) * 1000) / (now - lastPrinted);
      ctx.log(`  ${label}: ${int(count)}/${int(target)} (${int(rate)} msg/s)${extra ? ` ${extra()}` : ""}`);
      lastPrinted = now;
      printedCount = count;
    }
  }, 250);
  return () => clearInterval(timer);
}

function uniqueGroup(name: string): string {
  return `pyrallel-bench-${name}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
}

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (error: Error) => void } {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

// ---------------------------------------------------------------------------------------------
// The library

export interface PyrallelRun {
  name: string;
  sequential?: string;
  topic: string;
  /** Messages to count before the run ends. */
  target: number;
  work: Work;
  /** Which messages count (default: all). */
  counts?: (message: ConsumerMessage) => boolean;
  ordering: Ordering;
  maxInFlight: number;
  concurrency: number;
  /** Replaces `{ kind: "async", concurrency }` (e.g. a worker engine). */
  engine?: unknown;
  littleBound?: { slots: number; latencySeconds: number };
  config: string;
  /** How long close() lets queued work finish. Default 30000 (the library's default). */
  drainTimeoutMs?: number;
  /** Error events that are expected (e.g. at close with abandoned work): counted in a note, not listed. */
  expectedErrors?: RegExp;
  /**
   * Ends the run this many seconds after the first handler call even if `target` was not reached
   * (a fixed window: the rates then count the messages completed by then). Default: no window.
   */
  windowSeconds?: number;
}

export async function runPyrallel(ctx: Context, run: PyrallelRun): Promise<RunResult> {
  const finished = deferred();
  let done = 0;
  let endAt = 0;
  /** Messages counted when the run ended (the target, or fewer when the window closed first). */
  let counted = 0;
  const counts = run.counts;
  const work = run.work;
  let firstAt = 0;
  let window: ReturnType<typeof setTimeout> | undefined;
  const end = () => {
    if (endAt !== 0) return;
    endAt = performance.now();
    counted = Math.min(done, run.target);
    clearTimeout(window);
    finished.resolve();
  };
  const first = () => {
    firstAt = performance.now();
    if (run.windowSeconds !== undefined) window = setTimeout(end, run.windowSeconds * 1000);
  };
  const handler = async (message: ConsumerMessage, _context: HandlerContext): Promise<void> => {
    if (firstAt === 0) first();
    await work(message);
    if (counts && !counts(message)) return;
    if (++done === run.target) end();
  };
  let consumer: ParallelConsumer;
  try {
    consumer = createParallelConsumer({
      kafka: { bootstrapBrokers: ctx.brokers, groupId: uniqueGroup(run.name), topics: [run.topic], ...ctx.fetch },
      // The worker engine's handler lives in its module (runWorker), not here.
      ...(run.engine === undefined ? { handler } : {}),
      ordering: run.ordering,
      maxInFlight: run.maxInFlight,
      // deno-lint-ignore no-explicit-any
      engine: (run.engine ?? { kind: "async", concurrency: run.concurrency }) as any,
      drainTimeoutMs: run.drainTimeoutMs ?? 30_000,
    });
  } catch (error) {
    return skipped(run.name, run.config, `rejected by createParallelConsumer: ${firstLine(error)}`);
  }
  const errors: string[] = [];
  let expectedErrors = 0;
  const noteError = (error: unknown) => {
    if (run.expectedErrors?.test(firstLine(error))) expectedErrors++;
    else if (errors.length < 3) errors.push(firstLine(error));
  };
  consumer.on("error", noteError);
  const sampler = new Sampler(() => consumer.getMetrics());
  // A worker engine runs the handler in its workers, not here: count completions from the metrics.
  const countFromMetrics = run.engine !== undefined;
  const stop = watch(ctx, run.name, run.target, () => done, finished.reject, () => {
    const m = consumer.getMetrics();
    return `in flight ${m.totalInFlight}, processing ${m.processing}${m.isPaused ? ", paused" : ""}`;
  });
  let startedAt = 0;
  let metrics: ConsumerMetrics | undefined;
  let poll: ReturnType<typeof setInterval> | undefined;
  try {
    await consumer.start();
    startedAt = performance.now();
    if (countFromMetrics) {
      poll = setInterval(() => {
        const m = consumer.getMetrics();
        if (firstAt === 0 && m.totalInFlight + m.processedTotal > 0) first();
        done = m.processedTotal;
        if (done >= run.target) end();
      }, 5);
    }
    await finished.promise;
    clearInterval(poll);
    metrics = consumer.getMetrics();
  } catch (error) {
    clearInterval(poll);
    clearTimeout(window);
    stop();
    sampler.stop();
    await consumer.close().catch(() => {});
    return failed(run.name, run.config, error);
  }
  stop();
  const sampled = sampler.stop();
  await consumer.close().catch((error) => noteError(new Error(`close() rejected: ${firstLine(error)}`)));
  if (expectedErrors > 0) errors.push(`${expectedErrors} expected error(s) at close`);
  const seconds = (endAt - startedAt) / 1000;
  const handlerMean = metrics.handlerSeconds.count > 0
    ? metrics.handlerSeconds.sum / metrics.handlerSeconds.count
    : undefined;
  const result: RunResult = {
    name: run.name,
    kind: "pyrallel",
    config: run.config,
    messages: counted,
    seconds,
    rate: counted / seconds,
    steadyRate: counted / ((endAt - firstAt) / 1000),
    p50: histogramQuantile(metrics.fetchToCompletionSeconds, 0.5),
    p99: histogramQuantile(metrics.fetchToCompletionSeconds, 0.99),
    latencySource: "histogram",
    peakRss: sampled.peakRss,
    handlerMean,
    ...(sampled.meanProcessing === undefined ? {} : { meanProcessing: sampled.meanProcessing }),
    ...(sampled.pausedShare === undefined ? {} : { pausedShare: sampled.pausedShare }),
    ...(firstAt > 0 ? { firstMessageSeconds: Math.max(0, (firstAt - startedAt) / 1000) } : {}),
    notes: [
      ...(counted < run.target
        ? [`window of ${run.windowSeconds} s closed at ${int(counted)} of ${int(run.target)} messages`]
        : []),
      ...errors.map((error) => `error event: ${error}`),
      ...(sampled.mapFullShare
        ? [
          `a partition was offset-map throttled (commitMetadataFull) in ${
            Math.round(sampled.mapFullShare * 100)
          }% of samples`,
        ]
        : []),
    ],
    ...(run.sequential ? { sequential: run.sequential } : {}),
  };
  if (run.littleBound) {
    result.littleBound = run.littleBound.slots / run.littleBound.latencySeconds;
    if (handlerMean) result.littleBoundMeasured = run.littleBound.slots / handlerMean;
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Baselines with the plain client

/**
 * The library's fetch sizes, read from its defaults table so the baselines follow the library. With
 * `recordBytes` (a topic's bytes per record on the wire), the most its responses hold on such a
 * topic: about RECORDS_PER_RESPONSE records (the library's fetcher), so that a raw stream is not
 * given 16 MiB responses of small records the library never asks for.
 */
function libraryFetchOptions(
  recordBytes?: number,
): { maxWaitTime: number; maxBytes: number; maxBytesPerPartition: number } {
  const { fetchMaxWaitMs, fetchMaxBytes, fetchMaxBytesPerPartition } = DEFAULTS.kafka;
  const maxBytes = recordBytes === undefined
    ? fetchMaxBytes
    : responseLimit(RECORDS_PER_RESPONSE * recordBytes, fetchMaxBytes);
  return { maxWaitTime: fetchMaxWaitMs, maxBytes, maxBytesPerPartition: fetchMaxBytesPerPartition };
}

/** Described in the baselines' config column. */
export function baselineFetchText(recordBytes?: number): string {
  const fetch = libraryFetchOptions(recordBytes);
  return fetch.maxBytes === undefined
    ? "client's default fetch sizes"
    : `fetch ${Math.round(fetch.maxBytes / 1024)}/${
      Math.round((fetch.maxBytesPerPartition ?? fetch.maxBytes) / 1024)
    } KiB like the library`;
}

async function openStream(ctx: Context, name: string, topic: string, recordBytes?: number) {
  const consumer = new Consumer({
    clientId: `pyrallel-bench-${name}`,
    bootstrapBrokers: ctx.brokers,
    groupId: uniqueGroup(name),
    // The same group settings as the library's adapter.
    sessionTimeout: DEFAULTS.kafka.sessionTimeoutMs,
    rebalanceTimeout: DEFAULTS.kafka.rebalanceTimeoutMs,
    heartbeatInterval: DEFAULTS.kafka.heartbeatIntervalMs,
    autocommit: false,
  });
  const stream = await consumer.consume({
    topics: [topic],
    mode: MessagesStreamModes.COMMITTED,
    fallbackMode: MessagesStreamFallbackModes.EARLIEST,
    autocommit: false,
    // The same fetch settings as the library's adapter, so the comparison is of the processing.
    ...libraryFetchOptions(recordBytes),
  });
  return { consumer, stream };
}

async function closeStream(consumer: Consumer, stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>) {
  try {
    if (!stream.closed) await stream.close();
  } finally {
    await consumer.close();
  }
}

type OpenedStream = Awaited<ReturnType<typeof openStream>>;

/**
 * Runs a baseline on a plain stream opened for it, then closes the stream. A failure becomes a
 * failed result (described as `what`), after `cleanup` stopped the run's watchers.
 */
async function onPlainStream(
  ctx: Context,
  name: string,
  topic: string,
  what: string,
  cleanup: () => void,
  body: (opened: OpenedStream) => Promise<RunResult>,
  recordBytes?: number,
): Promise<RunResult> {
  let opened: OpenedStream | undefined;
  try {
    opened = await openStream(ctx, name, topic, recordBytes);
    const result = await body(opened);
    await closeStream(opened.consumer, opened.stream);
    return result;
  } catch (error) {
    cleanup();
    if (opened) await closeStream(opened.consumer, opened.stream).catch(() => {});
    return failed(name, what, error);
  }
}

/**
 * Baseline (a): a plain consume stream in a fresh group, counting messages, no processing. With
 * `recordBytes` (bytes per record on the wire), responses as large as the library's on such records.
 */
export async function runRaw(
  ctx: Context,
  name: string,
  topic: string,
  target: number,
  recordBytes?: number,
): Promise<RunResult> {
  const finished = deferred();
  let count = 0;
  let endAt = 0;
  let firstAt = 0;
  const sampler = new Sampler();
  const stop = watch(ctx, name, target, () => count, finished.reject);
  const cleanup = () => {
    stop();
    sampler.stop();
  };
  return onPlainStream(ctx, name, topic, "raw consumption", cleanup, async ({ stream }) => {
    const startedAt = performance.now();
    stream.on("data", () => {
      if (count === 0) firstAt = performance.now();
      if (++count === target) {
        endAt = performance.now();
        finished.resolve();
      }
    });
    stream.on("error", (error: Error) => finished.reject(error));
    await finished.promise;
    stop();
    const sampled = sampler.stop();
    const seconds = (endAt - startedAt) / 1000;
    return {
      name,
      kind: "raw",
      config: `plain Consumer.consume() stream, count only; ${baselineFetchText(recordBytes)}`,
      messages: target,
      seconds,
      rate: target / seconds,
      steadyRate: target / ((endAt - firstAt) / 1000),
      peakRss: sampled.peakRss,
      firstMessageSeconds: (firstAt - startedAt) / 1000,
      notes: [],
    };
  }, recordBytes);
}

/**
 * Baseline (a), median of `reads` reads (one read is short and noisy: the client decodes up to
 * ~1M msg/s). The note lists every read.
 */
export async function runRawMedian(
  ctx: Context,
  name: string,
  topic: string,
  target: number,
  reads = 3,
): Promise<RunResult> {
  const runs: RunResult[] = [];
  for (let i = 0; i < reads; i++) {
    const result = await runRaw(ctx, name, topic, target);
    if (result.kind !== "raw") return result;
    runs.push(result);
  }
  return medianRun(runs);
}

/**
 * The run with the median `value` (default msg/s) of several successful runs of the same thing;
 * with more than one, a note lists every run's value.
 */
export function medianRun(runs: RunResult[], value: (r: RunResult) => number = (r) => r.rate): RunResult {
  if (runs.length === 1) return runs[0]!;
  const values = runs.map((r) => int(value(r))).join(", ");
  const median = [...runs].sort((a, b) => value(a) - value(b))[runs.length >> 1]!;
  median.notes.push(`median of ${runs.length} reads (${values} msg/s)`);
  return median;
}

/**
 * Baseline (b), "what users write today": the plain stream, one sequential async chain per
 * partition (the handler is awaited message by message; partitions run side by side), committing
 * every `commitEvery` messages of a partition. No backpressure limit: its best case.
 */
export async function runSequential(
  ctx: Context,
  name: string,
  topic: string,
  target: number,
  work: Work,
  commitEvery = 100,
): Promise<RunResult> {
  const finished = deferred();
  let done = 0;
  let endAt = 0;
  let stopped = false;
  const latencies = new Float64Array(target);
  const sampler = new Sampler();
  const stop = watch(ctx, name, target, () => done, finished.reject);
  const cleanup = () => {
    stopped = true;
    stop();
    sampler.stop();
  };
  // When it returns, the chains still hold what was fetched and not processed: it is skipped (stopped).
  return onPlainStream(ctx, name, topic, "sequential per partition", cleanup, async ({ stream }) => {
    const startedAt = performance.now();
    const chains = new Map<number, Promise<void>>();
    const sinceCommit = new Map<number, number>();
    const process = async (message: Message<Buffer, Buffer, Buffer, Buffer>, fetchedAt: number) => {
      if (stopped) return;
      await work(message);
      const since = (sinceCommit.get(message.partition) ?? 0) + 1;
      sinceCommit.set(message.partition, since === commitEvery ? 0 : since);
      if (since === commitEvery) await message.commit();
      if (stopped) return;
      latencies[done] = (performance.now() - fetchedAt) / 1000;
      if (++done === target) {
        endAt = performance.now();
        stopped = true;
        finished.resolve();
      }
    };
    let firstAt = 0;
    stream.on("data", (message: Message<Buffer, Buffer, Buffer, Buffer>) => {
      const fetchedAt = performance.now();
      if (firstAt === 0) firstAt = fetchedAt;
      const previous = chains.get(message.partition) ?? Promise.resolve();
      chains.set(message.partition, previous.then(() => process(message, fetchedAt)));
    });
    stream.on("error", (error: Error) => finished.reject(error));
    await finished.promise;
    stop();
    const sampled = sampler.stop();
    const seconds = (endAt - startedAt) / 1000;
    const measured = latencies.subarray(0, done);
    return {
      name,
      kind: "sequential",
      config: `plain stream, 1 async chain per partition, commit every ${commitEvery}; ${baselineFetchText()}`,
      messages: done,
      seconds,
      rate: done / seconds,
      steadyRate: done / ((endAt - firstAt) / 1000),
      firstMessageSeconds: (firstAt - startedAt) / 1000,
      p50: sampleQuantile(measured, 0.5),
      p99: sampleQuantile(measured, 0.99),
      latencySource: "measured",
      peakRss: sampled.peakRss,
      notes: [],
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Memory per in-flight message

/**
 * Raw reference: the plain stream's messages, `target` of them held in an array (the client's
 * own per-message cost). The topic must hold exactly `target` messages.
 */
export async function memoryRaw(ctx: Context, name: string, topic: string, target: number): Promise<RunResult> {
  await settleGarbage();
  const before = memory();
  const held: unknown[] = [];
  const finished = deferred();
  const stop = watch(ctx, name, target, () => held.length, finished.reject);
  return onPlainStream(ctx, name, topic, "raw messages held", stop, async ({ stream }) => {
    stream.on("data", (message: unknown) => {
      if (held.length >= target) return;
      held.push(message);
      if (held.length === target) finished.resolve();
    });
    await finished.promise;
    stop();
    await settleGarbage();
    const after = memory();
    const result = memoryResult(name, "plain stream, messages kept in an array", target, before, after);
    held.length = 0;
    return result;
  });
}

/**
 * The library holding `target` messages (the whole topic) with `maxInFlight = target`: every
 * handler blocks until released. `concurrency` handlers run, the rest are queued.
 */
export async function memoryPyrallel(
  ctx: Context,
  name: string,
  topic: string,
  target: number,
  ordering: Ordering,
  concurrency: number,
): Promise<RunResult> {
  await settleGarbage();
  const before = memory();
  const gate = deferred();
  const config = `maxInFlight ${int(target)}, ${ordering} ordering, concurrency ${int(concurrency)}`;
  const consumer = createParallelConsumer({
    kafka: { bootstrapBrokers: ctx.brokers, groupId: uniqueGroup(name), topics: [topic], ...ctx.fetch },
    handler: () => gate.promise,
    ordering,
    maxInFlight: target,
    engine: { kind: "async", concurrency },
    drainTimeoutMs: 10_000,
  });
  const full = deferred();
  const expectedRunning = Math.min(concurrency, target);
  const stop = watch(ctx, name, target, () => {
    const m = consumer.getMetrics();
    if (m.totalInFlight >= target && m.processing >= expectedRunning) full.resolve();
    return m.totalInFlight;
  }, full.reject);
  try {
    await consumer.start();
    await full.promise;
    stop();
    await settleGarbage();
    const after = memory();
    const result = memoryResult(name, config, target, before, after);
    gate.resolve();
    await consumer.close();
    return result;
  } catch (error) {
    stop();
    gate.resolve();
    await consumer.close().catch(() => {});
    return failed(name, config, error);
  }
}

function memoryResult(
  name: string,
  config: string,
  count: number,
  before: ReturnType<typeof memory>,
  after: ReturnType<typeof memory>,
): RunResult {
  return {
    name,
    kind: "memory",
    config,
    messages: count,
    seconds: 0,
    rate: Number.NaN,
    steadyRate: Number.NaN,
    peakRss: after.rss,
    heapPerMessage: (after.heapUsed - before.heapUsed) / count,
    rssPerMessage: (after.rss - before.rss) / count,
    externalPerMessage: (after.external - before.external) / count,
    notes: [],
  };
}

// ---------------------------------------------------------------------------------------------

export function skipped(name: string, config: string, why: string): RunResult {
  return {
    name,
    kind: "skipped",
    config,
    messages: 0,
    seconds: 0,
    rate: Number.NaN,
    steadyRate: Number.NaN,
    peakRss: rss(),
    notes: [why],
  };
}

export function failed(name: string, config: string, error: unknown): RunResult {
  return {
    name,
    kind: "failed",
    config,
    messages: 0,
    seconds: 0,
    rate: Number.NaN,
    steadyRate: Number.NaN,
    peakRss: rss(),
    notes: [`failed: ${firstLine(error)}`],
  };
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.split("\n").slice(0, 3).join(" ").slice(0, 300);
}
