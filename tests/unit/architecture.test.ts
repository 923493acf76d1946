// The dependency rules of the source tree, checked on every run so they cannot erode: the core owns
// its ports and imports nothing from adapters, engines, config or metrics, nor anything of a runtime;
// adapters and engines never import the options layer; only consumer.ts composes the layers.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const src = join(root, "src");

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? sources(path) : entry.name.endsWith(".ts") ? [path] : [];
  });
}

/** Each import of a file: relative ones as repository paths (`src/...`), others as written. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specifiers = [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^;]*?from\s+"([^"]+)"/g)].map((m) => m[1]!);
  return specifiers.map((specifier) =>
    specifier.startsWith(".") ? relative(root, resolve(dirname(file), specifier)).split("\\").join("/") : specifier
  );
}

const layerOf = (path: string): string => path.replace(/^src\//, "").split("/")[0]!.replace(/\.ts$/, "");

test("the core imports only the core: no adapters, engines, config, metrics, node: modules or runtime globals", () => {
  const offences: string[] = [];
  for (const file of sources(join(src, "core"))) {
    for (const target of importsOf(file)) {
      if (!target.startsWith("src/core/")) offences.push(`${relative(root, file)} imports ${target}`);
    }
    const text = readFileSync(file, "utf8");
    if (/\b(Deno|Bun)\.\w/.test(text.replace(/\/\/.*|\/\*[\s\S]*?\*\//g, ""))) {
      offences.push(`${relative(root, file)} uses a runtime global`);
    }
  }
  assert.deepEqual(offences, []);
});

test("adapters and engines depend on the core (and the runtime probe), never on config, metrics or each other", () => {
  const allowed: Record<string, readonly string[]> = {
    adapters: ["core", "adapters"],
    engines: ["core", "engines", "runtime"],
    config: ["core", "config", "runtime"],
    metrics: ["core", "metrics"],
  };
  const offences: string[] = [];
  for (const [layer, layers] of Object.entries(allowed)) {
    for (const file of sources(join(src, layer))) {
      for (const target of importsOf(file)) {
        if (target.startsWith("src/") && !layers.includes(layerOf(target))) {
          offences.push(`${relative(root, file)} imports ${target}`);
        }
      }
    }
  }
  assert.deepEqual(offences, []);
});

test("the rules above see real imports (the parser is not blind)", () => {
  const imports = importsOf(join(src, "consumer.ts"));
  assert.ok(imports.includes("src/core/control-plane/control-plane.ts"), imports.join(", "));
  assert.ok(imports.some((target) => target.startsWith("src/adapters/")), imports.join(", "));
});
