// GET / of the metrics app: the status page is one self-contained HTML document, served at the
// mount point with and without its trailing slash. Its rendering is tested in headless Chromium
// (tests/integration/status-page.test.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import { Hono } from "hono";
import { RegExpRouter } from "hono/router/reg-exp-router";
import { createMetricsApp, STATUS_PAGE_HTML } from "../../src/metrics/mod.ts";
import { STATUS_PAGE_SCRIPT } from "../../src/metrics/status-page-script.ts";
import type { ConsumerMetrics } from "../../mod.ts";

const consumer = {
  id: "c1",
  getMetrics: (): ConsumerMetrics => {
    throw new Error("the page itself reads no metrics");
  },
};

test("GET / answers the status page as HTML with a policy that allows no other origin", async () => {
  const response = await createMetricsApp(consumer).request("/");
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /^text\/html; charset=utf-8$/);
  const csp = response.headers.get("content-security-policy") ?? "";
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /connect-src 'self'/);
  const html = await response.text();
  assert.equal(html, STATUS_PAGE_HTML);
  assert.match(html, /^<!doctype html>/);
});

test("the page is self-contained: no URL, external script, stylesheet, font or import", () => {
  const html = STATUS_PAGE_HTML;
  assert.doesNotMatch(html, /https?:\/\//i);
  assert.doesNotMatch(html, /["'(=\s]\/\/[a-z0-9-]+\./i, "no protocol-relative URL");
  assert.doesNotMatch(html, /<script\b[^>]*\bsrc\s*=/i);
  assert.doesNotMatch(html, /<link\b(?![^>]*\bhref="data:)[^>]*\bhref\s*=/i, "a <link> only for the data: icon");
  assert.doesNotMatch(html, /@import|url\s*\(|@font-face/i);
  assert.doesNotMatch(html, /<(iframe|img|object|embed)\b/i);
  assert.equal(html.match(/<script>/g)?.length, 1, "one inline script");
  // The script polls its sibling metrics.json and nothing else.
  assert.deepEqual([...STATUS_PAGE_SCRIPT.matchAll(/\bfetch\(([^,)]+)/g)].map((m) => m[1]), ["jsonUrl"]);
  assert.match(STATUS_PAGE_SCRIPT, /"metrics\.json"/);
});

test("the inline script parses and cannot end its <script> element early", () => {
  assert.doesNotMatch(STATUS_PAGE_SCRIPT, /<\/script|<!--/i);
  assert.ok(STATUS_PAGE_HTML.includes(`<script>${STATUS_PAGE_SCRIPT}</script>`));
  // The Function constructor parses without running: a syntax error throws here.
  assert.equal(typeof new Function(STATUS_PAGE_SCRIPT), "function");
});

test("under a prefix the page answers at /ops and /ops/, and nowhere else", async () => {
  const app = new Hono().route("/ops", createMetricsApp(consumer));
  for (const path of ["/ops", "/ops/"]) {
    const response = await app.request(path);
    assert.equal(response.status, 200, path);
    assert.equal(await response.text(), STATUS_PAGE_HTML, path);
  }
  for (const path of ["/", "/ops//", "/ops/x/", "/ops/index.html", "/opsx/"]) {
    assert.equal((await app.request(path)).status, 404, path);
  }
  assert.equal((await app.request("/ops/health")).status, 200);
});

test("a parametric prefix and the root work too, and the parent's own routes are untouched", async () => {
  const tenant = new Hono().route("/:tenant/ops", createMetricsApp(consumer));
  assert.equal((await tenant.request("/acme/ops/")).status, 200);
  assert.equal((await tenant.request("/acme/ops")).status, 200);
  assert.equal((await tenant.request("/acme/ops/x/")).status, 404);

  const root = new Hono().route("/", createMetricsApp(consumer));
  root.get("/orders/", (c) => c.text("orders"));
  assert.equal(await (await root.request("/")).text(), STATUS_PAGE_HTML);
  assert.equal(await (await root.request("/orders/")).text(), "orders");
  assert.equal((await root.request("/unknown/")).status, 404);
});

test("the routes keep a parent app on RegExpRouter (no route it rejects)", async () => {
  const app = new Hono({ router: new RegExpRouter() }).route("/ops", createMetricsApp(consumer));
  assert.equal((await app.request("/ops/")).status, 200);
  assert.equal((await app.request("/ops")).status, 200);
});
