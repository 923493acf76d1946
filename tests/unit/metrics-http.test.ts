// The metrics app served by each runtime's own HTTP server, as users mount it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Hono } from "hono";
import { createMetricsApp } from "../../src/metrics/mod.ts";
import type { ConsumerMetrics } from "../../mod.ts";
import { serve } from "../support/serve.ts";

const histogram = { bounds: [0.1], cumulativeCounts: [1], sum: 0.05, count: 1 };
const snapshot: ConsumerMetrics = {
  totalInFlight: 3,
  maxInFlight: 10,
  inFlightBytes: 30,
  maxInFlightBytes: 100,
  isPaused: false,
  pauseReason: null,
  startPauseReason: null,
  throttled: 0,
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
  batchesProcessedTotal: 0,
  batchSize: histogram,
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
