// Worker entry for the worker engine tests. Header "op" picks the behaviour, header "arg" its argument.
import type { ConsumerMessage, HandlerContext } from "../../../src/worker.ts";
import { runWorker } from "../../../src/worker.ts";
import { describeMessage } from "./describe-message.ts";
import { ODD_RESULTS } from "./odd-results.ts";
import { shaRounds } from "./sha-rounds.ts";

const decoder = new TextDecoder();
const text = (bytes: Uint8Array | null | undefined): string => (bytes ? decoder.decode(bytes) : "");
/** Differs per worker thread: tells replaced workers apart. */
const threadId = Math.random().toString(36).slice(2);

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

/**
 * Checks that a byte field arrived intact, in a buffer smaller than the sender's shared one
 * (`sharedSize`): the worker gets its batch's payloads, never the whole fetch buffer.
 */
function checkBytes(name: string, bytes: Uint8Array | null, expected: string | null, sharedSize: number): void {
  if (expected === null) {
    if (bytes !== null) throw new Error(`${name}: expected null`);
    return;
  }
  if (bytes === null) throw new Error(`${name}: got null`);
  if (text(bytes) !== expected) {
    throw new Error(`${name}: got ${JSON.stringify(text(bytes))}, expected ${JSON.stringify(expected)}`);
  }
  if (bytes.buffer.byteLength >= sharedSize) {
    throw new Error(
      `${name}: a view of ${bytes.buffer.byteLength} bytes, the size of the sender's whole shared buffer`,
    );
  }
}

runWorker((message, context) => {
  const op = text(message.headers.get("op"));
  // Not awaited: runWorker must see these results as they are.
  const odd = ODD_RESULTS[op];
  if (odd !== undefined) return odd() as Promise<void>;
  return handle(op, message, context);
});

async function handle(op: string, message: ConsumerMessage, context: HandlerContext): Promise<void> {
  // context.signal is read only where needed: runWorker creates it on first use.
  const { attempt } = context;
  const arg = text(message.headers.get("arg"));
  switch (op) {
    case "ok":
      return;
    case "describe": {
      // What this worker received, for the test to compare with what it sent.
      const error = new Error(describeMessage(message));
      error.name = "Described";
      throw error;
    }
    case "sha": {
      const digest = await shaRounds(message.value ?? new Uint8Array(), Number(arg));
      if (digest !== text(message.headers.get("expect"))) throw new Error(`sha mismatch: ${digest}`);
      return;
    }
    case "sleep":
      return sleep(Number(arg), context.signal);
    case "spin": {
      // Busy for `arg` ms (default 5 s): stuck as far as the tests care, but bounded, because
      // Deno 2.9's terminate() cannot stop a thread in a synchronous loop (denoland/deno#35657).
      const end = Date.now() + (Number(arg) || 5_000);
      while (Date.now() < end) { /* busy */ }
      return;
    }
    case "exit":
      if (arg === "first" && attempt > 1) return;
      (globalThis as unknown as { process: { exit(code: number): never } }).process.exit(7);
      return;
    case "close": {
      // Deno: self.close() ends the worker silently unless runWorker() reports it.
      const scope = globalThis as unknown as { close?: () => void; process: { exit(code: number): never } };
      if (typeof scope.close === "function") scope.close();
      else scope.process.exit(0);
      return sleep(10_000, context.signal);
    }
    case "uncaught":
      setTimeout(() => {
        throw new Error("uncaught boom");
      }, 0);
      return sleep(10_000, context.signal);
    case "fail":
      throw new TypeError("bad record");
    case "attempt":
      throw new Error(`attempt=${attempt}`);
    case "whoami":
      throw new Error(`thread=${threadId}`);
    case "wait-abort": {
      const { signal } = context;
      await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
      throw new Error(`aborted: ${(signal.reason as Error).message}`);
    }
    case "late-signal":
      // Reads the signal only after the cancel arrived: it must already be aborted.
      await new Promise((resolve) => setTimeout(resolve, Number(arg)));
      throw new Error(
        `late: aborted=${context.signal.aborted} ${(context.signal.reason as Error | undefined)?.message}`,
      );
    case "bytes": {
      const sharedSize = Number(text(message.headers.get("shared-size")));
      checkBytes("key", message.key, arg === "null-key" ? null : `key-${text(message.headers.get("n"))}`, sharedSize);
      checkBytes("value", message.value, text(message.headers.get("expect")), sharedSize);
      checkBytes("header h2", message.headers.get("h2") ?? null, "second", sharedSize);
      if (message.offset !== 2n ** 60n + 5n || message.partition !== 3 || message.topic !== "bytes-topic") {
        throw new Error(`metadata: ${message.topic}[${message.partition}]@${message.offset}`);
      }
      return;
    }
    default:
      throw new Error(`unknown op ${JSON.stringify(op)}`);
  }
}
