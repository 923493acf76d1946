/**
 * The status page's stylesheet. System fonts only and no `url(...)`: the page loads nothing
 * but `metrics.json`, so it works air-gapped.
 */
export const STATUS_PAGE_STYLE: string = `
:root {
  color-scheme: light dark;
  --bg: #f6f7f9; --card: #fff; --fg: #1b1f24; --muted: #5f6b7a; --line: #dde2e8;
  --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --accent: #0969da; --accent2: #8250df;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --card: #161b22; --fg: #e6edf3; --muted: #8d96a0; --line: #30363d;
    --ok: #3fb950; --warn: #d29922; --bad: #f85149; --accent: #58a6ff; --accent2: #bc8cff;
  }
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--bg); color: var(--fg);
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
header { display: flex; align-items: baseline; gap: 16px; padding: 12px 20px; border-bottom: 1px solid var(--line); }
header h1 { font-size: 18px; margin: 0; }
.conn { color: var(--muted); font-size: 13px; }
.conn.bad { color: var(--bad); font-weight: 600; }
main { padding: 12px 20px; display: grid; gap: 16px; }
.consumer { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; }
.consumer h2 { font-size: 16px; margin: 0 0 10px; display: flex; gap: 10px; align-items: center; flex-wrap: wrap; }
.pill { font-size: 12px; font-weight: 600; padding: 2px 8px; border-radius: 10px; border: 1px solid currentColor; }
.pill.ok { color: var(--ok); } .pill.warn { color: var(--warn); } .pill.bad { color: var(--bad); }
.why { font-size: 12px; color: var(--muted); font-weight: normal; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 8px; margin-bottom: 10px; }
.tile { border: 1px solid var(--line); border-radius: 6px; padding: 6px 10px; }
.tile .label { font-size: 12px; color: var(--muted); }
.tile .value { font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; white-space: nowrap; }
.tile .sub { font-size: 12px; color: var(--muted); font-variant-numeric: tabular-nums; }
.bar { height: 4px; background: var(--line); border-radius: 2px; margin-top: 4px; overflow: hidden; }
.bar > div { height: 100%; background: var(--ok); }
.bar.warn > div { background: var(--warn); } .bar.bad > div { background: var(--bad); }
.counters { font-size: 12px; color: var(--muted); margin: 0 0 10px; font-variant-numeric: tabular-nums; }
.counters b { color: var(--fg); font-weight: 600; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 12px; margin-bottom: 10px; }
.chart { border: 1px solid var(--line); border-radius: 6px; padding: 6px 10px; }
.chart .head { display: flex; justify-content: space-between; font-size: 12px; color: var(--muted); }
.chart .head b { color: var(--fg); font-variant-numeric: tabular-nums; }
.chart svg { display: block; width: 100%; height: 90px; }
.chart svg .grid { stroke: var(--line); stroke-width: 1; vector-effect: non-scaling-stroke; }
.chart svg .line { fill: none; stroke-width: 1.5; vector-effect: non-scaling-stroke; }
.chart svg .line.rate { stroke: var(--accent); } .chart svg .line.lag { stroke: var(--accent2); }
.chart .axis { display: flex; justify-content: space-between; font-size: 11px; color: var(--muted); }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th { font-size: 12px; color: var(--muted); font-weight: 600; cursor: help; }
th:first-child, td:first-child { text-align: left; white-space: normal; overflow-wrap: anywhere; min-width: 12em; }
td.none { color: var(--muted); }
td.warn { color: var(--warn); font-weight: 600; } td.bad { color: var(--bad); font-weight: 600; }
.empty { color: var(--muted); padding: 8px 0; }
footer { padding: 8px 20px 16px; font-size: 12px; color: var(--muted); }
`;
