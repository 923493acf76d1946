#!/usr/bin/env node
// Runs the same test files (tests/**/*.test.ts) on Node, Deno and Bun, one runtime after the other.
//
//   npm test                      all test files on all runtimes
//   npm test -- unit              only files whose path contains "unit" (several args: any of them)
//   PYRALLEL_RUNTIMES=node,deno   only these runtimes (default: node,deno,bun)
//   PYRALLEL_TEST_TIMEOUT_S=900   wall-clock limit per runtime; the runtime's process group is killed after it
//
// Each runtime's output streams live under a header. At the end a table shows passed / failed / seconds
// per runtime, and the last line is exactly "N passed, N failed" (totals over the runtimes).
// Exits non-zero if any runtime had a failed test, exited non-zero, timed out, or ran no tests.
//
// Counts are leaf tests on every runtime (describe blocks are not counted):
//   node: the spec reporter's "ℹ pass N" / "ℹ fail N" (+ cancelled, which counts as failed)
//   deno: a JUnit report (node:test tests run as Deno test steps, so the summary line counts only
//         top-level tests); leaf = a test case no other case nests under. Fallback: the summary line.
//   bun:  " N pass" / " N fail" (or " N error" if more) from its summary.
// A runtime that fails without any failed test counted (crash, module not found, timeout, 0 tests)
// counts as 1 failed, so the last line never reads "0 failed" when the exit code is non-zero.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const testsDir = join(root, "tests");
const ALL_RUNTIMES = ["node", "deno", "bun"];
const TIMEOUT_MS = Number(process.env.PYRALLEL_TEST_TIMEOUT_S ?? 15 * 60) * 1000;
// Per-test timeout for Bun (its default is 5 s; node:test and Deno have none). The runtime-wide
// wall-clock limit above still applies.
const BUN_TEST_TIMEOUT_MS = 10 * 60 * 1000;

// ---------------------------------------------------------------------------------------------
// Test files
// ---------------------------------------------------------------------------------------------

function walk(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name.startsWith(".")) continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(full));
    else if (entry.isFile() && entry.name.endsWith(".test.ts")) out.push(full);
  }
  return out;
}

const filters = process.argv.slice(2).filter((arg) => arg !== "--");
const files = (existsSync(testsDir) ? walk(testsDir) : [])
  // "./tests/unit/x.test.ts": POSIX separators, and a leading "./" so `bun test` takes it as a path, not a filter.
  .map((file) => "./" + relative(root, file).split(sep).join("/"))
  .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)))
  .sort();

const requested = (process.env.PYRALLEL_RUNTIMES ?? ALL_RUNTIMES.join(","))
  .split(",").map((name) => name.trim().toLowerCase()).filter(Boolean);
const unknown = requested.filter((name) => !ALL_RUNTIMES.includes(name));
if (unknown.length > 0) {
  console.error(
    `test-all: unknown runtime(s) in PYRALLEL_RUNTIMES: ${unknown.join(", ")} (known: ${ALL_RUNTIMES.join(", ")})`,
  );
  process.exit(2);
}
const runtimes = ALL_RUNTIMES.filter((name) => requested.includes(name));
if (runtimes.length === 0) {
  console.error("test-all: PYRALLEL_RUNTIMES selects no runtime");
  process.exit(2);
}
if (files.length === 0) {
  console.error(
    `test-all: no test files under tests/ match ${
      filters.length ? filters.map((f) => JSON.stringify(f)).join(" or ") : "*.test.ts"
    }`,
  );
  console.log("0 passed, 0 failed");
  process.exit(1);
}

// ---------------------------------------------------------------------------------------------
// Runtimes
// ---------------------------------------------------------------------------------------------

/** The runtime binary from node_modules/.bin (npm devDependencies), else from PATH. */
function bin(name) {
  const local = join(root, "node_modules", ".bin", process.platform === "win32" ? `${name}.cmd` : name);
  return existsSync(local) ? local : name;
}

// deno-lint-ignore no-control-regex -- ANSI escapes start with ESC
const stripAnsi = (text) => text.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, "");
const lastInt = (text, regex) => {
  let value = null;
  for (const match of text.matchAll(regex)) value = Number(match[1]);
  return value;
};

/**
 * The lines of each failed test as the runtime printed them, repeated under the summary: CI logs are
 * often read from their end, and the streamed output of a long run scrolls the reason out of sight.
 */
const FAILURE_LINES_MAX = 60;
function excerpt(lines) {
  return lines.length > FAILURE_LINES_MAX
    ? [...lines.slice(0, FAILURE_LINES_MAX), `... (${lines.length - FAILURE_LINES_MAX} more lines above the summary)`]
    : lines;
}
/** From the first line matching `start` up to (not including) the first line after it matching `end`. */
function section(text, start, end) {
  const lines = stripAnsi(text).split("\n");
  const from = lines.findIndex((line) => start.test(line));
  if (from < 0) return [];
  const to = lines.findIndex((line, i) => i > from && end.test(line));
  return lines.slice(from, to < 0 ? undefined : to);
}

const xmlUnescape = (text) =>
  text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&apos;/g, "'")
    .replace(/&#(\d+);/g, (_, code) => String.fromCodePoint(Number(code))).replace(/&amp;/g, "&");

/** Leaf test counts from Deno's JUnit report (steps are cases named "parent > step"). */
function parseDenoJunit(xml) {
  const cases = [];
  for (const match of xml.matchAll(/<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const name = xmlUnescape(/\bname="([^"]*)"/.exec(match[1])?.[1] ?? "");
    const body = match[3] ?? "";
    cases.push({ name, failed: /<(failure|error)\b/.test(body), skipped: /<skipped\b/.test(body) });
  }
  const names = new Set(cases.map((c) => c.name));
  const isParent = (name) => [...names].some((other) => other.startsWith(`${name} > `));
  const leaves = cases.filter((c) => !isParent(c.name));
  return {
    passed: leaves.filter((c) => !c.failed && !c.skipped).length,
    failed: leaves.filter((c) => c.failed).length,
    skipped: leaves.filter((c) => c.skipped).length,
  };
}

const RUNTIMES = {
  node: {
    command: (files) => [bin("node"), ["--test", "--test-reporter=spec", ...files]],
    parse(output) {
      const text = stripAnsi(output);
      // spec reporter: "ℹ pass 7"; tap reporter: "# pass 7".
      const count = (word) => lastInt(text, new RegExp(`^(?:ℹ|#) ${word} (\\d+)\\s*$`, "gm"));
      const passed = count("pass");
      const failed = count("fail");
      if (passed === null && failed === null) return null;
      return {
        passed: passed ?? 0,
        failed: (failed ?? 0) + (count("cancelled") ?? 0),
        skipped: (count("skipped") ?? 0) + (count("todo") ?? 0),
      };
    },
    // The spec reporter lists each failed test with its error after "✖ failing tests:".
    failures: (output) => section(output, /^✖ failing tests:/, /^ℹ tests \d+/),
  },
  deno: {
    env: { DENO_NO_UPDATE_CHECK: "1", DENO_NO_PROMPT: "1" },
    // --no-check: types are checked by `npm run typecheck` and `deno publish --dry-run`; here a type
    // error in one test file must not stop every test from running on Deno.
    command: (
      files,
      scratch,
    ) => [bin("deno"), ["test", "-A", "--no-check", `--junit-path=${join(scratch, "deno-junit.xml")}`, ...files]],
    parse(output, scratch) {
      const text = stripAnsi(output);
      // "ok | 3 passed (24 steps) | 0 failed (0ms)" or "FAILED | 2 passed (20 steps) | 1 failed (4 steps) (1s)"
      const summary = [
        ...text.matchAll(
          /^(?:ok|FAILED) \| (\d+) passed(?: \((\d+) steps?\))? \| (\d+) failed(?: \((\d+) steps?\))?/gm,
        ),
      ].at(-1);
      const junitPath = join(scratch, "deno-junit.xml");
      const junit = existsSync(junitPath) ? parseDenoJunit(readFileSync(junitPath, "utf8")) : null;
      if (junit && junit.passed + junit.failed + junit.skipped > 0) {
        // A failure outside any test case (e.g. a module that does not load) shows only in the summary.
        const summaryFailed = summary ? Number(summary[3]) : 0;
        return { ...junit, failed: Math.max(junit.failed, summaryFailed) };
      }
      if (!summary) return null;
      return { passed: Number(summary[1]), failed: Number(summary[3]), skipped: 0 };
    },
    // Deno repeats each failure's error under " ERRORS " and lists the names under " FAILURES ".
    failures: (output) => section(output, /^\s*ERRORS\s*$/, /^\s*FAILURES\s*$/),
  },
  bun: {
    command: (files) => [bin("bun"), ["test", `--timeout=${BUN_TEST_TIMEOUT_MS}`, ...files]],
    parse(output) {
      const text = stripAnsi(output);
      // " 7 pass" / " 0 fail" / " 1 error" / " 2 skip" / " 1 todo"
      const count = (word) => lastInt(text, new RegExp(`^\\s*(\\d+) ${word}s?\\s*$`, "gm"));
      const passed = count("pass");
      const failed = count("fail");
      if (passed === null && failed === null) return null;
      // A file that fails to load shows as " N error" and is usually in " N fail" already: don't add them.
      return {
        passed: passed ?? 0,
        failed: Math.max(failed ?? 0, count("error") ?? 0),
        skipped: (count("skip") ?? 0) + (count("todo") ?? 0),
      };
    },
    // Bun prints a test's error (and what the test logged) just before its "(fail)" line, and only the
    // names in its closing summary: take each "(fail)" line with the lines since the test before it.
    failures(output) {
      const lines = stripAnsi(output).split("\n");
      const closing = lines.findIndex((line) => /^\d+ tests? failed:$/.test(line.trim()));
      const streamed = closing < 0 ? lines : lines.slice(0, closing);
      const out = [];
      let since = 0;
      streamed.forEach((line, i) => {
        if (/^\((pass|skip|todo)\) /.test(line) || /^\S.*\.test\.ts:$/.test(line)) since = i + 1;
        else if (/^\(fail\) /.test(line)) {
          out.push(...streamed.slice(Math.max(since, i - 40), i + 1), "");
          since = i + 1;
        }
      });
      return out;
    },
  },
};

// ---------------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------------

let current = null; // the running child, so a signal can stop its whole process group

function killGroup(child, signal) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal); // detached: the child leads its own process group
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    killGroup(current, "SIGTERM");
    const child = current;
    setTimeout(() => killGroup(child, "SIGKILL"), 3000).unref();
    console.log(`\ntest-all: ${signal}, stopping`);
    process.exitCode = signal === "SIGINT" ? 130 : 143;
    setTimeout(() => process.exit(), 3500).unref();
  });
}

function run(name, files) {
  const runtime = RUNTIMES[name];
  const scratch = mkdtempSync(join(tmpdir(), `pyrallel-test-${name}-`));
  const [command, args] = runtime.command(files, scratch);
  const started = performance.now();
  console.log(
    `\n${"=".repeat(100)}\n=== ${name}: ${[relative(root, command) || command, ...args].join(" ")}\n${"=".repeat(100)}`,
  );

  return new Promise((resolve) => {
    let output = "";
    let timedOut = false;
    const child = spawn(command, args, {
      cwd: root,
      env: { ...process.env, ...runtime.env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: process.platform !== "win32",
    });
    current = child;
    child.stdout.on("data", (chunk) => {
      output += chunk;
      process.stdout.write(chunk);
    });
    child.stderr.on("data", (chunk) => {
      output += chunk;
      process.stderr.write(chunk);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      console.error(`\ntest-all: ${name} still running after ${TIMEOUT_MS / 1000} s, killing it`);
      killGroup(child, "SIGTERM");
      setTimeout(() => killGroup(child, "SIGKILL"), 5000).unref();
    }, TIMEOUT_MS);
    const finish = (exitCode, signal, spawnError) => {
      clearTimeout(timer);
      current = null;
      const seconds = (performance.now() - started) / 1000;
      let counts = null;
      try {
        counts = runtime.parse(output, scratch);
      } catch (error) {
        console.error(`test-all: could not parse ${name} output: ${error}`);
      }
      rmSync(scratch, { recursive: true, force: true });
      const problems = [];
      if (spawnError) problems.push(`could not start: ${spawnError.message}`);
      if (timedOut) problems.push(`timed out after ${TIMEOUT_MS / 1000} s`);
      if (signal && !timedOut) problems.push(`killed by ${signal}`);
      if (exitCode !== null && exitCode !== 0) problems.push(`exit code ${exitCode}`);
      if (!counts) problems.push("no test counts found in its output");
      else if (counts.failed > 0) problems.push(`${counts.failed} failed`);
      if (counts && counts.passed + counts.failed === 0) problems.push("ran 0 tests");
      let failed = counts?.failed ?? 0;
      if (problems.length > 0 && failed === 0) {
        failed = 1;
        problems.push("counted as 1 failed");
      }
      let failures = [];
      try {
        if (failed > 0) failures = excerpt(runtime.failures(output));
      } catch (error) {
        failures = [`(could not extract the failures: ${error})`];
      }
      const result = {
        name,
        failures,
        seconds,
        exitCode,
        signal,
        passed: counts?.passed ?? 0,
        failed,
        skipped: counts?.skipped ?? 0,
        problems,
      };
      console.log(
        `=== ${name}: ${problems.length ? `NOT OK (${problems.join("; ")})` : "ok"} in ${seconds.toFixed(1)} s`,
      );
      resolve(result);
    };
    let spawnError = null;
    child.on("error", (error) => {
      spawnError = error;
    });
    child.on("close", (code, signal) => finish(code, signal, spawnError));
  });
}

const totalStarted = performance.now();
console.log(`test-all: ${files.length} test file(s) on ${runtimes.join(", ")}:`);
for (const file of files) console.log(`  ${file}`);

const results = [];
for (const name of runtimes) {
  results.push(await run(name, files));
  if (process.exitCode === 130 || process.exitCode === 143) break;
}

// ---------------------------------------------------------------------------------------------
// Summary
// ---------------------------------------------------------------------------------------------

const pad = (value, width, right = false) => (right ? String(value).padStart(width) : String(value).padEnd(width));
const rows = results.map((
  r,
) => [
  r.name,
  r.passed,
  r.failed,
  r.skipped,
  r.seconds.toFixed(1),
  r.problems.length ? `FAIL: ${r.problems.join("; ")}` : "ok",
]);
const header = ["runtime", "passed", "failed", "skipped", "seconds", "result"];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => String(row[i]).length)));
const line = (cells) => cells.map((cell, i) => pad(cell, widths[i], i >= 1 && i <= 4)).join("  ").trimEnd();

for (const r of results.filter((r) => r.failures.length > 0)) {
  console.log(`\n${"=".repeat(100)}\n=== ${r.name}: the failed tests, as printed above\n${r.failures.join("\n")}`);
}
console.log(
  `\n${"=".repeat(100)}\n=== test summary (${
    filters.length ? `filter: ${filters.join(" | ")}, ` : ""
  }${files.length} file(s), ${((performance.now() - totalStarted) / 1000).toFixed(1)} s)`,
);
console.log(line(header));
for (const row of rows) console.log(line(row));
const notRun = ALL_RUNTIMES.filter((name) => !runtimes.includes(name));
if (notRun.length) console.log(`(not run: ${notRun.join(", ")} — PYRALLEL_RUNTIMES=${process.env.PYRALLEL_RUNTIMES})`);

const passed = results.reduce((sum, r) => sum + r.passed, 0);
const failed = results.reduce((sum, r) => sum + r.failed, 0);
const ok = results.length === runtimes.length && results.every((r) => r.problems.length === 0);
if (!ok && process.exitCode === undefined) process.exitCode = 1;
console.log(`${passed} passed, ${failed} failed`);
