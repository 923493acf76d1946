import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";
import type { ConsumerMetrics } from "../../mod.ts";
import { Histogram } from "../../src/core/histogram.ts";
import { formatPrometheus } from "../../src/metrics/mod.ts";

// docs/operations.md against what formatPrometheus writes: no documented metric that does not exist,
// no exported family left undocumented, and no dead links to files of the repo.

const docsFile = new URL("../../docs/operations.md", import.meta.url);
const docs = readFileSync(docsFile, "utf8");

function exposition(): string {
  const metrics: ConsumerMetrics = {
    totalInFlight: 1,
    maxInFlight: 10,
    isPaused: true,
    pauseReason: "maxInFlightBytes",
    startPauseReason: null,
    throttled: 0,
    inFlightBytes: 10,
    maxInFlightBytes: 10,
    queued: 0,
    buffered: 2,
    bufferedBytes: 210,
    processing: 1,
    processedTotal: 0,
    failedAttemptsTotal: 0,
    commitsTotal: 0,
    commitFailuresTotal: 0,
    retriesTotal: 0,
    deadLetteredTotal: 0,
    deadLetterFailuresTotal: 0,
    skippedTotal: 0,
    stallsTotal: 0,
    handlerSeconds: new Histogram().snapshot(),
    fetchToCompletionSeconds: new Histogram().snapshot(),
    batchesProcessedTotal: 0,
    batchSize: new Histogram().snapshot(),
    partitions: [{
      topic: "t",
      partition: 0,
      trueLag: 1,
      gapCount: 0,
      blockingOffset: 5n,
      blockingDurationSec: 0,
      queuedCount: 0,
      bufferedCount: 2,
      bufferedBytes: 210,
      inFlight: 1,
      highestContiguousOffset: 4n,
      committedOffset: 5n,
      lastFetchedOffset: 5n,
      commitMetadataBytes: 0,
      uncommittedOffsets: 1,
      pauseReason: "commitMetadataFull",
    }],
  };
  return formatPrometheus([{ id: "c", getMetrics: () => metrics }]);
}

const text = exposition();
/** Family names, from the TYPE lines. */
const families = [...text.matchAll(/^# TYPE (\S+) \S+$/gm)].map((m) => m[1]!);
/** Sample names, histogram suffixes included. */
const samples = new Set([...text.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)\{/gm)].map((m) => m[1]!));

describe("docs/operations.md", () => {
  test("names only metrics that formatPrometheus writes", () => {
    const mentioned = new Set([...docs.matchAll(/\bpyrallel_[a-z0-9_]+/g)].map((m) => m[0]));
    assert.ok(mentioned.size > 10);
    const unknown = [...mentioned].filter((name) => !families.includes(name) && !samples.has(name));
    assert.deepEqual(unknown, []);
  });

  test("documents every exported family in a table row", () => {
    const missing = families.filter((name) => !docs.includes(`| \`${name}\``));
    assert.deepEqual(missing, []);
  });

  test("links to files of the repository that exist", () => {
    const links = [...docs.matchAll(/\]\((\.\.\/[^)#]+)\)/g)].map((m) => m[1]!);
    assert.ok(links.length >= 3);
    for (const link of links) assert.ok(existsSync(new URL(link, docsFile)), `dead link ${link}`);
  });
});
