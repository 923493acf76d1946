#!/usr/bin/env node
// Regenerates docs/status-page.png: runs the demo (examples/demo/main.ts) on a free port, opens its
// status page in headless Chromium at 1280×900, lets the charts fill for a minute and saves the
// viewport. Needs the local broker and chromium (`npm run setup`).
//
//   npm run broker:start && node scripts/status-page-screenshot.ts
//   SCREENSHOT_SECONDS=20 node scripts/status-page-screenshot.ts   (shorter history in the charts)
import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { launchChromium } from "../tests/support/chromium.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const output = join(root, "docs", "status-page.png");
const seconds = Number(process.env.SCREENSHOT_SECONDS ?? 60);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")));
    });
  });
}

/** Resolves once the demo has printed `line`; rejects if it exits first. */
function printed(demo: ChildProcess, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = "";
    demo.stdout?.on("data", (chunk: Uint8Array) => {
      out += String(chunk);
      if (out.includes(line)) resolve();
    });
    demo.once("exit", (code) => reject(new Error(`the demo exited (${code}) before printing "${line}":\n${out}`)));
  });
}

const port = await freePort();
const demo = spawn(process.execPath, [join(root, "examples", "demo", "main.ts")], {
  cwd: root,
  env: { ...process.env, DEMO_METRICS_PORT: String(port), DEMO_SECONDS: String(seconds + 30) },
  stdio: ["ignore", "pipe", "inherit"],
});
try {
  await printed(demo, "status page on");
  const browser = await launchChromium();
  try {
    const page = await browser.openPage(`http://127.0.0.1:${port}/`, { width: 1280, height: 900 });
    console.log(`status-page-screenshot: letting the charts fill for ${seconds} s`);
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    writeFileSync(output, await page.screenshot());
    if (page.errors.length > 0) throw new Error(`the page reported errors: ${page.errors.join("\n")}`);
  } finally {
    await browser.close();
  }
  console.log(`status-page-screenshot: wrote ${output}`);
} finally {
  // Ctrl-C's path: the demo closes its consumer and commits.
  const exited = new Promise((resolve) => demo.once("exit", resolve));
  if (demo.exitCode === null) demo.kill("SIGINT");
  await exited;
}
