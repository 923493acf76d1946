import { Hono } from "hono";
import { metricsToJson } from "./json.ts";
import { formatPrometheus, PROMETHEUS_CONTENT_TYPE } from "./prometheus.ts";
import { notReady } from "./readiness.ts";
import type { ParallelConsumerLike } from "./types.ts";

/**
 * Creates a Hono app serving the consumers' state:
 *
 * - `GET /metrics`: Prometheus text format 0.0.4
 * - `GET /metrics.json`: the same snapshots as JSON (bigint offsets as strings)
 * - `GET /health`: 200 `{"status":"ok"}` while the process answers
 * - `GET /ready`: 200 when every consumer owns a partition and is neither failed nor closing/closed,
 *   else 503 with the reasons
 *
 * @example
 * ```ts
 * const app = new Hono();
 * app.route("/ops", createMetricsApp(consumer));
 * ```
 */
export function createMetricsApp(consumers: ParallelConsumerLike | readonly ParallelConsumerLike[]): Hono {
  const list: readonly ParallelConsumerLike[] = Array.isArray(consumers)
    ? consumers
    : [consumers as ParallelConsumerLike];
  const app = new Hono();
  app.get("/metrics", (c) => c.body(formatPrometheus(list), 200, { "Content-Type": PROMETHEUS_CONTENT_TYPE }));
  app.get("/metrics.json", (c) => c.body(metricsToJson(list), 200, { "Content-Type": "application/json" }));
  app.get("/health", (c) => c.json({ status: "ok" }));
  app.get("/ready", (c) => {
    const problems = notReady(list);
    return problems.length === 0 ? c.json({ status: "ready" }) : c.json({ status: "not ready", problems }, 503);
  });
  return app;
}
