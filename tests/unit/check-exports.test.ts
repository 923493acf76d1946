import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { checkExports, checkRepository } from "../../scripts/check-exports.ts";

// scripts/check-exports.ts (npm run check:exports): deno.json "exports", package.json "exports" and
// the tsup entries must name the same subpaths and source files.

const root = new URL("../../", import.meta.url);
const read = (file: string): string => readFileSync(new URL(file, root), "utf8");
const realDeno = JSON.parse(read("deno.json")) as { exports: Record<string, string> };
const realPkg = JSON.parse(read("package.json")) as { exports: Record<string, unknown> };
const realTsup = read("tsup.config.ts");

const PKG = {
  main: "./dist/mod.js",
  types: "./dist/mod.d.ts",
  exports: {
    ".": { types: "./dist/mod.d.ts", import: "./dist/mod.js" },
    "./metrics": { types: "./dist/metrics.d.ts", import: "./dist/metrics.js" },
    "./package.json": "./package.json",
  },
};
const DENO = { exports: { ".": "./mod.ts", "./metrics": "./src/metrics/mod.ts" } };
const TSUP = `export default defineConfig({
  // a comment: { not: "an entry" }
  entry: { mod: "mod.ts", 'metrics': "./src/metrics/mod.ts" },
  outDir: "dist",
});`;

describe("check-exports", () => {
  test("the repository's deno.json, package.json and tsup.config.ts agree, and their sources exist", () => {
    assert.deepEqual(checkRepository(fileURLToPath(root)), []);
    assert.ok(Object.keys(realDeno.exports).length >= 3);
  });

  test("a consistent variant passes, and so does the real data with an existence check", () => {
    assert.deepEqual(checkExports({ deno: DENO, pkg: PKG, tsupSource: TSUP }), []);
    assert.deepEqual(checkExports({ deno: DENO, pkg: PKG, tsupSource: TSUP, fileExists: () => true }), []);
    assert.deepEqual(checkExports({ deno: realDeno, pkg: realPkg, tsupSource: realTsup }), []);
  });

  test("an entry missing from deno.json is reported with its subpath", () => {
    const { "./worker": _worker, ...rest } = realDeno.exports;
    const problems = checkExports({ deno: { exports: rest }, pkg: realPkg, tsupSource: realTsup });
    assert.equal(problems.length, 1, problems.join("\n"));
    assert.match(problems[0]!, /"\.\/worker"/);
    assert.match(problems[0]!, /missing from deno\.json/);
  });

  test("a subpath missing from package.json is reported", () => {
    const problems = checkExports({
      deno: { exports: { ...DENO.exports, "./extra": "./src/extra.ts" } },
      pkg: PKG,
      tsupSource: TSUP,
    });
    assert.equal(problems.length, 1, problems.join("\n"));
    assert.match(problems[0]!, /"\.\/extra".*missing from package\.json/);
  });

  test("a dist name that differs from the tsup entry is reported with the subpath", () => {
    const pkg = {
      ...PKG,
      exports: { ...PKG.exports, "./metrics": { types: "./dist/stats.d.ts", import: "./dist/stats.js" } },
    };
    const problems = checkExports({ deno: DENO, pkg, tsupSource: TSUP });
    assert.ok(
      problems.some((p) => p.includes(`"./metrics"`) && p.includes("dist/stats.js") && p.includes(`no entry "stats"`)),
      problems.join("\n"),
    );
    // The now unexported tsup entry is named too.
    assert.ok(problems.some((p) => p.includes(`tsup entry "metrics"`)), problems.join("\n"));
  });

  test("types and import naming different builds are reported", () => {
    const pkg = {
      ...PKG,
      exports: { ...PKG.exports, "./metrics": { types: "./dist/mod.d.ts", import: "./dist/metrics.js" } },
    };
    const problems = checkExports({ deno: DENO, pkg, tsupSource: TSUP });
    assert.equal(problems.length, 1, problems.join("\n"));
    assert.match(problems[0]!, /"\.\/metrics" imports dist\/metrics\.js but its types are dist\/mod\.d\.ts/);
  });

  test("a tsup entry building another source than deno.json publishes is reported", () => {
    const tsupSource = TSUP.replace("./src/metrics/mod.ts", "src/metrics/app.ts");
    const problems = checkExports({ deno: DENO, pkg: PKG, tsupSource });
    assert.equal(problems.length, 1, problems.join("\n"));
    assert.match(
      problems[0]!,
      /"\.\/metrics": deno\.json publishes src\/metrics\/mod\.ts but tsup builds dist\/metrics\.js from src\/metrics\/app\.ts/,
    );
  });

  test("missing source files, a stale main field and an unreadable entry object are reported", () => {
    const problems = checkExports({
      deno: DENO,
      pkg: { ...PKG, main: "./dist/index.js" },
      tsupSource: TSUP,
      fileExists: (path) => path !== "src/metrics/mod.ts",
    });
    assert.deepEqual(problems, [
      `package.json: "main" is "./dist/index.js" but exports "." import is "./dist/mod.js"`,
      `deno.json exports "./metrics": source file src/metrics/mod.ts does not exist`,
    ]);
    const spread = checkExports({ deno: DENO, pkg: PKG, tsupSource: TSUP.replace("entry: {", "entry: { ...more,") });
    assert.ok(spread.some((p) => p.includes("cannot read part of the entry object")), spread.join("\n"));
    const none = checkExports({ deno: DENO, pkg: PKG, tsupSource: "export default {}" });
    assert.ok(none.some((p) => p.includes("no `entry:")), none.join("\n"));
  });

  test("./package.json is npm-only and must point at itself", () => {
    assert.deepEqual(checkExports({ deno: DENO, pkg: PKG, tsupSource: TSUP }), []);
    const pkg = { ...PKG, exports: { ...PKG.exports, "./package.json": "./dist/package.json" } };
    const problems = checkExports({ deno: DENO, pkg, tsupSource: TSUP });
    assert.deepEqual(problems, [`package.json: exports "./package.json" must be "./package.json"`]);
  });
});
