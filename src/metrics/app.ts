import { type Context, Hono, type Next } from "hono";
import { basePath } from "hono/route";
import { metricsToJson } from "./json.ts";
import { formatPrometheus, PROMETHEUS_CONTENT_TYPE } from "./prometheus.ts";
import { notReady } from "./readiness.ts";
import { STATUS_PAGE_HEADERS, STATUS_PAGE_HTML } from "./status-page.ts";
import type { ParallelConsumerLike } from "./types.ts";

/**
 * Creates a Hono app serving the consumers' state:
 *
 * - `GET /`: the live status page, a self-contained HTML page (no external scripts, fonts or
 *   stylesheets) that polls `metrics.json` every second and shows per consumer the in-flight
 *   window, pauses and their reasons, throughput, every partition's true lag, gaps, blocking offset
 *   and its age, and charts of the last minutes. Mounted under a prefix it answers at both `/ops`
 *   and `/ops/` (see {@link STATUS_PAGE_HTML})
 * - `GET /metrics`: Prometheus text format 0.0.4
 * - `GET /metrics.json`: the same snapshots as JSON (bigint offsets as strings)
 * - `GET /health`: 200 `{"status":"ok"}` while the process answers
 * - `GET /ready`: 200 when every consumer owns a partition and is neither failed nor closing/closed,
 *   else 503 with the reasons
 *
 * The page shows topic names and consumer ids: put your own middleware (auth, an IP allow-list)
 * in front of the prefix if they must not be public.
 *
 * @example
 * ```ts
 * const app = new Hono();
 * app.route("/ops", createMetricsApp(consumer)); // status page at /ops/, Prometheus at /ops/metrics
 * ```
 */
export function createMetricsApp(consumers: ParallelConsumerLike | readonly ParallelConsumerLike[]): Hono {
  const list: readonly ParallelConsumerLike[] = Array.isArray(consumers)
    ? consumers
    : [consumers as ParallelConsumerLike];
  const app = new Hono();
  const page = (c: Context) => c.body(STATUS_PAGE_HTML, 200, STATUS_PAGE_HEADERS);
  app.get("/", page);
  app.get("/metrics", (c) => c.body(formatPrometheus(list), 200, { "Content-Type": PROMETHEUS_CONTENT_TYPE }));
  app.get("/metrics.json", (c) => c.body(metricsToJson(list), 200, { "Content-Type": "application/json" }));
  app.get("/health", (c) => c.json({ status: "ok" }));
  app.get("/ready", (c) => {
    const problems = notReady(list);
    return problems.length === 0 ? c.json({ status: "ready" }) : c.json({ status: "not ready", problems }, 503);
  });
  // Mounted at "/ops", Hono routes "/" to "/ops" only. "/ops/" needs a wildcard (the router-neutral
  // kind: a regex route would push the parent app off its RegExpRouter) that serves the mount
  // point itself and passes everything else on. Registered last, so it never shadows the routes above.
  app.get("/*", (c: Context, next: Next) => isMountPoint(c) ? page(c) : next());
  return app;
}

/** Whether the request is for the app's mount point with a trailing slash ("/ops/" under "/ops"). */
function isMountPoint(c: Context): boolean {
  const base = basePath(c);
  return c.req.path === (base.endsWith("/") ? base : `${base}/`);
}
