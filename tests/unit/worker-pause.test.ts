// context.pause(ms) from a worker handler, in virtual time on fake threads: the pause reaches the
// main side's attempt (and so the consumer's throttle) before the task's result, and no queued
// task starts during it, neither in the pausing worker nor in the others.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Attempt } from "../../src/core/attempt.ts";
import type { ConsumerMessage } from "../../src/core/message.ts";
import { WorkerEngine } from "../../src/engines/worker/worker-engine.ts";
import { fakeSpawn } from "../simulation/fake-worker-thread.ts";
import { VirtualClock } from "../simulation/virtual-clock.ts";
import { attemptOutcome } from "../support/engine-outcome.ts";

const LOAD_MS = 10;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function messageOf(name: string): ConsumerMessage {
  return {
    topic: "t",
    partition: 0,
    offset: 0n,
    key: null,
    value: encoder.encode(name),
    headers: new Map(),
    timestamp: 0,
  };
}

describe("context.pause(ms) in the worker engine", () => {
  test("reaches the main side at once and holds every worker's queued tasks until it ends", async () => {
    const time = new VirtualClock();
    const clock = time.clock("engine");
    const starts = new Map<string, number>();
    const spawn = fakeSpawn(clock, () => ({
      loadMs: LOAD_MS,
      loads: true,
      handle: async (message, context) => {
        const name = decoder.decode(message.value!);
        starts.set(name, time.now);
        if (name === "pauser") context.pause(200);
        await new Promise<void>((resolve) => clock.setTimeout(resolve, 5));
      },
    }));
    const engine = new WorkerEngine({
      module: "file:///fake-worker.ts",
      workers: 2,
      concurrencyPerWorker: 1,
      maxBatchSize: 64,
      clock,
      spawn,
    });
    await Promise.all([engine.start(), time.runUntil(() => false, LOAD_MS * 2)]);
    const pauses: { at: number; ms: number }[] = [];
    const run = (name: string) => {
      const attempt = new Attempt(1, time.now);
      attempt.onPause = (ms) => pauses.push({ at: time.now, ms });
      let settledAt = NaN;
      void attemptOutcome(engine, messageOf(name), attempt).then(() => (settledAt = time.now));
      return () => settledAt;
    };
    // Each worker gets a running task and queued ones (two per worker at concurrency 1 before any report).
    const settled = ["pauser", "a", "b", "c"].map(run);
    await time.runUntil(() => settled.every((at) => !Number.isNaN(at())), 10_000);
    assert.equal(pauses.length, 1);
    assert.deepEqual(pauses[0]!.ms, 200);
    const pausedAt = starts.get("pauser")!;
    assert.ok(pauses[0]!.at < settled[0]!(), "the pause arrived before the pausing task's result");
    for (const name of ["a", "b", "c"]) {
      const at = starts.get(name)!;
      assert.ok(at <= pausedAt || at >= pausedAt + 200, `${name} started at ${at}, inside the pause from ${pausedAt}`);
    }
    assert.ok(
      ["a", "b", "c"].some((name) => starts.get(name)! >= pausedAt + 200),
      "queued tasks waited for the pause's end",
    );
    await engine.close();
    await time.runUntil(() => false, time.now + 1000);
    assert.equal(time.pending(), 0, "no timer left behind");
  });
});
