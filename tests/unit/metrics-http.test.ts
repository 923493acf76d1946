// The metrics app served by each runtime's own HTTP server, as users mount it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Hono } from "hono";
import { createMetricsApp } from "../../src/metrics/mod.ts";
import type { ConsumerMetrics } from "../../mod.ts";

type Fetch = (request: Request) => Response | Promise<Response>;
interface Served {
  url: string;
  stop(): Promise<void>;
}

const runtime = globalThis as unknown as {
  Deno?: {
    serve(
      options: { port: number; hostname: string; onListen?: () => void },
      fetch: Fetch,
    ): { addr: { port: number }; shutdown(): Promise<void> };
  };
  Bun?: {
    serve(options: { port: number; hostname: string; fetch: Fetch }): { port: number; stop(force?: boolean): void };
  };
};

/** Deno.serve on Deno, Bun.serve on Bun, @hono/node-server on Node: a real socket each time. */
async function serve(fetch: Fetch): Promise<Served> {
  if (runtime.Deno) {
    const server = runtime.Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, fetch);
    return { url: `http://127.0.0.1:${server.addr.port}`, stop: () => server.shutdown() };
  }
  if (runtime.Bun) {
    const server = runtime.Bun.serve({ port: 0, hostname: "127.0.0.1", fetch });
    return { url: `http://127.0.0.1:${server.port}`, stop: async () => server.stop(true) };
  }
  const { serve: nodeServe } = await import("@hono/node-server");
  return new Promise((resolve) => {
    const server = nodeServe({ fetch, port: 0, hostname: "127.0.0.1" }, (info) => {
      resolve({
        url: `http://127.0.0.1:${info.port}`,
        stop: () => new Promise<void>((done) => server.close(() => done())),
      });
    });
  });
}

const histogram = { bounds: [0.1], cumulativeCounts: [1], sum: 0.05, count: 1 };
const snapshot: ConsumerMetrics = {
  totalInFlight: 3,
  maxInFlight: 10,
  inFlightBytes: 30,
  maxInFlightBytes: 100,
  isPaused: false,
  pauseReason: null,
  queued: 1,
  buffered: 4,
  bufferedBytes: 420,
  processing: 2,
  processedTotal: 5,
  failedAttemptsTotal: 0,
  retriesTotal: 0,
  deadLetteredTotal: 0,
  deadLetterFailuresTotal: 0,
  skippedTotal: 0,
  commitsTotal: 1,
  commitFailuresTotal: 0,
  stallsTotal: 0,
  handlerSeconds: histogram,
  fetchToCompletionSeconds: histogram,
  partitions: [{
    topic: "orders",
    partition: 0,
    trueLag: 3,
    gapCount: 1,
    blockingOffset: 7n,
    blockingDurationSec: 0.5,
    queuedCount: 1,
    bufferedCount: 4,
    bufferedBytes: 420,
    inFlight: 2,
    highestContiguousOffset: 6n,
    committedOffset: 7n,
    lastFetchedOffset: 9n,
    commitMetadataBytes: 8,
    uncommittedOffsets: 3,
    pauseReason: null,
  }],
};

test("the metrics app mounted under /ops answers over a real HTTP server of this runtime", async () => {
  const app = new Hono().route("/ops", createMetricsApp({ id: "c1", getMetrics: () => snapshot }));
  const server = await serve(app.fetch);
  try {
    const metrics = await fetch(`${server.url}/ops/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const text = await metrics.text();
    assert.match(text, /^pyrallel_partition_blocking_offset\{consumer="c1",topic="orders",partition="0"\} 7$/m);
    assert.match(text, /^pyrallel_system_in_flight\{consumer="c1"\} 3$/m);
    const json = await (await fetch(`${server.url}/ops/metrics.json`)).json() as {
      consumers: { partitions: { blockingOffset: string }[] }[];
    };
    assert.equal(json.consumers[0]!.partitions[0]!.blockingOffset, "7");
    assert.equal((await fetch(`${server.url}/ops/ready`)).status, 200);
    assert.equal((await fetch(`${server.url}/metrics`)).status, 404);
  } finally {
    await server.stop();
  }
});
