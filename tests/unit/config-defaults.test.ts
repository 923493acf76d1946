// The defaults table against what the options' TSDoc promises, and against what resolveOptions
// applies: the table is the one source, the docs and the resolved options follow it.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { DEFAULTS } from "../../src/config/defaults.ts";
import { resolveOptions } from "../../src/config/options.ts";

const source = readFileSync(new URL("../../src/config/options.ts", import.meta.url), "utf8");

/** Where each option interface's defaults live in DEFAULTS ("" for the top level). */
const SECTIONS: Record<string, string> = {
  ParallelConsumerOptions: "",
  KafkaOptions: "kafka",
  AsyncEngineOptions: "engine",
  WorkerEngineOptions: "workerEngine",
  RetryOptions: "retry",
  DeadLetterOptions: "deadLetter",
  PoisonKeyOptions: "poisonKey",
  BatchOptions: "batch",
};

/** Table entries that are no option of their own. */
const NOT_OPTIONS = new Set(["workerEngine.workersWhenCoresUnknown", "rateLimit.burstSeconds"]);

/** `value` as flat `path: leaf` entries. */
function flatten(value: unknown, path: string, out: Map<string, unknown>): Map<string, unknown> {
  if (typeof value === "object" && value !== null) {
    for (const [key, inner] of Object.entries(value)) flatten(inner, path ? `${path}.${key}` : key, out);
  } else if (!NOT_OPTIONS.has(path)) {
    out.set(path, value);
  }
  return out;
}

/**
 * The default a doc comment states: `Default 30000`, `Default 1 MiB`, ``Default `".dlq"` ``, ``Default `true` ``,
 * ``Default `{ kind: "async" }` `` or `` `"key"` (default) ``. Derived defaults (`` `console` ``,
 * "the number of CPU cores") are no value and give undefined.
 */
function statedDefault(doc: string): unknown {
  const text = /Default:?\s+(`[^`]+`|[\d_]+(?:\s+[KM]iB)?)/.exec(doc)?.[1] ??
    /(`[^`]+`)\s+\(default[),]/.exec(doc)?.[1];
  if (text === undefined) return undefined;
  const size = /^(\d+)\s+([KM])iB$/.exec(text);
  if (size) return Number(size[1]) * (size[2] === "K" ? 1024 : 1024 * 1024);
  if (/^[\d_]+$/.test(text)) return Number(text.replaceAll("_", ""));
  const literal = text.slice(1, -1);
  if (literal === "true" || literal === "false" || literal.startsWith('"')) return JSON.parse(literal);
  // An object literal like { kind: "async", concurrency: 100 }: quote its keys.
  if (literal.startsWith("{")) return JSON.parse(literal.replace(/(\w+):/g, '"$1":'));
  return undefined;
}

/** Every default the TSDoc of the option interfaces states, as flat paths. */
function documentedDefaults(): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [, name, body] of source.matchAll(/export interface (\w+) \{([\s\S]*?)\n\}/g)) {
    const section = SECTIONS[name!];
    if (section === undefined) continue;
    for (const [, doc, property] of body!.matchAll(/\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*(\w+)\??:/g)) {
      const value = statedDefault(doc!);
      if (value === undefined) continue;
      // A default stated twice (engine: AsyncEngineOptions and ParallelConsumerOptions.engine) must agree.
      for (const [path, leaf] of flatten(value, section ? `${section}.${property}` : property!, new Map())) {
        assert.ok(
          !out.has(path) || out.get(path) === leaf,
          `${path} is documented as ${String(out.get(path))} and ${String(leaf)}`,
        );
        out.set(path, leaf);
      }
    }
  }
  return out;
}

describe("config defaults", () => {
  test("the TSDoc of every option states exactly the default of the table", () => {
    const documented = Object.fromEntries([...documentedDefaults()].sort());
    const table = Object.fromEntries([...flatten(DEFAULTS, "", new Map())].sort());
    assert.deepEqual(documented, table);
  });

  test("resolveOptions applies the table's defaults", () => {
    const resolved = resolveOptions({
      kafka: { bootstrapBrokers: ["127.0.0.1:9092"], groupId: "g", topics: ["t"] },
      handler: () => {},
      poisonKey: {},
      failurePolicy: "deadLetter",
    });
    const { kafka, engine, workerEngine: _notAnOption, rateLimit: _burstRule, ...rest } = DEFAULTS;
    assert.deepEqual({ ...resolved.kafka, clientId: undefined }, {
      ...kafka,
      bootstrapBrokers: ["127.0.0.1:9092"],
      groupId: "g",
      topics: ["t"],
      clientId: undefined,
    });
    assert.equal(resolved.engine.kind, "async");
    assert.equal(resolved.engine.kind === "async" && resolved.engine.concurrency, engine.concurrency);
    for (const [key, value] of Object.entries(rest)) assert.deepEqual(resolved[key as keyof typeof rest], value, key);
  });

  test("the worker engine gets the table's defaults and one worker per core", () => {
    const { engine } = resolveOptions({
      kafka: { bootstrapBrokers: ["127.0.0.1:9092"], groupId: "g", topics: ["t"] },
      engine: { kind: "worker", module: "file:///worker.ts" },
    });
    const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
    assert.deepEqual(engine, {
      kind: "worker",
      module: "file:///worker.ts",
      workers: cores ?? DEFAULTS.workerEngine.workersWhenCoresUnknown,
      concurrencyPerWorker: DEFAULTS.workerEngine.concurrencyPerWorker,
      maxBatchSize: DEFAULTS.workerEngine.maxBatchSize,
    });
  });
});
