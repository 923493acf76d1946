// Headless Chromium driven over the DevTools protocol (a WebSocket, global on Node 22, Deno and
// Bun), for the status page test and its screenshot script. Chromium is Debian's package, installed
// by `npm run setup`; CHROMIUM=/path/to/chromium overrides the lookup.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import process from "node:process";

/** The chromium binary: `$CHROMIUM`, else `chromium` on the PATH; throws saying how to get one. */
export function chromiumPath(): string {
  const configured = process.env.CHROMIUM;
  if (configured) {
    if (!existsSync(configured)) {
      throw new Error(`CHROMIUM=${configured} does not exist: unset it and run \`npm run setup\`, or fix the path`);
    }
    return configured;
  }
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    for (const name of ["chromium", "chromium-browser"]) {
      if (dir && existsSync(join(dir, name))) return join(dir, name);
    }
  }
  throw new Error(
    "chromium is missing: run `npm run setup` (it installs Debian's chromium package) " +
      "or set CHROMIUM=/path/to/chromium",
  );
}

interface CdpMessage {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
  sessionId?: string;
}

type Listener = (message: CdpMessage) => void;

/** One DevTools connection; page sessions share it (flat mode, `sessionId` on each message). */
class Cdp {
  #next = 1;
  readonly #pending = new Map<number, { resolve(result: Record<string, unknown>): void; reject(e: Error): void }>();
  readonly #listeners = new Set<Listener>();
  readonly #socket: WebSocket;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.addEventListener("message", (event) => {
      const message = JSON.parse(String(event.data)) as CdpMessage;
      if (message.id !== undefined) {
        const pending = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        if (message.error) pending?.reject(new Error(`DevTools: ${message.error.message}`));
        else pending?.resolve(message.result ?? {});
      } else {
        for (const listener of this.#listeners) listener(message);
      }
    });
    socket.addEventListener("close", () => {
      for (const { reject } of this.#pending.values()) reject(new Error("DevTools connection closed"));
      this.#pending.clear();
    });
  }

  static open(url: string): Promise<Cdp> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url);
      socket.addEventListener("open", () => resolve(new Cdp(socket)), { once: true });
      socket.addEventListener("error", () => reject(new Error(`cannot connect to DevTools at ${url}`)), { once: true });
    });
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#socket.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });
  }

  on(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    this.#socket.close();
  }
}

/** A tab of the headless browser. */
export interface Page {
  /** Evaluates `expression` in the page (promises awaited); returns its value, JSON-copied. */
  evaluate<T>(expression: string): Promise<T>;
  /** Evaluates `expression` until it returns a truthy value; fails with `what` after `timeoutMs`. */
  waitFor<T>(what: string, expression: string, timeoutMs?: number): Promise<T>;
  /** PNG of the viewport. */
  screenshot(): Promise<Uint8Array>;
  /** Uncaught exceptions, console errors and browser log errors (CSP violations, failed loads). */
  readonly errors: readonly string[];
  /** URLs the page requested. */
  readonly requests: readonly string[];
}

/** A running headless Chromium. */
export interface Browser {
  /** Opens `url` in a new tab of `width` × `height` CSS pixels and waits for its load event. */
  openPage(url: string, size?: { width: number; height: number }): Promise<Page>;
  /** Closes the browser and kills its process group; removes its profile. */
  close(): Promise<void>;
}

/** Launches `chromium --headless=new` with a throw-away profile and connects to it. */
export async function launchChromium(): Promise<Browser> {
  const binary = chromiumPath();
  const profile = mkdtempSync(join(tmpdir(), "pyrallel-chromium-"));
  const child = spawn(binary, [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--disable-background-networking",
    "--no-first-run",
    "--no-default-browser-check",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-port=0",
    "--remote-debugging-address=127.0.0.1",
    `--user-data-dir=${profile}`,
    "about:blank",
  ], { stdio: ["ignore", "ignore", "pipe"], detached: true });
  try {
    const cdp = await Cdp.open(await devToolsUrl(child));
    return {
      openPage: (url, size) => openPage(cdp, url, size ?? { width: 1280, height: 900 }),
      async close() {
        await Promise.race([cdp.send("Browser.close").catch(() => {}), sleep(2000)]);
        cdp.close();
        await stop(child, 5000);
        rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await stop(child);
    rmSync(profile, { recursive: true, force: true });
    throw error;
  }
}

/** The browser's DevTools WebSocket address, which chromium prints on stderr once it listens. */
function devToolsUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => fail(new Error("chromium did not start within 30 s")), 30_000);
    const fail = (error: Error) => {
      clearTimeout(timer);
      reject(new Error(`${error.message}; its stderr:\n${output.slice(-2000)}`));
    };
    child.stderr?.on("data", (chunk: Uint8Array) => {
      output += String(chunk);
      const match = /DevTools listening on (ws:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once("error", (error) => fail(error));
    child.once("exit", (code, signal) => fail(new Error(`chromium exited (${signal ?? code}) before listening`)));
  });
}

/**
 * Waits up to `graceMs` for chromium to exit (after `Browser.close` it reaps its own renderers),
 * then kills whatever is left of its process group (renderers, GPU and zygote processes).
 */
async function stop(child: ChildProcess, graceMs = 0): Promise<void> {
  const running = () => child.exitCode === null && child.signalCode === null;
  const exited = new Promise<void>((resolve) => running() ? child.once("exit", () => resolve()) : resolve());
  await Promise.race([exited, sleep(graceMs)]);
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // The group is gone already.
    if (running()) child.kill("SIGKILL");
  }
  await Promise.race([exited, sleep(5000)]);
}

async function openPage(cdp: Cdp, url: string, size: { width: number; height: number }): Promise<Page> {
  const { targetId } = await cdp.send("Target.createTarget", { url: "about:blank", newWindow: true, ...size });
  const { sessionId } = await cdp.send("Target.attachToTarget", { targetId, flatten: true });
  const session = String(sessionId);
  const send = (method: string, params: Record<string, unknown> = {}) => cdp.send(method, params, session);
  const errors: string[] = [];
  const requests: string[] = [];
  let loaded: () => void = () => {};
  const load = new Promise<void>((resolve) => (loaded = resolve));
  cdp.on((message) => {
    if (message.sessionId !== session) return;
    const params = message.params ?? {};
    switch (message.method) {
      case "Page.loadEventFired":
        loaded();
        break;
      case "Network.requestWillBeSent":
        requests.push(String((params.request as { url: string }).url));
        break;
      case "Runtime.exceptionThrown":
        errors.push(`exception: ${JSON.stringify(params.exceptionDetails)}`);
        break;
      case "Runtime.consoleAPICalled":
        if (params.type === "error") errors.push(`console.error: ${JSON.stringify(params.args)}`);
        break;
      case "Log.entryAdded": {
        const entry = params.entry as { level: string; text: string; url?: string };
        if (entry.level === "error") errors.push(`log: ${entry.text} ${entry.url ?? ""}`);
        break;
      }
    }
  });
  await Promise.all([send("Page.enable"), send("Runtime.enable"), send("Log.enable"), send("Network.enable")]);
  await send("Emulation.setDeviceMetricsOverride", { ...size, deviceScaleFactor: 1, mobile: false });
  await send("Page.navigate", { url });
  await withDeadline(`loading ${url}`, load, 30_000);

  const evaluate = async <T>(expression: string): Promise<T> => {
    const reply = await send("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true });
    if (reply.exceptionDetails) throw new Error(`in the page: ${JSON.stringify(reply.exceptionDetails)}`);
    return (reply.result as { value: T }).value;
  };
  return {
    evaluate,
    async waitFor<T>(what: string, expression: string, timeoutMs = 30_000): Promise<T> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const value = await evaluate<T>(expression);
        if (value) return value;
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
        await sleep(100);
      }
    },
    async screenshot() {
      const { data } = await send("Page.captureScreenshot", { format: "png" });
      return Uint8Array.from(atob(String(data)), (c) => c.charCodeAt(0));
    },
    errors,
    requests,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function withDeadline<T>(what: string, promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
