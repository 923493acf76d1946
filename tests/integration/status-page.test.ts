// The status page (GET / of the metrics app) in a real headless Chromium: against a consumer on the
// real broker whose state is frozen (handlers held on a promise the test controls, a retry parked
// for minutes), the partition rows and numbers the page renders must be those of getMetrics().
// A second test feeds a scripted snapshot to check throughput, pauses and escaping.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Hono } from "hono";
import { type ConsumerMessage, type ConsumerMetrics, createParallelConsumer } from "../../mod.ts";
import { createMetricsApp } from "../../src/metrics/mod.ts";
import { type Browser, launchChromium, type Page } from "../support/chromium.ts";
import { BROKERS, createTopic, produce, type TestRecord, uniqueName, waitFor } from "../support/kafka.ts";
import { MemoryAdapter } from "../support/memory-adapter.ts";
import { serve } from "../support/serve.ts";

/** What the page shows for one consumer, read from its DOM (`data-field` marks every number). */
interface Rendered {
  id: string;
  fields: Record<string, string>;
  rows: Record<string, string>[];
  charts: { kind: string; points: number; coordinates: number; now: string }[];
}

const READ_PAGE = `[...document.querySelectorAll("section[data-consumer]")].map((section) => ({
  id: section.dataset.consumer,
  fields: Object.fromEntries([...section.querySelectorAll("[data-field]")]
    .filter((node) => !node.closest("tr")).map((node) => [node.dataset.field, node.textContent])),
  rows: [...section.querySelectorAll("tbody tr")].map((row) =>
    Object.fromEntries([...row.children].map((cell) => [cell.dataset.field, cell.textContent]))),
  charts: [...section.querySelectorAll(".chart")].map((chart) => {
    const svg = chart.querySelector("svg");
    const points = svg.querySelector("polyline").getAttribute("points").trim();
    return { kind: svg.dataset.chart, points: Number(svg.dataset.points),
      coordinates: points === "" ? 0 : points.split(" ").length, now: chart.querySelector(".head b").textContent };
  }),
}))`;

const DASH = "\u2013";
/** A count as the page writes it ("1,234"), back to a number. */
const count = (text: string | undefined): number => Number((text ?? "").replaceAll(",", ""));
const offsetText = (offset: bigint | null): string => offset === null ? DASH : String(offset);

/** Seconds from the page's "12.3 s", "2 m 05 s" or "1 h 02 m". */
function seconds(text: string): number {
  const parts = [...text.matchAll(/([\d.]+) (h|m|s)/g)];
  assert.ok(parts.length > 0, `a duration, got ${JSON.stringify(text)}`);
  return parts.reduce((sum, [, n, unit]) => sum + Number(n) * (unit === "h" ? 3600 : unit === "m" ? 60 : 1), 0);
}

/** Chromium with its page; both closed, and the server stopped, whatever happens. */
async function withPage(
  app: Hono,
  path: string,
  check: (page: Page) => Promise<void>,
): Promise<void> {
  // First, so a missing chromium fails at once with the setup hint.
  const browser: Browser = await launchChromium();
  const server = await serve(app.fetch);
  try {
    const page = await browser.openPage(`${server.url}${path}`);
    await check(page);
    assert.deepEqual(page.errors, [], "no script errors, CSP violations or failed loads");
    const foreign = page.requests.filter((url) => !url.startsWith(`${server.url}/`));
    assert.deepEqual(foreign, [], "the page requests nothing from other origins");
  } finally {
    await browser.close();
    await server.stop();
  }
}

/** The snapshot without what moves while the consumer stands still (ages, periodic commits). */
function frozenView(metrics: ConsumerMetrics): string {
  return JSON.stringify(
    {
      ...metrics,
      commitsTotal: 0,
      partitions: metrics.partitions.map((p) => ({ ...p, blockingDurationSec: 0 })),
    },
    (_key, value: unknown) => typeof value === "bigint" ? String(value) : value,
  );
}

test("the status page under /ops renders each partition's numbers as getMetrics() has them", async () => {
  const topic = uniqueName("status-page");
  await createTopic(topic, 3);
  const records: TestRecord[] = [];
  const add = (partition: number, messages: number, keys: number) => {
    for (let i = 0; i < messages; i++) records.push({ partition, key: `p${partition}-k${i % keys}`, value: `${i}` });
  };
  add(0, 40, 8); // offset 3 held: 11, 19, 27, 35 (its key) wait behind it; the rest completes above it: gaps
  add(1, 12, 6); // offset 0 held, offset 5 fails once and waits for its retry (queued)
  add(2, 10, 5); // all complete
  await produce(topic, records);

  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  const held = new Set<string>();
  let failed = false;
  const consumer = createParallelConsumer({
    kafka: { bootstrapBrokers: BROKERS, groupId: uniqueName("status-page"), topics: [topic], clientId: "status-page" },
    ordering: "key",
    commitIntervalMs: 200,
    // Partition 0 fetches 40 with offset 3 open: its uncommitted window is full, a pause reason to show.
    maxUncommittedOffsets: 20,
    retry: { maxRetries: 1, initialBackoffMs: 600_000, maxBackoffMs: 600_000 },
    drainTimeoutMs: 1000,
    handler: async (message: ConsumerMessage) => {
      const id = `${message.partition}@${message.offset}`;
      if (id === "0@3" || id === "1@0") {
        held.add(id);
        await released;
      } else if (id === "1@5" && !failed) {
        failed = true;
        throw new Error("the first attempt fails; its retry waits ten minutes");
      }
    },
  });
  const errors: Error[] = [];
  consumer.on("error", (error) => errors.push(error));
  await consumer.start();
  try {
    // Frozen: both held handlers run, the retry is parked, and nothing but ages moves for 1.5 s.
    let view = "";
    let since = Date.now();
    await waitFor("the consumer's state to freeze", () => {
      const metrics = consumer.getMetrics();
      const next = frozenView(metrics);
      if (next !== view) [view, since] = [next, Date.now()];
      return held.size === 2 && failed && metrics.partitions.length === 3 && Date.now() - since > 1500;
    });
    const frozen = consumer.getMetrics();
    const byPartition = (n: number) => frozen.partitions.find((p) => p.partition === n)!;
    // What the page must show is not trivial: a blocking offset with gaps, queued, buffered, a pause.
    assert.equal(byPartition(0).blockingOffset, 3n);
    assert.ok(byPartition(0).gapCount > 0 && byPartition(0).bufferedCount > 0);
    assert.equal(byPartition(0).pauseReason, "maxUncommittedOffsets");
    assert.equal(byPartition(1).blockingOffset, 0n);
    assert.equal(byPartition(1).queuedCount, 1);
    assert.equal(byPartition(2).blockingOffset, null);
    assert.equal(frozen.processing, 2);

    const app = new Hono().route("/ops", createMetricsApp(consumer));
    await withPage(app, "/ops/", async (page) => {
      await page.waitFor(
        "three polls and the partition rows",
        `Number(document.body.dataset.polls) >= 3 &&
        document.querySelectorAll("tbody tr").length === 3`,
      );
      const [rendered, ...others] = await page.evaluate<Rendered[]>(READ_PAGE);
      const metrics = consumer.getMetrics();
      assert.equal(others.length, 0);
      assert.equal(rendered!.id, "status-page");
      assertConsumer(rendered!, metrics);
      // Nothing completes between polls while frozen.
      assert.equal(rendered!.fields.throughput, "0.0");
      const [rate, lag] = rendered!.charts;
      assert.equal(rate!.kind, "rate");
      assert.ok(rate!.points >= 2 && rate!.coordinates === rate!.points, JSON.stringify(rate));
      assert.equal(rate!.now, "0.0");
      assert.equal(lag!.kind, "lag");
      assert.ok(lag!.points >= 3 && lag!.coordinates === lag!.points, JSON.stringify(lag));
      assert.equal(count(lag!.now), Math.max(...metrics.partitions.map((p) => p.trueLag)));
    });
    // Without the trailing slash the page finds metrics.json under the prefix too.
    await withPage(app, "/ops", async (page) => {
      await page.waitFor("the partition rows", `document.querySelectorAll("tbody tr").length === 3`);
      assertConsumer((await page.evaluate<Rendered[]>(READ_PAGE))[0]!, consumer.getMetrics());
    });
    assert.deepEqual(errors.map((error) => error.message), []);
  } finally {
    release();
    await consumer.close();
  }
});

/** The page's numbers for one consumer against a snapshot taken right after reading the page. */
function assertConsumer(rendered: Rendered, metrics: ConsumerMetrics): void {
  const f = rendered.fields;
  assert.equal(f.status, metrics.isPaused ? `paused: ${metrics.pauseReason}` : "running");
  for (
    const name of [
      "totalInFlight",
      "maxInFlight",
      "queued",
      "processing",
      "processedTotal",
      "buffered",
      "failedAttemptsTotal",
      "retriesTotal",
      "deadLetteredTotal",
      "skippedTotal",
      "stallsTotal",
    ] as const
  ) {
    assert.equal(count(f[name]), metrics[name], name);
  }
  // Commits go on while the rest stands still: the page's count is from its last poll.
  assert.ok(count(f.commitsTotal) <= metrics.commitsTotal);
  assert.equal(count(f.gaps), metrics.partitions.reduce((sum, p) => sum + p.gapCount, 0));
  assert.equal(count(f.maxTrueLag), Math.max(...metrics.partitions.map((p) => p.trueLag)));

  const expected = [...metrics.partitions].sort((a, b) => a.partition - b.partition);
  assert.deepEqual(
    rendered.rows.map((row) => `${row.topic}[${row.partition}]`),
    expected.map((p) => `${p.topic}[${p.partition}]`),
  );
  for (const [i, p] of expected.entries()) {
    const row = rendered.rows[i]!;
    const where = `${p.topic}[${p.partition}]`;
    assert.deepEqual(
      {
        trueLag: count(row.trueLag),
        gapCount: count(row.gapCount),
        blockingOffset: row.blockingOffset,
        queuedCount: count(row.queuedCount),
        inFlight: count(row.inFlight),
        bufferedCount: count(row.bufferedCount),
        committedOffset: row.committedOffset,
        lastFetchedOffset: row.lastFetchedOffset,
        uncommittedOffsets: count(row.uncommittedOffsets),
        pauseReason: row.pauseReason,
      },
      {
        trueLag: p.trueLag,
        gapCount: p.gapCount,
        blockingOffset: offsetText(p.blockingOffset),
        queuedCount: p.queuedCount,
        inFlight: p.inFlight,
        bufferedCount: p.bufferedCount,
        committedOffset: offsetText(p.committedOffset),
        lastFetchedOffset: offsetText(p.lastFetchedOffset),
        uncommittedOffsets: p.uncommittedOffsets,
        pauseReason: p.pauseReason ?? "no",
      },
      where,
    );
    if (p.blockingOffset === null) {
      assert.equal(row.blockingDurationSec, DASH, where);
    } else {
      // The page's age is from its last poll (at most a second and a half ago), rounded to 0.1 s.
      const age = seconds(row.blockingDurationSec!);
      assert.ok(age <= p.blockingDurationSec + 0.1 && age >= p.blockingDurationSec - 1.6, `${where}: ${age}`);
    }
  }
}

test("the status page computes throughput between polls, shows pauses and escapes what it renders", async () => {
  const started = Date.now();
  const hostile = `<img src=x onerror="window.pwned=1">&amp;"'`;
  // A real snapshot's shape (every field of this version), with the numbers under test replaced.
  const base = createParallelConsumer({
    kafka: { bootstrapBrokers: BROKERS, groupId: "status-page-scripted", topics: ["t"] },
    adapter: new MemoryAdapter(),
    handler: () => {},
  }).getMetrics();
  const snapshot = (): ConsumerMetrics => ({
    ...base,
    totalInFlight: 1000,
    maxInFlight: 1000,
    isPaused: true,
    pauseReason: "maxInFlight",
    // 100 messages a second, exactly.
    processedTotal: Math.floor((Date.now() - started) / 10),
    partitions: [{
      topic: hostile,
      partition: 7,
      trueLag: 12_345,
      gapCount: 2,
      blockingOffset: 9_007_199_254_740_993n, // above 2^53: the page must keep the JSON's string
      blockingDurationSec: 125.25,
      queuedCount: 1,
      bufferedCount: 3,
      bufferedBytes: 300,
      inFlight: 4,
      highestContiguousOffset: 9_007_199_254_740_992n,
      committedOffset: 9_007_199_254_740_993n,
      lastFetchedOffset: 9_007_199_254_752_000n,
      commitMetadataBytes: 3900,
      uncommittedOffsets: 11_007,
      pauseReason: "commitMetadataFull",
    }],
  });
  const app = new Hono().route("/", createMetricsApp({ id: hostile, getMetrics: snapshot }));
  await withPage(app, "/", async (page) => {
    await page.waitFor("four polls", `Number(document.body.dataset.polls) >= 4`);
    const [rendered] = await page.evaluate<Rendered[]>(READ_PAGE);
    assert.equal(rendered!.id, hostile);
    assert.equal(rendered!.rows[0]!.topic, hostile);
    assert.equal(await page.evaluate("document.querySelectorAll('img').length"), 0, "markup stays text");
    assert.equal(await page.evaluate("window.pwned === undefined"), true);
    assert.equal(rendered!.fields.status, "paused: maxInFlight");
    assert.equal(rendered!.fields.heldPartitions, "1 partition held back (see Paused)");
    assert.deepEqual(
      { ...rendered!.rows[0]!, blockingDurationSec: undefined },
      {
        topic: hostile,
        partition: "7",
        trueLag: "12,345",
        gapCount: "2",
        blockingOffset: "9007199254740993",
        blockingDurationSec: undefined,
        queuedCount: "1",
        inFlight: "4",
        bufferedCount: "3",
        committedOffset: "9007199254740993",
        lastFetchedOffset: "9007199254752000",
        uncommittedOffsets: "11,007",
        pauseReason: "commitMetadataFull",
      },
    );
    assert.equal(rendered!.rows[0]!.blockingDurationSec, "2 m 05 s");
    const throughput = count(rendered!.fields.throughput);
    assert.ok(throughput >= 80 && throughput <= 120, `about 100 msg/s, the page says ${throughput}`);
    assert.ok(rendered!.charts[0]!.points >= 3);
  });
});
