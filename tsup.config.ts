import { defineConfig } from "tsup";

// npm build: ESM + .d.ts for Node 22+ and Bun (Deno users take the TypeScript source from JSR).
//   mod.ts             -> dist/mod.js,     dist/mod.d.ts
//   src/metrics/mod.ts -> dist/metrics.js, dist/metrics.d.ts   (subpath "./metrics", the only one loading Hono)
// Dependencies stay external: users install them (hono is an optional peer dependency).
export default defineConfig({
  entry: { mod: "mod.ts", metrics: "src/metrics/mod.ts", worker: "src/worker.ts" },
  outDir: "dist",
  format: ["esm"],
  platform: "node",
  target: "node22",
  dts: true,
  sourcemap: true,
  clean: true,
  splitting: true,
  treeshake: true,
  external: ["@platformatic/kafka", "valibot", "hono", /^hono\//, /^node:/],
});
