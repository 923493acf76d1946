// Runs a TypeScript entry script of this directory in a child process of the same runtime as the
// test (Node, Deno or Bun), and collects the JSON lines it prints on stdout.
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** One JSON line printed by the child on stdout. */
export type ChildEvent = { event: string; [field: string]: unknown };

interface DenoLike {
  execPath(): string;
}

/** The command running `script` (an absolute path) with `args` on the current runtime. */
export function runtimeCommand(script: string, args: readonly string[] = []): [string, string[]] {
  const deno = (globalThis as unknown as { Deno?: DenoLike }).Deno;
  if (deno) return [deno.execPath(), ["run", "-A", "--no-check", script, ...args]];
  // Node (22.18+ strips types by default) and Bun both run .ts files directly.
  return [process.execPath, [script, ...args]];
}

/** Absolute path of an entry script in tests/support/processes/. */
export function processScript(name: string): string {
  return fileURLToPath(new URL(name, import.meta.url));
}

export class ChildScript {
  readonly events: ChildEvent[] = [];
  readonly process: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  #stderr = "";
  #partial = "";
  #listeners = new Set<() => void>();

  constructor(script: string, args: readonly string[] = [], env: Record<string, string> = {}) {
    const [command, commandArgs] = runtimeCommand(script, args);
    this.process = spawn(command, commandArgs, {
      env: { ...process.env, DENO_NO_UPDATE_CHECK: "1", DENO_NO_PROMPT: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.process.stdout!.setEncoding("utf8");
    this.process.stdout!.on("data", (chunk: string) => this.#onStdout(chunk));
    this.process.stderr!.setEncoding("utf8");
    this.process.stderr!.on("data", (chunk: string) => {
      this.#stderr += chunk;
    });
    this.exited = new Promise((resolve) => {
      this.process.on("exit", (code, signal) => {
        this.#notify();
        resolve({ code, signal });
      });
    });
  }

  /** What the child wrote on stderr so far. */
  get stderr(): string {
    return this.#stderr;
  }

  /** Resolves with the first event (already seen or to come) matching `predicate`. */
  waitFor(what: string, predicate: (event: ChildEvent) => boolean, timeoutMs = 30_000): Promise<ChildEvent> {
    return this.#waitFor(what, () => this.events.find(predicate), timeoutMs);
  }

  /** Resolves once `condition` holds; checked whenever the child prints a line. */
  async waitUntil(what: string, condition: () => boolean, timeoutMs = 30_000): Promise<void> {
    await this.#waitFor(what, () => (condition() ? true : undefined), timeoutMs);
  }

  #waitFor<T>(what: string, check: () => T | undefined, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const attempt = (): boolean => {
        const found = check();
        if (found !== undefined) {
          done();
          resolve(found);
          return true;
        }
        if (this.process.exitCode !== null || this.process.signalCode !== null) {
          done();
          reject(
            new Error(
              `child exited (${
                this.process.exitCode ?? this.process.signalCode
              }) before ${what}; stderr:\n${this.#stderr}`,
            ),
          );
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for the child: ${what}; stderr:\n${this.#stderr}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#listeners.delete(listener);
      };
      const listener = () => void attempt();
      if (!attempt()) this.#listeners.add(listener);
    });
  }

  /** Events named `name`, in order. */
  named(name: string): ChildEvent[] {
    return this.events.filter((event) => event.event === name);
  }

  /** Sends `signal` and waits for the child to exit. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<{ code: number | null; signal: string | null }> {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill(signal);
    return await this.exited;
  }

  #onStdout(chunk: string): void {
    const lines = (this.#partial + chunk).split("\n");
    this.#partial = lines.pop()!;
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        this.events.push(JSON.parse(line) as ChildEvent);
      } catch {
        this.#stderr += `[stdout, not JSON] ${line}\n`;
      }
    }
    this.#notify();
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) listener();
  }
}
