import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import process from "node:process";
import { describe, test } from "node:test";
import { Hono } from "hono";
import type { ConsumerMetrics, HistogramSnapshot, PartitionMetrics, PauseReason } from "../../mod.ts";
import { Histogram, LATENCY_BUCKETS } from "../../src/core/histogram.ts";
import { createMetricsApp, formatPrometheus, metricsToJson, type ParallelConsumerLike } from "../../src/metrics/mod.ts";

const partition = (overrides: Partial<PartitionMetrics> = {}): PartitionMetrics => ({
  topic: "orders",
  partition: 0,
  trueLag: 4,
  gapCount: 1,
  blockingOffset: 11n,
  blockingDurationSec: 2.5,
  queuedCount: 3,
  bufferedCount: 6,
  bufferedBytes: 640,
  inFlight: 1,
  highestContiguousOffset: 10n,
  committedOffset: 11n,
  lastFetchedOffset: 14n,
  commitMetadataBytes: 37,
  uncommittedOffsets: 3,
  pauseReason: null,
  ...overrides,
});

/** A small histogram: two bounds, so the exact exposition stays short. */
const smallHistogram = (overrides: Partial<HistogramSnapshot> = {}): HistogramSnapshot => ({
  bounds: [0.1, 1],
  cumulativeCounts: [1, 3],
  sum: 2.5,
  count: 4,
  ...overrides,
});

const snapshot = (overrides: Partial<ConsumerMetrics> = {}): ConsumerMetrics => ({
  totalInFlight: 4,
  maxInFlight: 100,
  isPaused: false,
  pauseReason: null,
  startPauseReason: null,
  throttled: 0,
  inFlightBytes: 512,
  maxInFlightBytes: 1024,
  queued: 3,
  buffered: 6,
  bufferedBytes: 640,
  processing: 1,
  processedTotal: 42,
  failedAttemptsTotal: 2,
  commitsTotal: 7,
  commitFailuresTotal: 1,
  retriesTotal: 2,
  deadLetteredTotal: 6,
  deadLetterFailuresTotal: 8,
  skippedTotal: 9,
  stallsTotal: 5,
  handlerSeconds: smallHistogram(),
  fetchToCompletionSeconds: smallHistogram({ cumulativeCounts: [0, 2], sum: 6.25 }),
  batchesProcessedTotal: 3,
  batchSize: smallHistogram({ bounds: [10, 100], cumulativeCounts: [1, 3], sum: 130, count: 3 }),
  partitions: [partition()],
  ...overrides,
});

const fake = (id: string, metrics: ConsumerMetrics = snapshot()): ParallelConsumerLike => ({
  id,
  getMetrics: () => metrics,
});

const lines = (text: string): string[] => text.split("\n");
const series = (text: string, name: string): string[] => lines(text).filter((l) => l.startsWith(`${name}{`));

describe("formatPrometheus", () => {
  test("writes the exact exposition for a small snapshot", () => {
    const p = 'consumer="c1",topic="orders",partition="0"';
    const c = 'consumer="c1"';
    const expected = [
      "# HELP pyrallel_system_in_flight Messages held in memory: queued plus processing.",
      "# TYPE pyrallel_system_in_flight gauge",
      `pyrallel_system_in_flight{${c}} 4`,
      "# HELP pyrallel_system_max_in_flight Configured maxInFlight: backpressure starts here.",
      "# TYPE pyrallel_system_max_in_flight gauge",
      `pyrallel_system_max_in_flight{${c}} 100`,
      "# HELP pyrallel_system_in_flight_bytes Payload bytes (keys plus values) held in memory: queued plus processing.",
      "# TYPE pyrallel_system_in_flight_bytes gauge",
      `pyrallel_system_in_flight_bytes{${c}} 512`,
      "# HELP pyrallel_system_max_in_flight_bytes Configured maxInFlightBytes: backpressure also starts here.",
      "# TYPE pyrallel_system_max_in_flight_bytes gauge",
      `pyrallel_system_max_in_flight_bytes{${c}} 1024`,
      "# HELP pyrallel_system_paused 1 when fetching is paused, else 0.",
      "# TYPE pyrallel_system_paused gauge",
      `pyrallel_system_paused{${c}} 0`,
      "# HELP pyrallel_system_pause_reason_info 1 with label reason (maxInFlight, maxInFlightBytes, closing, failed) while fetching is paused; no series while it runs.",
      "# TYPE pyrallel_system_pause_reason_info gauge",
      "# HELP pyrallel_system_start_pause_reason_info 1 with label reason (rateLimit, handlerPause) while ready messages are held back from starting; no series otherwise. Fetching is not paused by it.",
      "# TYPE pyrallel_system_start_pause_reason_info gauge",
      "# HELP pyrallel_system_throttled Messages ready to start but held back by the rate limit or a handler's pause; part of queued.",
      "# TYPE pyrallel_system_throttled gauge",
      `pyrallel_system_throttled{${c}} 0`,
      "# HELP pyrallel_system_queued Messages admitted and not running, over all partitions.",
      "# TYPE pyrallel_system_queued gauge",
      `pyrallel_system_queued{${c}} 3`,
      "# HELP pyrallel_system_buffered Fetched messages not admitted into the in-flight window yet, over all partitions.",
      "# TYPE pyrallel_system_buffered gauge",
      `pyrallel_system_buffered{${c}} 6`,
      "# HELP pyrallel_system_buffered_bytes Payload bytes (keys + values) of those messages.",
      "# TYPE pyrallel_system_buffered_bytes gauge",
      `pyrallel_system_buffered_bytes{${c}} 640`,
      "# HELP pyrallel_system_processing Messages whose handler is running now.",
      "# TYPE pyrallel_system_processing gauge",
      `pyrallel_system_processing{${c}} 1`,
      "# HELP pyrallel_messages_processed_total Messages completed since start.",
      "# TYPE pyrallel_messages_processed_total counter",
      `pyrallel_messages_processed_total{${c}} 42`,
      "# HELP pyrallel_handler_failures_total Handler attempts that failed since start.",
      "# TYPE pyrallel_handler_failures_total counter",
      `pyrallel_handler_failures_total{${c}} 2`,
      "# HELP pyrallel_commits_total Commits acknowledged by the broker.",
      "# TYPE pyrallel_commits_total counter",
      `pyrallel_commits_total{${c}} 7`,
      "# HELP pyrallel_commit_failures_total Commits refused or failed.",
      "# TYPE pyrallel_commit_failures_total counter",
      `pyrallel_commit_failures_total{${c}} 1`,
      "# HELP pyrallel_retries_total Retries scheduled after failed handler attempts.",
      "# TYPE pyrallel_retries_total counter",
      `pyrallel_retries_total{${c}} 2`,
      "# HELP pyrallel_dead_lettered_total Messages published to the dead-letter topic after their last retry.",
      "# TYPE pyrallel_dead_lettered_total counter",
      `pyrallel_dead_lettered_total{${c}} 6`,
      "# HELP pyrallel_dead_letter_failures_total Dead-letter publishes that failed (each is retried).",
      "# TYPE pyrallel_dead_letter_failures_total counter",
      `pyrallel_dead_letter_failures_total{${c}} 8`,
      "# HELP pyrallel_messages_skipped_total Messages skipped after their last retry (failurePolicy skip).",
      "# TYPE pyrallel_messages_skipped_total counter",
      `pyrallel_messages_skipped_total{${c}} 9`,
      "# HELP pyrallel_stalls_total Blocking offsets that held their partition's commit longer than stallThresholdMs.",
      "# TYPE pyrallel_stalls_total counter",
      `pyrallel_stalls_total{${c}} 5`,
      "# HELP pyrallel_handler_duration_seconds Duration of handler attempts, failed ones included.",
      "# TYPE pyrallel_handler_duration_seconds histogram",
      `pyrallel_handler_duration_seconds_bucket{${c},le="0.1"} 1`,
      `pyrallel_handler_duration_seconds_bucket{${c},le="1"} 3`,
      `pyrallel_handler_duration_seconds_bucket{${c},le="+Inf"} 4`,
      `pyrallel_handler_duration_seconds_sum{${c}} 2.5`,
      `pyrallel_handler_duration_seconds_count{${c}} 4`,
      "# HELP pyrallel_fetch_to_completion_seconds Time from a message's arrival to its completion: queueing, retries and handling.",
      "# TYPE pyrallel_fetch_to_completion_seconds histogram",
      `pyrallel_fetch_to_completion_seconds_bucket{${c},le="0.1"} 0`,
      `pyrallel_fetch_to_completion_seconds_bucket{${c},le="1"} 2`,
      `pyrallel_fetch_to_completion_seconds_bucket{${c},le="+Inf"} 4`,
      `pyrallel_fetch_to_completion_seconds_sum{${c}} 6.25`,
      `pyrallel_fetch_to_completion_seconds_count{${c}} 4`,
      "# HELP pyrallel_batches_processed_total Batches whose batch handler succeeded (batch handlers only); their messages count in pyrallel_messages_processed_total.",
      "# TYPE pyrallel_batches_processed_total counter",
      `pyrallel_batches_processed_total{${c}} 3`,
      "# HELP pyrallel_batch_size Messages per batch that succeeded (batch handlers only).",
      "# TYPE pyrallel_batch_size histogram",
      `pyrallel_batch_size_bucket{${c},le="10"} 1`,
      `pyrallel_batch_size_bucket{${c},le="100"} 3`,
      `pyrallel_batch_size_bucket{${c},le="+Inf"} 3`,
      `pyrallel_batch_size_sum{${c}} 130`,
      `pyrallel_batch_size_count{${c}} 3`,
      "# HELP pyrallel_partition_true_lag Last fetched offset minus the highest contiguous completed offset.",
      "# TYPE pyrallel_partition_true_lag gauge",
      `pyrallel_partition_true_lag{${p}} 4`,
      "# HELP pyrallel_partition_blocking_duration_sec Seconds the blocking offset has held the commit back; 0 when none.",
      "# TYPE pyrallel_partition_blocking_duration_sec gauge",
      `pyrallel_partition_blocking_duration_sec{${p}} 2.5`,
      "# HELP pyrallel_partition_gap_count Completed ranges above the highest contiguous completed offset.",
      "# TYPE pyrallel_partition_gap_count gauge",
      `pyrallel_partition_gap_count{${p}} 1`,
      "# HELP pyrallel_partition_queued_count Messages admitted into the in-flight window and not running.",
      "# TYPE pyrallel_partition_queued_count gauge",
      `pyrallel_partition_queued_count{${p}} 3`,
      "# HELP pyrallel_partition_buffered_count Fetched messages not admitted yet: waiting behind their key or for room in the window.",
      "# TYPE pyrallel_partition_buffered_count gauge",
      `pyrallel_partition_buffered_count{${p}} 6`,
      "# HELP pyrallel_partition_buffered_bytes Payload bytes (keys + values) of those messages, bounded by maxBufferedBytes.",
      "# TYPE pyrallel_partition_buffered_bytes gauge",
      `pyrallel_partition_buffered_bytes{${p}} 640`,
      "# HELP pyrallel_partition_in_flight Messages whose handler is running now.",
      "# TYPE pyrallel_partition_in_flight gauge",
      `pyrallel_partition_in_flight{${p}} 1`,
      "# HELP pyrallel_partition_blocking_offset Lowest fetched offset not completed: the one holding the commit back.",
      "# TYPE pyrallel_partition_blocking_offset gauge",
      `pyrallel_partition_blocking_offset{${p}} 11`,
      "# HELP pyrallel_partition_committed_offset Offset last committed to the group (the next offset to read).",
      "# TYPE pyrallel_partition_committed_offset gauge",
      `pyrallel_partition_committed_offset{${p}} 11`,
      "# HELP pyrallel_partition_highest_contiguous_offset Highest offset below which every fetched message is completed.",
      "# TYPE pyrallel_partition_highest_contiguous_offset gauge",
      `pyrallel_partition_highest_contiguous_offset{${p}} 10`,
      "# HELP pyrallel_partition_last_fetched_offset Highest offset fetched so far.",
      "# TYPE pyrallel_partition_last_fetched_offset gauge",
      `pyrallel_partition_last_fetched_offset{${p}} 14`,
      "# HELP pyrallel_partition_commit_metadata_bytes Size of the offset map sent with the last commit; limited by maxCommitMetadataBytes.",
      "# TYPE pyrallel_partition_commit_metadata_bytes gauge",
      `pyrallel_partition_commit_metadata_bytes{${p}} 37`,
      "# HELP pyrallel_partition_uncommitted_offsets Fetched offsets not yet passed by the commit position: the uncommitted window, bounded by maxUncommittedOffsets.",
      "# TYPE pyrallel_partition_uncommitted_offsets gauge",
      `pyrallel_partition_uncommitted_offsets{${p}} 3`,
      "# HELP pyrallel_partition_paused 1 while the partition is held back (offset map near maxCommitMetadataBytes, window at maxUncommittedOffsets, buffer full, or its ready messages wait for the rate limit or a handler's pause), else 0.",
      "# TYPE pyrallel_partition_paused gauge",
      `pyrallel_partition_paused{${p}} 0`,
      "# HELP pyrallel_partition_pause_reason_info 1 with label reason (commitMetadataFull, maxUncommittedOffsets, bufferFull, rateLimit, handlerPause) while the partition is held back; no series otherwise.",
      "# TYPE pyrallel_partition_pause_reason_info gauge",
      "",
    ].join("\n");
    assert.equal(formatPrometheus([fake("c1")]), expected);
  });

  test("writes pyrallel_system_pause_reason_info only while paused, with the reason as a label", () => {
    const reasons: PauseReason[] = ["maxInFlight", "maxInFlightBytes", "closing", "failed"];
    for (const reason of reasons) {
      const text = formatPrometheus([fake("c1", snapshot({ isPaused: true, pauseReason: reason }))]);
      assert.deepEqual(series(text, "pyrallel_system_pause_reason_info"), [
        `pyrallel_system_pause_reason_info{consumer="c1",reason="${reason}"} 1`,
      ]);
      assert.deepEqual(series(text, "pyrallel_system_paused"), ['pyrallel_system_paused{consumer="c1"} 1']);
    }
    const running = formatPrometheus([
      fake("c1"),
      fake("c2", snapshot({ isPaused: true, pauseReason: "maxInFlight" })),
    ]);
    assert.deepEqual(series(running, "pyrallel_system_pause_reason_info"), [
      'pyrallel_system_pause_reason_info{consumer="c2",reason="maxInFlight"} 1',
    ]);
    assert.ok(lines(running).includes("# TYPE pyrallel_system_pause_reason_info gauge"));
  });

  test("pyrallel_partition_paused is 1 exactly for partitions with a pause reason, which the info series names", () => {
    const text = formatPrometheus([
      fake(
        "c1",
        snapshot({
          partitions: [
            partition(),
            partition({ partition: 1, pauseReason: "commitMetadataFull" }),
            partition({ partition: 2, pauseReason: "maxUncommittedOffsets" }),
            partition({ partition: 3, pauseReason: "bufferFull" }),
          ],
        }),
      ),
    ]);
    assert.deepEqual(series(text, "pyrallel_partition_paused"), [
      'pyrallel_partition_paused{consumer="c1",topic="orders",partition="0"} 0',
      'pyrallel_partition_paused{consumer="c1",topic="orders",partition="1"} 1',
      'pyrallel_partition_paused{consumer="c1",topic="orders",partition="2"} 1',
      'pyrallel_partition_paused{consumer="c1",topic="orders",partition="3"} 1',
    ]);
    assert.deepEqual(series(text, "pyrallel_partition_pause_reason_info"), [
      'pyrallel_partition_pause_reason_info{consumer="c1",topic="orders",partition="1",reason="commitMetadataFull"} 1',
      'pyrallel_partition_pause_reason_info{consumer="c1",topic="orders",partition="2",reason="maxUncommittedOffsets"} 1',
      'pyrallel_partition_pause_reason_info{consumer="c1",topic="orders",partition="3",reason="bufferFull"} 1',
    ]);
    assert.deepEqual(series(text, "pyrallel_partition_commit_metadata_bytes").length, 4);
  });

  test("buffered figures: per consumer and per partition, each from its own field", () => {
    const text = formatPrometheus([
      fake(
        "c1",
        snapshot({
          buffered: 9,
          bufferedBytes: 1234,
          queued: 2,
          partitions: [
            partition({ bufferedCount: 4, bufferedBytes: 500, queuedCount: 1 }),
            partition({ partition: 1, bufferedCount: 5, bufferedBytes: 734, queuedCount: 1 }),
          ],
        }),
      ),
    ]);
    assert.deepEqual(series(text, "pyrallel_system_buffered"), ['pyrallel_system_buffered{consumer="c1"} 9']);
    assert.deepEqual(series(text, "pyrallel_system_buffered_bytes"), [
      'pyrallel_system_buffered_bytes{consumer="c1"} 1234',
    ]);
    assert.deepEqual(series(text, "pyrallel_system_queued"), ['pyrallel_system_queued{consumer="c1"} 2']);
    assert.deepEqual(series(text, "pyrallel_partition_buffered_count"), [
      'pyrallel_partition_buffered_count{consumer="c1",topic="orders",partition="0"} 4',
      'pyrallel_partition_buffered_count{consumer="c1",topic="orders",partition="1"} 5',
    ]);
    assert.deepEqual(series(text, "pyrallel_partition_buffered_bytes"), [
      'pyrallel_partition_buffered_bytes{consumer="c1",topic="orders",partition="0"} 500',
      'pyrallel_partition_buffered_bytes{consumer="c1",topic="orders",partition="1"} 734',
    ]);
  });

  test("histograms of a real Histogram: cumulative buckets ending at +Inf = count, then _sum and _count", () => {
    const h = new Histogram();
    for (const seconds of [0.0001, 0.003, 0.003, 0.2, 7, 120]) h.observe(seconds); // 120 s is above every bound
    const text = formatPrometheus([fake("c1", snapshot({ handlerSeconds: h.snapshot() }))]);
    const buckets = series(text, "pyrallel_handler_duration_seconds_bucket");
    assert.equal(buckets.length, LATENCY_BUCKETS.length + 1);
    const parsed = buckets.map((line) => {
      const match = /le="([^"]+)"\} (\d+)$/.exec(line);
      assert.ok(match, line);
      return { le: match[1]!, count: Number(match[2]) };
    });
    assert.deepEqual(parsed.map((b) => b.le), [...LATENCY_BUCKETS.map(String), "+Inf"]);
    for (let i = 1; i < parsed.length; i++) assert.ok(parsed[i]!.count >= parsed[i - 1]!.count, "cumulative");
    assert.equal(parsed.find((b) => b.le === "0.005")!.count, 3);
    assert.equal(parsed.at(-2)!.count, 5); // le="60": the 120 s observation is only in +Inf
    assert.equal(parsed.at(-1)!.count, 6);
    assert.deepEqual(series(text, "pyrallel_handler_duration_seconds_count"), [
      'pyrallel_handler_duration_seconds_count{consumer="c1"} 6',
    ]);
    const [sum] = series(text, "pyrallel_handler_duration_seconds_sum");
    assert.ok(Math.abs(Number(sum!.split(" ")[1]) - 127.2061) < 1e-9, sum);
    // The empty histogram still writes its buckets, all zero.
    const empty = new Histogram().snapshot();
    const idle = formatPrometheus([fake("c1", snapshot({ fetchToCompletionSeconds: empty }))]);
    assert.ok(series(idle, "pyrallel_fetch_to_completion_seconds_bucket").every((l) => l.endsWith(" 0")));
    assert.ok(lines(idle).includes('pyrallel_fetch_to_completion_seconds_bucket{consumer="c1",le="+Inf"} 0'));
  });

  test("escapes backslash, double quote and newline in label values", () => {
    const text = formatPrometheus([fake('a\\b"c\nd', snapshot({ partitions: [partition({ topic: 't"\\\n' })] }))]);
    assert.ok(lines(text).includes('pyrallel_system_paused{consumer="a\\\\b\\"c\\nd"} 0'));
    assert.ok(
      lines(text).includes(
        'pyrallel_partition_in_flight{consumer="a\\\\b\\"c\\nd",topic="t\\"\\\\\\n",partition="0"} 1',
      ),
    );
  });

  test("prints bigint offsets beyond 2^53 exactly", () => {
    const big = 2n ** 63n - 1n; // largest Kafka offset; as a number it would round
    const text = formatPrometheus([
      fake("c1", snapshot({ partitions: [partition({ committedOffset: big, blockingOffset: 2n ** 53n + 1n })] })),
    ]);
    assert.deepEqual(series(text, "pyrallel_partition_committed_offset"), [
      'pyrallel_partition_committed_offset{consumer="c1",topic="orders",partition="0"} 9223372036854775807',
    ]);
    assert.deepEqual(series(text, "pyrallel_partition_blocking_offset"), [
      'pyrallel_partition_blocking_offset{consumer="c1",topic="orders",partition="0"} 9007199254740993',
    ]);
  });

  test("omits series whose offset is null but keeps the family header", () => {
    const idle = partition({
      partition: 1,
      blockingOffset: null,
      lastFetchedOffset: null,
      committedOffset: null,
      highestContiguousOffset: null,
    });
    const text = formatPrometheus([fake("c1", snapshot({ partitions: [idle] }))]);
    for (const name of ["blocking_offset", "last_fetched_offset", "committed_offset", "highest_contiguous_offset"]) {
      assert.deepEqual(series(text, `pyrallel_partition_${name}`), []);
      assert.ok(lines(text).includes(`# TYPE pyrallel_partition_${name} gauge`));
    }
    assert.deepEqual(series(text, "pyrallel_partition_true_lag"), [
      'pyrallel_partition_true_lag{consumer="c1",topic="orders",partition="1"} 4',
    ]);
  });

  test("writes HELP and TYPE once per family with two consumers", () => {
    const text = formatPrometheus([fake("c1"), fake("c2", snapshot({ isPaused: true, pauseReason: "maxInFlight" }))]);
    const help = lines(text).filter((l) => l.startsWith("# HELP "));
    const type = lines(text).filter((l) => l.startsWith("# TYPE "));
    assert.equal(help.length, 40);
    assert.equal(new Set(help).size, 40);
    assert.equal(new Set(type).size, type.length);
    assert.deepEqual(series(text, "pyrallel_system_paused"), [
      'pyrallel_system_paused{consumer="c1"} 0',
      'pyrallel_system_paused{consumer="c2"} 1',
    ]);
    assert.equal(series(text, "pyrallel_partition_gap_count").length, 2);
    // A family's samples follow its own header, not another family's.
    const header = lines(text).indexOf("# TYPE pyrallel_system_paused gauge");
    assert.deepEqual(lines(text).slice(header + 1, header + 3), series(text, "pyrallel_system_paused"));
  });

  test("promtool check metrics accepts the output", () => {
    const tool = process.env.PROMTOOL ?? "promtool";
    const h = new Histogram();
    for (const seconds of [0.001, 0.5, 90]) h.observe(seconds);
    const many = snapshot({
      isPaused: true,
      pauseReason: "maxInFlightBytes",
      handlerSeconds: h.snapshot(),
      fetchToCompletionSeconds: new Histogram().snapshot(),
      batchesProcessedTotal: 0,
      batchSize: new Histogram().snapshot(),
      partitions: [
        partition(),
        partition({
          partition: 1,
          blockingOffset: null,
          lastFetchedOffset: 2n ** 62n,
          pauseReason: "commitMetadataFull",
        }),
        partition({ partition: 2, pauseReason: "bufferFull" }),
      ],
    });
    const input = formatPrometheus([fake('odd "id"\\\n', many), fake("c2", snapshot({ partitions: [] }))]);
    const run = spawnSync(tool, ["check", "metrics"], { input, encoding: "utf8" });
    if (run.error) {
      assert.fail(
        `cannot run ${tool} (${run.error.message}): install the Debian package \`prometheus\` or set PROMTOOL`,
      );
    }
    const output = `${run.stdout}${run.stderr}`;
    assert.ok(!output.includes("error while linting"), output); // a parse error, not a style note
    // These names are binding (operations guide), so promtool's naming advice on them is expected.
    const notes = output.split("\n").filter((l) => l.trim() !== "").sort();
    assert.deepEqual(notes, [
      "pyrallel_partition_blocking_duration_sec metric names should not contain abbreviated units",
      'pyrallel_partition_buffered_count non-histogram and non-summary metrics should not have "_count" suffix',
      'pyrallel_partition_gap_count non-histogram and non-summary metrics should not have "_count" suffix',
      'pyrallel_partition_queued_count non-histogram and non-summary metrics should not have "_count" suffix',
    ]);
  });
});

describe("metricsToJson", () => {
  test("is bigint-safe and parses with plain JSON.parse", () => {
    const big = 2n ** 60n + 1n;
    const text = metricsToJson([
      fake("c1", snapshot({ partitions: [partition({ blockingOffset: big, lastFetchedOffset: null })] })),
      fake("c2"),
    ]);
    const parsed = JSON.parse(text);
    assert.deepEqual(parsed.consumers.map((c: { id: string }) => c.id), ["c1", "c2"]);
    const [first] = parsed.consumers;
    assert.equal(first.totalInFlight, 4);
    assert.equal(first.pauseReason, null);
    assert.equal(first.partitions[0].blockingOffset, "1152921504606846977");
    assert.equal(first.partitions[0].lastFetchedOffset, null);
    assert.equal(first.partitions[0].committedOffset, "11");
    assert.equal(first.inFlightBytes, 512);
    assert.equal(first.stallsTotal, 5);
    assert.deepEqual(first.handlerSeconds, { bounds: [0.1, 1], cumulativeCounts: [1, 3], sum: 2.5, count: 4 });
    assert.equal(first.partitions[0].pauseReason, null);
    assert.equal(first.partitions[0].commitMetadataBytes, 37);
    assert.deepEqual([first.buffered, first.bufferedBytes], [6, 640]);
    assert.deepEqual([first.partitions[0].bufferedCount, first.partitions[0].bufferedBytes], [6, 640]);
  });
});

describe("createMetricsApp", () => {
  test("serves /metrics as Prometheus text and /metrics.json as JSON", async () => {
    const app = createMetricsApp(fake("c1"));
    const metrics = await app.request("/metrics");
    assert.equal(metrics.status, 200);
    assert.equal(metrics.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    assert.equal(await metrics.text(), formatPrometheus([fake("c1")]));
    const json = await app.request("/metrics.json");
    assert.equal(json.status, 200);
    assert.match(json.headers.get("content-type") ?? "", /^application\/json/);
    assert.equal((await json.json()).consumers[0].partitions[0].blockingOffset, "11");
  });

  test("/health answers ok", async () => {
    const res = await createMetricsApp([]).request("/health");
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: "ok" });
  });

  test("/ready is 200 only when every consumer owns a partition and has not failed", async () => {
    const ready = await createMetricsApp([fake("c1"), fake("c2")]).request("/ready");
    assert.equal(ready.status, 200);

    const unassigned = await createMetricsApp([fake("c1"), fake("c2", snapshot({ partitions: [] }))]).request("/ready");
    assert.equal(unassigned.status, 503);
    assert.deepEqual((await unassigned.json()).problems, [{ consumer: "c2", reason: "no partitions assigned" }]);

    const failed = await createMetricsApp(fake("c1", snapshot({ isPaused: true, pauseReason: "failed" }))).request(
      "/ready",
    );
    assert.equal(failed.status, 503);
    assert.deepEqual((await failed.json()).problems, [{ consumer: "c1", reason: "consumer failed" }]);

    const none = await createMetricsApp([]).request("/ready");
    assert.equal(none.status, 503);
  });

  test("/ready is 503 for a closing or closed consumer, even one that still owns partitions", async () => {
    const closing = fake("c1", snapshot({ isPaused: true, pauseReason: "closing" }));
    const res = await createMetricsApp([closing, fake("c2")]).request("/ready");
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), {
      status: "not ready",
      problems: [{ consumer: "c1", reason: "consumer closing or closed" }],
    });
    const closedEmpty = fake("c1", snapshot({ isPaused: true, pauseReason: "closing", partitions: [] }));
    assert.deepEqual((await (await createMetricsApp(closedEmpty).request("/ready")).json()).problems, [
      { consumer: "c1", reason: "consumer closing or closed" },
    ]);
  });

  test("/ready stays 200 under backpressure and with a commitMetadataFull partition", async () => {
    const busy = [
      fake("c1", snapshot({ isPaused: true, pauseReason: "maxInFlight" })),
      fake("c2", snapshot({ isPaused: true, pauseReason: "maxInFlightBytes" })),
      fake("c3", snapshot({ partitions: [partition({ pauseReason: "commitMetadataFull" })] })),
    ];
    const res = await createMetricsApp(busy).request("/ready");
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: "ready" });
  });

  test("mounts under a prefix", async () => {
    const root = new Hono().route("/ops", createMetricsApp(fake("c1")));
    assert.equal((await root.request("/ops/health")).status, 200);
    assert.equal((await root.request("/ops/ready")).status, 200);
    assert.match(await (await root.request("/ops/metrics")).text(), /^# HELP pyrallel_system_in_flight /);
    assert.equal((await root.request("/metrics")).status, 404);
  });
});
