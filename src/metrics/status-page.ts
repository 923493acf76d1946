import { STATUS_PAGE_SCRIPT } from "./status-page-script.ts";
import { STATUS_PAGE_STYLE } from "./status-page-style.ts";

/**
 * The live status page that `createMetricsApp` serves at `GET /`: one self-contained HTML document
 * (inline CSS and script, system fonts, SVG charts; no external scripts, fonts or stylesheets, so
 * it works air-gapped). In the browser it polls `metrics.json` next to the page every second and
 * shows per consumer the in-flight window against `maxInFlight`, whether fetching is paused and
 * why, the throughput (from `processedTotal` between polls), a table of the partitions (true lag,
 * gaps, blocking offset and its age, queued, in flight, buffered, offsets, pause reason) and
 * charts of throughput and of the largest true lag over the last five minutes.
 *
 * Serve it yourself outside Hono with {@link STATUS_PAGE_HEADERS}, as long as the JSON of
 * `metricsToJson` answers at `metrics.json` beside it (`/x/` and `/x` both poll `/x/metrics.json`).
 */
export const STATUS_PAGE_HTML: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Pyrallel Consumer status</title>
<link rel="icon" href="data:,">
<style>${STATUS_PAGE_STYLE}</style>
</head>
<body>
<header><h1>Pyrallel Consumer status</h1><span id="conn" class="conn">loading metrics.json…</span></header>
<main id="consumers"></main>
<footer>Numbers as in the operations guide (docs/operations.md); hover a heading for its meaning. The charts
keep the last 5 minutes seen by this tab.</footer>
<script>${STATUS_PAGE_SCRIPT}</script>
</body>
</html>
`;

/**
 * Response headers for {@link STATUS_PAGE_HTML}. The content security policy lets the page load
 * nothing but its own inline code and same-origin `fetch`, so it cannot reach other hosts.
 */
export const STATUS_PAGE_HEADERS: Readonly<Record<string, string>> = {
  "Content-Type": "text/html; charset=utf-8",
  "Content-Security-Policy":
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; " +
    "img-src data:; base-uri 'none'; form-action 'none'",
  "X-Content-Type-Options": "nosniff",
  // The page is static, but a cached copy would outlive an upgrade of the library.
  "Cache-Control": "no-cache",
};
