// The async engine on its own: concurrency slots, handler timeouts in virtual time, and whatever a
// handler returns or throws (a value, a promise, a thenable, a synchronous throw).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Attempt } from "../../src/core/attempt.ts";
import type { Clock, Timer } from "../../src/core/clock.ts";
import { HandlerTimeoutError } from "../../src/core/errors.ts";
import type { ConsumerMessage, MessageHandler } from "../../src/core/message.ts";
import { AsyncEngine } from "../../src/engines/async-engine.ts";
import { flushMicrotasks, VirtualClock } from "../simulation/virtual-clock.ts";
import { attemptOutcome } from "../support/engine-outcome.ts";

const message: ConsumerMessage = {
  topic: "t",
  partition: 0,
  offset: 0n,
  key: null,
  value: null,
  headers: new Map(),
  timestamp: 0,
};

/** A promise's outcome, readable synchronously. */
function observe(promise: Promise<unknown>): { settled: boolean; error: unknown } {
  const outcome = { settled: false, error: undefined as unknown };
  promise.then(() => (outcome.settled = true), (error: unknown) => Object.assign(outcome, { settled: true, error }));
  return outcome;
}

/** A handler whose calls finish when the test says so. */
function gatedHandler() {
  const gates: { resolve: () => void; reject: (error: unknown) => void; context: { signal: AbortSignal } }[] = [];
  const handler: MessageHandler = (_message, context) =>
    new Promise<void>((resolve, reject) => gates.push({ resolve, reject, context }));
  return { handler, gates };
}

/** A clock the test moves by hand (`now`); its timers wait in `timers` until the test fires them. */
function handClock(start: number): { now: number; timers: (() => void)[]; clock: Clock } {
  const timers: (() => void)[] = [];
  const hand = {
    now: start,
    timers,
    clock: {
      now: (): number => hand.now,
      setTimeout: (callback: () => void): Timer => {
        timers.push(callback);
        return {} as Timer;
      },
      clearTimeout: () => {},
    } as Clock,
  };
  return hand;
}

describe("AsyncEngine", () => {
  test("runs at most `concurrency` handlers: idleSlots counts them down and back up", async () => {
    const { handler, gates } = gatedHandler();
    const engine = new AsyncEngine(handler, { concurrency: 3 });
    await engine.start();
    assert.equal(engine.idleSlots, 3);
    const runs = [0, 1].map(() => observe(attemptOutcome(engine, message, new Attempt(1, 0))));
    assert.equal(engine.idleSlots, 1);
    gates[0]!.resolve();
    await flushMicrotasks();
    assert.deepEqual(runs.map((run) => run.settled), [true, false]);
    assert.equal(engine.idleSlots, 2);
    gates[1]!.reject(new Error("nope"));
    await flushMicrotasks();
    assert.match(String(runs[1]!.error), /nope/);
    assert.equal(engine.idleSlots, 3, "a rejection frees its slot too");
    await engine.close();
  });

  test("a handler that returns a value (not a thenable) is done at once and holds no slot", async () => {
    const results: unknown[] = [undefined, 42, "text", null, { then: "not a function" }];
    let next = 0;
    const engine = new AsyncEngine(() => results[next++] as void, { concurrency: 1 });
    const ends: boolean[] = [];
    for (let i = 0; i < results.length; i++) {
      // Started now on the engine's clock (the system's): a slice of synchronous handlers starts here.
      engine.execute(message, new Attempt(1, performance.now()), (_, failed) => ends.push(failed));
      assert.equal(engine.idleSlots, 1, "its slot is free as it returns");
    }
    await flushMicrotasks();
    assert.deepEqual(ends, results.map(() => false));
  });

  test("synchronous handlers back to back yield the event loop every 50 ms: the slice's last one holds its slot until a timer", async () => {
    // A clock the handlers move: each takes 10 ms of CPU. Timers wait in a list until fired.
    const hand = handClock(1000);
    const { clock, timers } = hand;
    let calls = 0;
    const engine = new AsyncEngine(() => {
      calls++;
      hand.now += 10;
    }, { concurrency: 2, clock });
    const settled: number[] = [];
    // As the dispatcher does: start while there is room, each attempt stamped with its start.
    while (engine.idleSlots > 0 && calls < 20) {
      const index = calls;
      void attemptOutcome(engine, message, new Attempt(1, clock.now())).then(() => settled.push(index));
    }
    assert.equal(calls, 5, "50 ms of handlers, then no room");
    assert.equal(engine.idleSlots, 0);
    await flushMicrotasks();
    assert.deepEqual(settled, [0, 1, 2, 3], "the fifth waits for a timer");
    assert.equal(timers.length, 2, "the slice's own timer (set by its first handler), then the fifth's");
    for (const fire of timers.splice(0)) fire();
    await flushMicrotasks();
    assert.deepEqual(settled, [0, 1, 2, 3, 4]);
    assert.equal(engine.idleSlots, 2, "a new slice may start");
    // The loop turned: the next handler starts a slice of its own (and sets its timer).
    hand.now += 5;
    void attemptOutcome(engine, message, new Attempt(1, clock.now()));
    assert.deepEqual([engine.idleSlots, timers.length], [2, 1]);
  });

  // A slice ended when a millisecond passed between two handlers: the consumer's own work between
  // them (decoding a response, a commit, a garbage collection) began a new one while the loop
  // stayed blocked, so the loop was never yielded.
  test("the consumer's own work between synchronous handlers counts: the loop is yielded 50 ms after the slice began", async () => {
    const hand = handClock(1000);
    const { clock, timers } = hand;
    const engine = new AsyncEngine(() => {
      hand.now += 0.01;
    }, { concurrency: 1, clock });
    const settled: number[] = [];
    for (let index = 0; index < 20 && engine.idleSlots > 0; index++) {
      hand.now += 5; // the consumer's work before this handler, without the loop turning
      void attemptOutcome(engine, message, new Attempt(1, clock.now())).then(() => settled.push(index));
      await flushMicrotasks();
    }
    assert.equal(settled.length, 10, "ten handlers 5 ms apart, then the slice is over");
    assert.equal(engine.idleSlots, 0, "the last one holds its slot until the loop turned");
    for (const fire of timers.splice(0)) fire();
    await flushMicrotasks();
    assert.deepEqual([settled.length, engine.idleSlots], [11, 1]);
  });

  test("a handler that throws synchronously: the attempt fails later (execute() never throws) and frees the slot", async () => {
    const thrown = new TypeError("bad record");
    const engine = new AsyncEngine(() => {
      throw thrown;
    }, { concurrency: 2 });
    const ends: [boolean, unknown][] = [];
    assert.doesNotThrow(() =>
      engine.execute(message, new Attempt(1, 0), (_, failed, error) => ends.push([failed, error]))
    );
    // Not told inside execute(): the caller's own bookkeeping for the attempt comes first.
    assert.deepEqual(ends, []);
    assert.equal(engine.idleSlots, 2);
    await flushMicrotasks();
    assert.deepEqual(ends, [[true, thrown]]);
  });

  test("thenables are adopted: resolved, rejected, a throwing `then`, a throwing `then` getter", async () => {
    const handlers: (() => unknown)[] = [
      () => ({ then: (resolve: () => void) => setTimeout(resolve, 1) }),
      () => ({ then: (_: unknown, reject: (error: Error) => void) => reject(new RangeError("rejected thenable")) }),
      () => ({
        then() {
          throw new RangeError("then threw");
        },
      }),
      () => ({
        get then(): never {
          throw new RangeError("then getter threw");
        },
      }),
    ];
    let next = 0;
    const engine = new AsyncEngine(() => handlers[next++]!() as void, { concurrency: 4 });
    const runs = handlers.map(() =>
      attemptOutcome(engine, message, new Attempt(1, 0)).then(() => "ok", (error: Error) => error.message)
    );
    assert.deepEqual(await Promise.all(runs), ["ok", "rejected thenable", "then threw", "then getter threw"]);
    assert.equal(engine.idleSlots, 4);
  });

  test("a thenable that never calls back keeps its slot, like a promise that never settles", async () => {
    const engine = new AsyncEngine(() => ({ then() {} }) as unknown as void, { concurrency: 1 });
    const run = observe(attemptOutcome(engine, message, new Attempt(1, 0)));
    await flushMicrotasks();
    assert.equal(run.settled, false);
    assert.equal(engine.idleSlots, 0);
  });

  test("handlerTimeoutMs aborts the attempt with HandlerTimeoutError; a handler that honours its signal rejects with it", async () => {
    const time = new VirtualClock();
    const clock = time.clock("async-engine");
    const { handler, gates } = gatedHandler();
    const engine = new AsyncEngine(handler, { concurrency: 2, handlerTimeoutMs: 500, clock });
    const attempt = new Attempt(1, 0);
    const run = observe(attemptOutcome(engine, message, attempt));
    const gate = gates[0]!;
    gate.context.signal.addEventListener("abort", () => gate.reject(gate.context.signal.reason));
    await time.runUntil(() => run.settled, 10_000);
    assert.equal(time.now, 500);
    assert.ok(run.error instanceof HandlerTimeoutError);
    assert.equal(run.error.timeoutMs, 500);
    assert.equal(run.error.code, "PYRALLEL_HANDLER_TIMEOUT");
    assert.equal(attempt.reason, run.error, "the attempt says why it ended");
    assert.equal(engine.idleSlots, 2);
    assert.equal(time.pending(), 0);
  });

  test("a handler that ignores its signal keeps its slot until it returns; the attempt stays aborted", async () => {
    const time = new VirtualClock();
    const { handler, gates } = gatedHandler();
    const engine = new AsyncEngine(handler, {
      concurrency: 1,
      handlerTimeoutMs: 100,
      clock: time.clock("async-engine"),
    });
    const attempt = new Attempt(1, 0);
    const run = observe(attemptOutcome(engine, message, attempt));
    await time.runUntil(() => attempt.aborted, 10_000);
    assert.ok(attempt.reason instanceof HandlerTimeoutError);
    assert.equal(run.settled, false);
    assert.equal(engine.idleSlots, 0);
    gates[0]!.resolve();
    await flushMicrotasks();
    assert.deepEqual(run, { settled: true, error: undefined }, "the engine reports what the handler did");
    assert.equal(engine.idleSlots, 1);
  });

  test("a handler that finishes in time clears its timer; close() clears those of handlers that never return", async () => {
    const time = new VirtualClock();
    const { handler, gates } = gatedHandler();
    const engine = new AsyncEngine(handler, {
      concurrency: 2,
      handlerTimeoutMs: 1_000,
      clock: time.clock("async-engine"),
    });
    const quick = observe(attemptOutcome(engine, message, new Attempt(1, 0)));
    const stuck = new Attempt(1, 0);
    observe(attemptOutcome(engine, message, stuck));
    gates[0]!.resolve();
    await flushMicrotasks();
    assert.equal(quick.settled, true);
    assert.equal(time.pending(), 1, "only the stuck handler's timer is left");
    await engine.close();
    assert.equal(time.pending(), 0);
    assert.equal(stuck.aborted, false, "close() does not abort: the control plane decides that");
  });
});
