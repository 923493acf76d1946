import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { test } from "node:test";
import type { ConsumerMetrics } from "../../mod.ts";
import { Histogram } from "../../src/core/histogram.ts";
import { formatPrometheus, PROMETHEUS_CONTENT_TYPE } from "../../src/metrics/mod.ts";

// A real Prometheus server scrapes formatPrometheus output from a loopback server, and its query
// API returns the series: the exposition parses end to end, histograms included. Prometheus
// applies its first scrape configuration about 5 s after start, so this takes ~6 s.

const PROMETHEUS = process.env.PROMETHEUS ?? "/usr/bin/prometheus";
const DEADLINE_MS = 14_000;

function sampleMetrics(): ConsumerMetrics {
  const latency = new Histogram();
  for (const seconds of [0.004, 0.004, 0.3]) latency.observe(seconds);
  return {
    totalInFlight: 42,
    maxInFlight: 100,
    isPaused: true,
    pauseReason: "maxInFlight",
    startPauseReason: null,
    throttled: 0,
    inFlightBytes: 4200,
    maxInFlightBytes: 1 << 20,
    queued: 30,
    buffered: 50,
    bufferedBytes: 6000,
    processing: 12,
    processedTotal: 1000,
    failedAttemptsTotal: 0,
    commitsTotal: 3,
    commitFailuresTotal: 0,
    retriesTotal: 0,
    deadLetteredTotal: 0,
    deadLetterFailuresTotal: 0,
    skippedTotal: 0,
    stallsTotal: 0,
    handlerSeconds: latency.snapshot(),
    fetchToCompletionSeconds: latency.snapshot(),
    batchesProcessedTotal: 0,
    batchSize: latency.snapshot(),
    partitions: [],
  };
}

function listen(server: Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
  });
}

const close = (server: Server): Promise<void> => new Promise((resolve) => server.close(() => resolve()));

/** A loopback port that was free a moment ago (Prometheus cannot report a port it chose itself). */
async function freePort(): Promise<number> {
  const probe = createServer();
  const port = await listen(probe);
  await close(probe);
  return port;
}

interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(port: number, promql: string): Promise<VectorSample[]> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await res.json()) as { status: string; data?: { result: VectorSample[] }; error?: string };
  assert.equal(body.status, "success", body.error);
  return body.data!.result;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test("a real Prometheus server scrapes formatPrometheus output", {
  skip: existsSync(PROMETHEUS) ? false : `${PROMETHEUS} not found (Debian package prometheus; or set PROMETHEUS)`,
  timeout: 30_000,
}, async () => {
  const consumer = { id: "scraped", getMetrics: sampleMetrics };
  let scrapes = 0;
  const target = createServer((req, res) => {
    if (req.url !== "/metrics") return void res.writeHead(404).end();
    scrapes++;
    res.writeHead(200, { "content-type": PROMETHEUS_CONTENT_TYPE }).end(formatPrometheus([consumer]));
  });
  const targetPort = await listen(target);
  const dir = mkdtempSync(join(tmpdir(), "pyrallel-prometheus-"));
  const config = join(dir, "prometheus.yml");
  writeFileSync(
    config,
    [
      "global:",
      "  scrape_interval: 1s",
      "scrape_configs:",
      "  - job_name: pyrallel",
      "    static_configs:",
      `      - targets: ["127.0.0.1:${targetPort}"]`,
      "",
    ].join("\n"),
  );
  const apiPort = await freePort();
  let output = "";
  const prometheus: ChildProcess = spawn(PROMETHEUS, [
    `--config.file=${config}`,
    `--storage.tsdb.path=${join(dir, "data")}`,
    `--web.listen-address=127.0.0.1:${apiPort}`,
    "--log.level=warn",
  ], { stdio: ["ignore", "pipe", "pipe"] });
  prometheus.stdout!.on("data", (chunk) => (output += chunk));
  prometheus.stderr!.on("data", (chunk) => (output += chunk));
  const exited = new Promise<void>((resolve) => prometheus.once("exit", () => resolve()));
  try {
    const started = Date.now();
    let inFlight: VectorSample[] = [];
    while (inFlight.length === 0) {
      assert.equal(prometheus.exitCode, null, `prometheus exited early:\n${output}`);
      assert.ok(Date.now() - started < DEADLINE_MS, `no pyrallel_system_in_flight after ${DEADLINE_MS} ms:\n${output}`);
      await sleep(250);
      inFlight = await query(apiPort, "pyrallel_system_in_flight").catch(() => []);
    }
    assert.ok(scrapes >= 1);
    assert.deepEqual(inFlight.map((s) => [s.metric.consumer, s.metric.job, s.value[1]]), [[
      "scraped",
      "pyrallel",
      "42",
    ]]);

    const [up] = await query(apiPort, "up");
    assert.equal(up?.value[1], "1", "the scrape succeeded");
    const [reason] = await query(apiPort, "pyrallel_system_pause_reason_info");
    assert.equal(reason?.metric.reason, "maxInFlight");
    // The histogram is usable as one: two of three observations are at or below 5 ms.
    const [median] = await query(apiPort, "histogram_quantile(0.5, pyrallel_handler_duration_seconds_bucket)");
    const value = Number(median?.value[1]);
    assert.ok(value > 0.0025 && value <= 0.005, `median ${value}`);
  } finally {
    prometheus.kill("SIGTERM");
    const killer = setTimeout(() => prometheus.kill("SIGKILL"), 3000);
    await exited;
    clearTimeout(killer);
    await close(target);
    rmSync(dir, { recursive: true, force: true });
  }
});
