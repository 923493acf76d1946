/**
 * Metrics export for Pyrallel Consumer: Prometheus text and JSON renderers, plus a Hono app with
 * a live status page at `/`, `/metrics`, `/metrics.json`, `/health` and `/ready` that you mount
 * under any prefix.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { createMetricsApp } from "@pyrallel/consumer/metrics";
 *
 * const app = new Hono();
 * app.route("/ops", createMetricsApp(consumer)); // the status page at /ops/
 * ```
 *
 * @module
 */
export { createMetricsApp } from "./app.ts";
export { metricsToJson } from "./json.ts";
export { escapeLabelValue, formatPrometheus, PROMETHEUS_CONTENT_TYPE } from "./prometheus.ts";
export type { NotReady } from "./readiness.ts";
export { STATUS_PAGE_HEADERS, STATUS_PAGE_HTML } from "./status-page.ts";
export type { ParallelConsumerLike } from "./types.ts";
