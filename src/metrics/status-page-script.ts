/**
 * The status page's browser script: polls `metrics.json` next to the page and renders it.
 *
 * Plain ES2020 in a string, not a stringified function, so no bundler, transpiler or coverage
 * tool can change what the browser gets. Every value is rendered with `textContent` or
 * `setAttribute`, never `innerHTML` (but once, on a constant): topic names and consumer ids are user data. No backticks
 * or `${` here, since this is a template literal.
 */
export const STATUS_PAGE_SCRIPT: string = `
"use strict";
(function () {
  var POLL_MS = 1000;
  var WINDOW_MS = 5 * 60 * 1000;
  // The SVG namespace from the HTML parser, so that the page holds no URL at all (easy to audit).
  var SVG = (function () {
    var template = document.createElement("template");
    template.innerHTML = "<svg></svg>";
    return template.content.firstChild.namespaceURI;
  })();
  var DASH = "\\u2013";
  // metrics.json is the page's sibling: at /ops and /ops/ alike it is /ops/metrics.json.
  var here = location.pathname;
  var jsonUrl = (here.slice(-1) === "/" ? here : here + "/") + "metrics.json";

  // Meanings from docs/operations.md (tooltips).
  var SYSTEM_PAUSE = {
    maxInFlight: "backpressure: the in-flight window is full; fetching resumes at 80% of maxInFlight",
    maxInFlightBytes: "backpressure: in-flight bytes reached maxInFlightBytes; fetching resumes at 80%",
    closing: "closing or closed",
    failed: "failed: the consumer stopped itself; restart it after fixing the cause"
  };
  var PARTITION_PAUSE = {
    bufferFull: "its buffer is full: not fetched until it falls below 80%",
    commitMetadataFull: "its offset map nears maxCommitMetadataBytes: starts no new work but its blocking offset",
    maxUncommittedOffsets: "its uncommitted window is full: not fetched until the blocking offset completes",
    rateLimit: "its ready messages wait for the rate limit's tokens; it is still fetched",
    handlerPause: "its ready messages wait for the end of a handler's context.pause(ms); it is still fetched"
  };
  var START_PAUSE = {
    rateLimit: "ready messages wait for the rate limit's tokens; fetching goes on",
    handlerPause: "a handler called context.pause(ms): nothing starts until it ends; fetching goes on"
  };

  var integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  function count(n) { return integer.format(n); }
  function perSecond(n) { return n < 10 ? n.toFixed(1) : count(n); }
  function offset(o) { return o === null || o === undefined ? DASH : String(o); }
  function pad2(n) { return n < 10 ? "0" + n : String(n); }
  function duration(s) {
    if (s < 60) return s.toFixed(1) + " s";
    var m = Math.floor(s / 60);
    if (m < 60) return m + " m " + pad2(Math.floor(s % 60)) + " s";
    return Math.floor(m / 60) + " h " + pad2(m % 60) + " m";
  }
  function bytes(n) {
    var units = ["B", "KiB", "MiB", "GiB"];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(n) : n.toFixed(1)) + " " + units[i];
  }
  function clock(date) {
    return pad2(date.getHours()) + ":" + pad2(date.getMinutes()) + ":" + pad2(date.getSeconds());
  }

  function append(node, children) {
    if (children === undefined || children === null) return node;
    if (!Array.isArray(children)) children = [children];
    children.forEach(function (child) {
      if (child === undefined || child === null) return;
      if (Array.isArray(child)) return append(node, child);
      node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
    });
    return node;
  }
  function setAttrs(node, attrs) {
    for (var name in attrs || {}) {
      if (attrs[name] !== undefined && attrs[name] !== null) node.setAttribute(name, String(attrs[name]));
    }
    return node;
  }
  function el(tag, attrs, children) { return append(setAttrs(document.createElement(tag), attrs), children); }
  function svg(tag, attrs) { return setAttrs(document.createElementNS(SVG, tag), attrs); }

  // Rolling window per consumer id: the page's own memory, lost on reload.
  var history = new Map();

  function record(id, metrics, now) {
    var h = history.get(id);
    if (!h) { h = { samples: [], last: null }; history.set(id, h); }
    var lag = 0;
    metrics.partitions.forEach(function (p) { lag = Math.max(lag, p.trueLag); });
    var rate = null;
    // A counter that went down means the consumer restarted: no rate for that interval.
    if (h.last && metrics.processedTotal >= h.last.processed && now > h.last.t) {
      rate = (metrics.processedTotal - h.last.processed) * 1000 / (now - h.last.t);
    }
    h.last = { t: now, processed: metrics.processedTotal };
    h.samples.push({ t: now, rate: rate, lag: lag });
    while (h.samples.length > 0 && h.samples[0].t < now - WINDOW_MS) h.samples.shift();
    return h;
  }

  function chart(title, kind, samples, key, now, unit) {
    var points = samples.filter(function (s) { return s[key] !== null; });
    var max = 0;
    points.forEach(function (s) { max = Math.max(max, s[key]); });
    var top = max > 0 ? max * 1.1 : 1;
    // The x axis spans the history seen so far (one to five minutes), so a new tab's charts fill out.
    var span = Math.min(WINDOW_MS, Math.max(60000, samples.length > 0 ? now - samples[0].t : 0));
    var W = 300, H = 60;
    var area = svg("svg", {
      viewBox: "0 0 " + W + " " + H, preserveAspectRatio: "none", role: "img", "aria-label": title,
      "data-chart": kind, "data-points": points.length
    });
    [0.02, 0.5, 0.98].forEach(function (f) {
      area.appendChild(svg("line", { "class": "grid", x1: 0, x2: W, y1: H * f, y2: H * f }));
    });
    area.appendChild(svg("polyline", {
      "class": "line " + kind,
      points: points.map(function (s) {
        var x = (s.t - (now - span)) / span * W;
        var y = H - 1 - (s[key] / top) * (H - 2);
        return x.toFixed(1) + "," + y.toFixed(1);
      }).join(" ")
    }));
    var last = points.length > 0 ? points[points.length - 1][key] : null;
    var fmt = kind === "rate" ? perSecond : count;
    return el("div", { "class": "chart" }, [
      el("div", { "class": "head" }, [
        el("span", null, title),
        el("span", null, ["now ", el("b", null, last === null ? DASH : fmt(last) + unit), " \\u00b7 max ",
          el("b", null, points.length === 0 ? DASH : fmt(max) + unit)])
      ]),
      area,
      el("div", { "class": "axis" }, [
        el("span", null, span >= 120000 ? Math.round(span / 60000) + " min ago" : Math.round(span / 1000) + " s ago"),
        el("span", null, "now")
      ])
    ]);
  }

  function tile(label, value, sub, title) {
    return el("div", { "class": "tile", title: title }, [
      el("div", { "class": "label" }, label),
      el("div", { "class": "value" }, value),
      sub === null ? null : el("div", { "class": "sub" }, sub)
    ]);
  }
  function field(name, text) { return el("span", { "data-field": name }, text); }

  var COLUMNS = [
    ["topic", "Topic", "topic name"],
    ["partition", "Partition", "partition number"],
    ["trueLag", "True lag", "last fetched offset \\u2212 highest contiguous completed offset: incomplete work piled up inside the consumer (pyrallel_partition_true_lag)"],
    ["gapCount", "Gaps", "completed ranges that cannot be committed because a preceding offset is not done (pyrallel_partition_gap_count)"],
    ["blockingOffset", "Blocking offset", "the lowest offset holding the commit back (pyrallel_partition_blocking_offset)"],
    ["blockingDurationSec", "Blocked for", "how long the blocking offset has held the commit (pyrallel_partition_blocking_duration_sec)"],
    ["queuedCount", "Queued", "admitted into the in-flight window, not running: ready for a slot, or waiting for a retry or a dead-letter publish (pyrallel_partition_queued_count)"],
    ["inFlight", "In flight", "handlers running now in this partition (pyrallel_partition_in_flight)"],
    ["bufferedCount", "Buffered", "fetched, not admitted into the in-flight window yet: waiting behind their key or for room (pyrallel_partition_buffered_count)"],
    ["committedOffset", "Committed offset", "offset last committed, the next one to read (pyrallel_partition_committed_offset)"],
    ["lastFetchedOffset", "Last fetched", "highest offset fetched (pyrallel_partition_last_fetched_offset)"],
    ["uncommittedOffsets", "Uncommitted", "fetched offsets not yet passed by the commit position: the uncommitted window (pyrallel_partition_uncommitted_offsets)"],
    ["pauseReason", "Paused", "why this partition is held back (pyrallel_partition_pause_reason_info)"]
  ];

  function cell(name, p) {
    var v = p[name];
    switch (name) {
      case "topic": return { text: v };
      case "partition": return { text: String(v) };
      case "blockingOffset": case "committedOffset": case "lastFetchedOffset":
        return { text: offset(v), cls: v === null ? "none" : null };
      case "blockingDurationSec":
        if (p.blockingOffset === null) return { text: DASH, cls: "none" };
        return { text: duration(v), cls: v >= 60 ? "bad" : null };
      case "bufferedCount": return { text: count(v), title: bytes(p.bufferedBytes) };
      case "uncommittedOffsets": return { text: count(v) };
      case "pauseReason":
        if (v === null) return { text: "no", cls: "none" };
        return { text: v, cls: "warn", title: PARTITION_PAUSE[v] || v };
      default: return { text: count(v) };
    }
  }

  function partitionTable(partitions) {
    if (partitions.length === 0) return el("div", { "class": "empty" }, "No partitions assigned.");
    var sorted = partitions.slice().sort(function (a, b) {
      return a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition;
    });
    return el("table", null, [
      el("thead", null, el("tr", null, COLUMNS.map(function (c) { return el("th", { title: c[2] }, c[1]); }))),
      el("tbody", null, sorted.map(function (p) {
        return el("tr", { "data-topic": p.topic, "data-partition": p.partition }, COLUMNS.map(function (c) {
          var v = cell(c[0], p);
          return el("td", { "data-field": c[0], "class": v.cls, title: v.title }, v.text);
        }));
      }))
    ]);
  }

  function consumerSection(c, h, now) {
    var paused = c.isPaused;
    var bad = c.pauseReason === "failed" || c.pauseReason === "closing";
    var status = paused ? "paused: " + (c.pauseReason || "unknown") : "running";
    var held = c.partitions.filter(function (p) { return p.pauseReason !== null; });
    var gaps = 0, lag = null, blocking = null;
    c.partitions.forEach(function (p) {
      gaps += p.gapCount;
      if (lag === null || p.trueLag > lag.trueLag) lag = p;
      if (p.blockingOffset !== null && (blocking === null || p.blockingDurationSec > blocking.blockingDurationSec)) {
        blocking = p;
      }
    });
    var fill = c.maxInFlight > 0 ? c.totalInFlight / c.maxInFlight : 0;
    var rate = h.samples.length > 0 ? h.samples[h.samples.length - 1].rate : null;
    var name = function (p) { return p.topic + "[" + p.partition + "]"; };
    return el("section", { "class": "consumer", "data-consumer": c.id }, [
      el("h2", null, [
        el("span", { "data-field": "id" }, c.id),
        el("span", { "class": "pill " + (bad ? "bad" : paused ? "warn" : "ok"), "data-field": "status",
          title: paused ? SYSTEM_PAUSE[c.pauseReason] || "" : "fetching runs" }, status),
        paused && SYSTEM_PAUSE[c.pauseReason] ? el("span", { "class": "why" }, SYSTEM_PAUSE[c.pauseReason]) : null,
        // Fields newer than the page's oldest servers are optional: shown only when present.
        c.startPauseReason ? el("span", { "class": "pill warn", "data-field": "startPauseReason",
          title: START_PAUSE[c.startPauseReason] || "" }, "throttled: " + c.startPauseReason) : null,
        held.length > 0
          ? el("span", { "class": "why", "data-field": "heldPartitions" },
            held.length + " partition" + (held.length === 1 ? "" : "s") + " held back (see Paused)")
          : null
      ]),
      el("div", { "class": "tiles" }, [
        el("div", { "class": "tile", title: "messages in the in-flight window: queued plus processing (pyrallel_system_in_flight / pyrallel_system_max_in_flight)" }, [
          el("div", { "class": "label" }, "In-flight / max"),
          el("div", { "class": "value" }, [field("totalInFlight", count(c.totalInFlight)), " / ", field("maxInFlight", count(c.maxInFlight))]),
          el("div", { "class": "bar" + (fill >= 1 ? " bad" : fill >= 0.8 ? " warn" : "") },
            el("div", { style: "width:" + Math.min(100, fill * 100).toFixed(1) + "%" })),
          el("div", { "class": "sub" }, ["queued ", field("queued", count(c.queued)),
            typeof c.throttled === "number" && c.throttled > 0 ? [" (throttled ", field("throttled", count(c.throttled)), ")"] : null,
            " \\u00b7 processing ", field("processing", count(c.processing))])
        ]),
        tile("Throughput", [field("throughput", rate === null ? DASH : perSecond(rate)), " msg/s"],
          ["processed ", field("processedTotal", count(c.processedTotal))],
          "messages completed per second between the last two polls (pyrallel_messages_processed_total)"),
        tile("Max true lag", field("maxTrueLag", lag === null ? DASH : count(lag.trueLag)), lag === null ? null : name(lag),
          "the largest true lag over the partitions (pyrallel_partition_true_lag)"),
        tile("Gaps", field("gaps", count(gaps)), "over " + c.partitions.length + " partitions",
          "completed ranges that cannot be committed yet, summed over the partitions (pyrallel_partition_gap_count)"),
        tile("Longest blocking", field("longestBlocking", blocking === null ? "none" : duration(blocking.blockingDurationSec)),
          blocking === null ? null : name(blocking) + " @ " + blocking.blockingOffset,
          "the blocking offset that has held its partition's commit longest (pyrallel_partition_blocking_duration_sec)"),
        tile("Buffered", field("buffered", count(c.buffered)), bytes(c.bufferedBytes),
          "fetched, not admitted into the in-flight window yet (pyrallel_system_buffered)"),
        tile("In-flight bytes", bytes(c.inFlightBytes), "of " + bytes(c.maxInFlightBytes),
          "payload bytes in the in-flight window (pyrallel_system_in_flight_bytes / pyrallel_system_max_in_flight_bytes)")
      ]),
      el("p", { "class": "counters" }, [
        ["failedAttemptsTotal", "failed attempts"], ["retriesTotal", "retries"], ["deadLetteredTotal", "dead-lettered"],
        ["deadLetterFailuresTotal", "dead-letter failures"], ["skippedTotal", "skipped"], ["commitsTotal", "commits"],
        ["commitFailuresTotal", "commit failures"], ["stallsTotal", "stalls"]
      ].concat(c.batchesProcessedTotal > 0 ? [["batchesProcessedTotal", "batches"]] : []).map(function (k, i) {
        return el("span", null, [i > 0 ? " \\u00b7 " : null, k[1] + " ", el("b", { "data-field": k[0] }, count(c[k[0]]))]);
      })),
      el("div", { "class": "charts" }, [
        chart("Throughput (msg/s)", "rate", h.samples, "rate", now, ""),
        chart("Largest true lag", "lag", h.samples, "lag", now, "")
      ]),
      partitionTable(c.partitions)
    ]);
  }

  var main = document.getElementById("consumers");
  var conn = document.getElementById("conn");
  var polls = 0;
  var lastOk = null;

  function render(body, now) {
    var seen = new Set();
    var sections = body.consumers.map(function (c) {
      seen.add(c.id);
      return consumerSection(c, record(c.id, c, now), now);
    });
    history.forEach(function (_, id) { if (!seen.has(id)) history.delete(id); });
    main.replaceChildren.apply(main, sections.length > 0 ? sections : [el("div", { "class": "empty" }, "No consumers registered.")]);
  }

  function poll() {
    fetch(jsonUrl, { cache: "no-store", headers: { accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (body) {
        render(body, performance.now());
        lastOk = new Date();
        conn.className = "conn";
        conn.textContent = "updated " + clock(lastOk) + " \\u00b7 polls " + jsonUrl + " every second";
      })
      .catch(function (error) {
        conn.className = "conn bad";
        conn.textContent = jsonUrl + " unreachable (" + (error && error.message ? error.message : String(error)) + ")" +
          (lastOk ? "; showing data from " + clock(lastOk) : "");
      })
      .then(function () {
        polls++;
        document.body.setAttribute("data-polls", String(polls));
        setTimeout(poll, POLL_MS);
      });
  }
  poll();
})();
`;
