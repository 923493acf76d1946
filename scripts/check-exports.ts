#!/usr/bin/env node
// Checks that the three lists of entry points agree (in the spirit of Hono's build/validate-exports.ts):
//
//   deno.json "exports"     "./x": "./src/x.ts"                      what JSR publishes (TypeScript source)
//   package.json "exports"  "./x": { types: "./dist/<name>.d.ts",    what npm publishes (the build)
//                                    import: "./dist/<name>.js" }
//   tsup.config.ts `entry`  { <name>: "src/x.ts" }                   what the build writes to dist/<name>.js
//
// Every subpath must appear in deno.json and package.json, its dist name must be a tsup entry, and
// that entry must build the source file deno.json publishes for the subpath; every tsup entry must
// be exported, and every source file must exist. "./package.json" is npm-only and allowed.
//
//   node scripts/check-exports.ts        (npm run check:exports; exit code 1 and one line per problem)
//
// Plain TypeScript run by Node 22's type stripping, no dependencies. checkExports() is pure (the
// file system only through the optional `fileExists`), so tests can feed it broken variants.
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { dirname, join, posix } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** What checkExports reads: the parsed deno.json and package.json, and the text of tsup.config.ts. */
export interface ExportsInput {
  readonly deno: unknown;
  readonly pkg: unknown;
  readonly tsupSource: string;
  /** Whether a path relative to the repository root exists; without it, existence is not checked. */
  readonly fileExists?: (path: string) => boolean;
}

const NPM_ONLY = "./package.json";
const DIST_IMPORT = /^\.\/dist\/([^/]+)\.js$/;
const DIST_TYPES = /^\.\/dist\/([^/]+)\.d\.ts$/;

/** "./src/x.ts" and "src/x.ts" alike, as a normalized relative path. */
function normalize(path: string): string {
  return posix.normalize(path.replace(/^\.\//, ""));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const quote = (text: string): string => JSON.stringify(text);

/** deno.json "exports": subpath -> source file. */
function denoExports(deno: unknown, problems: string[], invalid: Set<string>): Map<string, string> {
  const out = new Map<string, string>();
  const exports = isRecord(deno) ? deno.exports : undefined;
  if (typeof exports === "string") {
    out.set(".", normalize(exports));
    return out;
  }
  if (!isRecord(exports)) {
    problems.push(`deno.json: "exports" is missing or is neither a string nor an object`);
    return out;
  }
  for (const [subpath, target] of Object.entries(exports)) {
    if (typeof target !== "string") {
      problems.push(`deno.json: exports ${quote(subpath)} must be a path string, e.g. "./src/x.ts"`);
      invalid.add(subpath);
      continue;
    }
    out.set(subpath, normalize(target));
  }
  return out;
}

/** package.json "exports": subpath -> dist name (dist/<name>.js), checking types and import agree. */
function packageExports(pkg: unknown, problems: string[], invalid: Set<string>): Map<string, string> {
  const out = new Map<string, string>();
  const exports = isRecord(pkg) ? pkg.exports : undefined;
  if (!isRecord(exports)) {
    problems.push(`package.json: "exports" is missing or not an object of subpaths`);
    return out;
  }
  for (const [subpath, target] of Object.entries(exports)) {
    if (subpath === NPM_ONLY) {
      if (target !== NPM_ONLY) problems.push(`package.json: exports "${NPM_ONLY}" must be "${NPM_ONLY}"`);
      continue;
    }
    if (!isRecord(target) || typeof target.types !== "string" || typeof target.import !== "string") {
      problems.push(
        `package.json: exports ${
          quote(subpath)
        } must be { "types": "./dist/<name>.d.ts", "import": "./dist/<name>.js" }`,
      );
      invalid.add(subpath);
      continue;
    }
    const fromImport = DIST_IMPORT.exec(target.import)?.[1];
    const fromTypes = DIST_TYPES.exec(target.types)?.[1];
    if (fromImport === undefined) {
      problems.push(`package.json: exports ${quote(subpath)} import ${quote(target.import)} is not "./dist/<name>.js"`);
    }
    if (fromTypes === undefined) {
      problems.push(`package.json: exports ${quote(subpath)} types ${quote(target.types)} is not "./dist/<name>.d.ts"`);
    }
    if (fromImport === undefined || fromTypes === undefined) {
      invalid.add(subpath);
      continue;
    }
    if (fromImport !== fromTypes) {
      problems.push(
        `package.json: exports ${
          quote(subpath)
        } imports dist/${fromImport}.js but its types are dist/${fromTypes}.d.ts`,
      );
    }
    out.set(subpath, fromImport);
  }
  // The top-level fields older resolvers read must name the same build as ".".
  const root = isRecord(exports["."]) ? exports["."] : undefined;
  if (isRecord(pkg) && root) {
    for (const [field, condition] of [["main", "import"], ["types", "types"]] as const) {
      const value = pkg[field];
      if (value !== undefined && value !== root[condition]) {
        problems.push(
          `package.json: "${field}" is ${quote(String(value))} but exports "." ${condition} is ${
            quote(String(root[condition]))
          }`,
        );
      }
    }
  }
  return out;
}

const KEY = String.raw`(?:"([^"]+)"|'([^']+)'|([A-Za-z_$][\w$]*))`;
const VALUE = String.raw`(?:"([^"]+)"|'([^']+)')`;

/** tsup.config.ts `entry: { name: "file", ... }`: entry name -> source file. */
function tsupEntries(source: string, problems: string[]): Map<string, string> {
  const out = new Map<string, string>();
  const withoutComments = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'])\/\/.*$/gm, "$1");
  const literal = /\bentry\s*:\s*\{([^{}]*)\}/.exec(withoutComments)?.[1];
  if (literal === undefined) {
    problems.push('tsup.config.ts: no `entry: { name: "file", ... }` object literal found');
    return out;
  }
  const pair = new RegExp(String.raw`${KEY}\s*:\s*${VALUE}`, "g");
  for (const match of literal.matchAll(pair)) {
    const name = (match[1] ?? match[2] ?? match[3])!;
    out.set(name, normalize((match[4] ?? match[5])!));
  }
  const rest = literal.replace(pair, "").replace(/[\s,]/g, "");
  if (rest !== "") {
    problems.push(
      `tsup.config.ts: cannot read part of the entry object (${
        quote(rest.slice(0, 60))
      }): use "name": "file" pairs only`,
    );
  }
  return out;
}

/**
 * Compares deno.json "exports", package.json "exports" and tsup.config.ts `entry`; returns one line
 * per problem, each naming the subpath (or entry) concerned. An empty list means they agree.
 */
export function checkExports(input: ExportsInput): string[] {
  const problems: string[] = [];
  // Subpaths already reported as malformed: not reported again as missing.
  const invalid = new Set<string>();
  const deno = denoExports(input.deno, problems, invalid);
  const pkg = packageExports(input.pkg, problems, invalid);
  const tsup = tsupEntries(input.tsupSource, problems);

  for (const [subpath, source] of deno) {
    if (!pkg.has(subpath) && !invalid.has(subpath)) {
      problems.push(`subpath ${quote(subpath)}: in deno.json (${source}) but missing from package.json "exports"`);
    }
  }
  const exportedNames = new Set<string>();
  for (const [subpath, name] of pkg) {
    exportedNames.add(name);
    const denoSource = deno.get(subpath);
    const tsupSource = tsup.get(name);
    if (denoSource === undefined && !invalid.has(subpath)) {
      problems.push(
        `subpath ${quote(subpath)}: in package.json (dist/${name}.js) but missing from deno.json "exports"`,
      );
    }
    if (tsupSource === undefined) {
      const known = [...tsup.keys()].map(quote).join(", ") || "none";
      problems.push(
        `subpath ${quote(subpath)}: package.json points at dist/${name}.js but tsup.config.ts has no entry ${
          quote(name)
        } (entries: ${known})`,
      );
    }
    if (denoSource !== undefined && tsupSource !== undefined && denoSource !== tsupSource) {
      problems.push(
        `subpath ${
          quote(subpath)
        }: deno.json publishes ${denoSource} but tsup builds dist/${name}.js from ${tsupSource}`,
      );
    }
  }
  for (const [name, source] of tsup) {
    if (!exportedNames.has(name)) {
      problems.push(
        `tsup entry ${quote(name)} (${source}): builds dist/${name}.js, which no package.json export points at`,
      );
    }
  }

  if (input.fileExists) {
    const sources = new Map<string, string>();
    for (const [subpath, source] of deno) sources.set(source, `deno.json exports ${quote(subpath)}`);
    for (const [name, source] of tsup) if (!sources.has(source)) sources.set(source, `tsup entry ${quote(name)}`);
    for (const [source, where] of sources) {
      if (!input.fileExists(source)) problems.push(`${where}: source file ${source} does not exist`);
    }
  }
  return problems;
}

/** Reads the real files of the repository at `root` and checks them. */
export function checkRepository(root: string): string[] {
  const read = (file: string): string => readFileSync(join(root, file), "utf8");
  return checkExports({
    deno: JSON.parse(read("deno.json")),
    pkg: JSON.parse(read("package.json")),
    tsupSource: read("tsup.config.ts"),
    fileExists: (path) => existsSync(join(root, path)),
  });
}

function isMain(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  const problems = checkRepository(root);
  if (problems.length > 0) {
    console.error("check-exports: deno.json, package.json and tsup.config.ts disagree:");
    for (const problem of problems) console.error(`  - ${problem}`);
    process.exit(1);
  }
  const exports = (JSON.parse(readFileSync(join(root, "deno.json"), "utf8")) as { exports: unknown }).exports;
  const subpaths = typeof exports === "string" ? ["."] : Object.keys(exports as object);
  console.log(`check-exports: ok, ${subpaths.join(", ")} agree across deno.json, package.json and tsup.config.ts`);
}
