// The token bucket and the start gate on virtual time: starts stay within rate × T + burst over
// every window (consumer-wide and per key), a throttled key does not hold up the others, a
// handler's pause holds every start until it ends, and one timer wakes the dispatcher.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { checkPauseMs } from "../../src/core/pause-duration.ts";
import { type RateLimitSettings, Throttle } from "../../src/core/control-plane/throttle.ts";
import { TokenBucket } from "../../src/core/token-bucket.ts";
import { Attempt } from "../../src/core/attempt.ts";
import { VirtualClock } from "../simulation/virtual-clock.ts";

const encoder = new TextEncoder();

interface Item {
  readonly message: { readonly key: Uint8Array | null };
  readonly partition: object;
  readonly name: string;
}

/** A dispatcher in miniature: ready items start in order while the gate lets them, with unlimited slots. */
class Harness {
  readonly time = new VirtualClock();
  readonly clock = this.time.clock("throttle");
  readonly ready: Item[] = [];
  readonly starts: { readonly item: Item; readonly at: number }[] = [];
  readonly throttle: Throttle<Item>;
  /** Most timers the throttle had pending at once. */
  maxTimers = 0;

  constructor(settings: RateLimitSettings | undefined) {
    this.throttle = new Throttle<Item>(settings, this.clock, (item) => this.ready.push(item), () => this.pump());
  }

  arrive(item: Item): void {
    this.ready.push(item);
    this.pump();
  }

  pump(): void {
    const now = this.clock.now();
    while (this.ready.length > 0) {
      if (this.throttle.engaged && !this.throttle.isOpen(now)) break;
      const item = this.ready.shift()!;
      if (this.throttle.admit(item, now)) this.starts.push({ item, at: now });
    }
    this.maxTimers = Math.max(this.maxTimers, this.time.pending("throttle"));
  }

  /** Runs virtual time until nothing is pending (or `deadline`). */
  async settle(deadline = 1e9): Promise<void> {
    await this.time.runUntil(() => this.time.pending("throttle") === 0 && this.ready.length === 0, deadline);
  }
}

const item = (name: string, key: string | null = null, partition: object = {}): Item => ({
  message: { key: key === null ? null : encoder.encode(key) },
  partition,
  name,
});

/** The most starts in any window of `windowMs` (inclusive), of start times sorted ascending. */
function exceeds(times: readonly number[], perSecond: number, burst: number): string | undefined {
  for (let i = 0; i < times.length; i++) {
    for (let j = i; j < times.length; j++) {
      const span = times[j]! - times[i]!;
      if (j - i + 1 > (perSecond * span) / 1000 + burst + 1e-6) {
        return `${j - i + 1} starts within ${span} ms (rate ${perSecond}/s, burst ${burst})`;
      }
    }
  }
  return undefined;
}

describe("TokenBucket", () => {
  test("starts full, refills continuously up to its burst, and says when the next token is due", () => {
    const bucket = new TokenBucket(10, 2, 0);
    assert.ok(bucket.has(0));
    bucket.take(0);
    bucket.take(0);
    assert.equal(bucket.has(0), false);
    assert.equal(bucket.availableAt(0), 100);
    assert.equal(bucket.availableAt(0, 1), 200, "one more taken now: the one after");
    assert.equal(bucket.has(99), false);
    assert.ok(bucket.has(100));
    assert.equal(bucket.tokens(10_000), 2, "never more than the burst");
    assert.ok(bucket.isFull(10_000));
  });

  test("a fractional rate: one token every two seconds", () => {
    const bucket = new TokenBucket(0.5, 1, 0);
    bucket.take(0);
    assert.equal(bucket.availableAt(0), 2000);
    assert.ok(bucket.has(2000));
  });
});

describe("Throttle", () => {
  test("without limits or pauses it is not engaged and admits everything", () => {
    const harness = new Harness(undefined);
    assert.equal(harness.throttle.engaged, false);
    for (let i = 0; i < 100; i++) harness.arrive(item(`m${i}`));
    assert.equal(harness.starts.length, 100);
    assert.equal(harness.time.pending(), 0);
  });

  test("the global bucket: a burst, then one start per token, woken by one timer on the clock", async () => {
    const harness = new Harness({ global: { messagesPerSecond: 100, burst: 5 } });
    for (let i = 0; i < 25; i++) harness.arrive(item(`m${i}`));
    assert.equal(harness.starts.length, 5, "the burst starts at once");
    assert.equal(harness.ready.length, 20, "the rest stay ready (queued), not started");
    assert.equal(harness.throttle.reason(harness.ready.length, 0), "rateLimit");
    assert.equal(harness.throttle.held(harness.ready.length, 0), 20);
    await harness.settle();
    assert.equal(harness.starts.length, 25);
    assert.deepEqual(harness.starts.slice(5).map((s) => s.at), Array.from({ length: 20 }, (_, i) => 10 * (i + 1)));
    assert.equal(harness.maxTimers, 1);
    assert.equal(harness.throttle.reason(0, harness.clock.now()), null, "nothing waits any more");
  });

  test("a throttled key is parked while the other keys go on", async () => {
    const harness = new Harness({ perKey: { messagesPerSecond: 10, burst: 1 } });
    const hot = {};
    const cold = {};
    for (let i = 0; i < 5; i++) harness.arrive(item(`hot${i}`, "hot", hot));
    for (let i = 0; i < 50; i++) harness.arrive(item(`cold${i}`, `k${i}`, cold));
    assert.deepEqual(harness.starts.map((s) => s.item.name).filter((name) => name.startsWith("hot")), ["hot0"]);
    assert.equal(harness.starts.filter((s) => s.item.name.startsWith("cold")).length, 50, "every other key started");
    assert.equal(harness.ready.length, 0, "the hot key's messages are parked, out of the ready queue");
    assert.equal(harness.throttle.held(0, 0), 4);
    assert.ok(harness.throttle.holds(hot));
    assert.equal(harness.throttle.partitionReason(hot, 0, 0), "rateLimit", "its partition only waits for tokens");
    assert.equal(harness.throttle.partitionReason(cold, 0, 0), null);
    assert.equal(harness.throttle.partitionReason(hot, 3, 0), null, "it has ready work that may start");
    await harness.settle();
    assert.deepEqual(harness.starts.filter((s) => s.item.name.startsWith("hot")).map((s) => s.at), [
      0,
      100,
      200,
      300,
      400,
    ]);
    assert.equal(harness.throttle.holds(hot), false);
    assert.equal(harness.maxTimers, 1);
  });

  test("messages without a key have no per-key limit", () => {
    const harness = new Harness({ perKey: { messagesPerSecond: 1, burst: 1 } });
    for (let i = 0; i < 10; i++) harness.arrive(item(`m${i}`));
    assert.equal(harness.starts.length, 10);
  });

  test("a handler's pause holds every start until it ends; the latest end wins", async () => {
    const harness = new Harness(undefined);
    harness.throttle.pause(100);
    harness.time.clock("other").setTimeout(() => harness.throttle.pause(20), 10);
    harness.time.clock("other").setTimeout(() => harness.throttle.pause(300), 50);
    harness.arrive(item("a"));
    assert.equal(harness.starts.length, 0);
    assert.equal(harness.throttle.reason(1, 0), "handlerPause");
    assert.equal(harness.throttle.partitionReason({}, 1, 0), "handlerPause");
    await harness.time.runUntil(() => harness.starts.length > 0, 1e6);
    assert.equal(harness.starts[0]!.at, 350, "the pause asked at 50 for 300 ms; the one of 20 did not shorten it");
    assert.equal(harness.throttle.reason(0, 350), null);
    await harness.settle();
    assert.equal(harness.throttle.engaged, false, "the pause is over: starts cost no clock read again");
  });

  test("a message admitted during a pause (the batch path) is parked and given back at its end", async () => {
    const harness = new Harness({ global: { messagesPerSecond: 1000, burst: 10 } });
    harness.throttle.pause(50);
    assert.equal(harness.throttle.admit(item("a"), 0), false);
    assert.equal(harness.throttle.held(0, 0), 1);
    await harness.settle();
    assert.deepEqual(harness.starts.map((s) => [s.item.name, s.at]), [["a", 50]]);
  });

  test("a batch that runs again: its first message passes or is parked as admit says, the others are borrowed", async () => {
    const harness = new Harness({
      global: { messagesPerSecond: 1, burst: 2 },
      perKey: { messagesPerSecond: 1, burst: 1 },
    });
    const [a, b, c] = [item("a", "x"), item("b", "y"), item("c", "z")];
    assert.equal(harness.throttle.admitAgain(a, [a, b, c], 0), true, "a took the tokens there are, b and c borrowed");
    // The global bucket is 2 − 3 = −1: the next start waits 2 s for it.
    harness.arrive(item("d", "w"));
    await harness.settle();
    assert.deepEqual(harness.starts.map((s) => [s.item.name, s.at]), [["d", 2000]]);
    // Key y borrowed (1 − 1 = 0): a batch led by y waits for y's next token, whole.
    const e = item("e", "y");
    assert.equal(harness.throttle.admitAgain(e, [e, item("f", "v")], 2000), false, "parked behind its key's token");
    assert.equal(harness.throttle.held(0, 2000), 1, "only its first message is parked: it stands for the batch");
  });

  test("stop() clears the timer", () => {
    const harness = new Harness({ global: { messagesPerSecond: 1, burst: 1 } });
    harness.arrive(item("a"));
    harness.arrive(item("b"));
    assert.equal(harness.time.pending("throttle"), 1);
    harness.throttle.stop();
    assert.equal(harness.time.pending("throttle"), 0);
  });

  test("property: over random arrivals, starts in any window of T stay within rate × T + burst, globally and per key", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          globalRate: fc.option(fc.double({ min: 0.5, max: 2000, noNaN: true }), { nil: undefined }),
          globalBurst: fc.integer({ min: 1, max: 20 }),
          keyRate: fc.option(fc.double({ min: 0.5, max: 500, noNaN: true }), { nil: undefined }),
          keyBurst: fc.integer({ min: 1, max: 5 }),
          arrivals: fc.array(
            fc.record({ at: fc.integer({ min: 0, max: 3000 }), key: fc.option(fc.integer({ min: 0, max: 4 })) }),
            { minLength: 1, maxLength: 80 },
          ),
          pauses: fc.array(fc.record({ at: fc.integer({ min: 0, max: 3000 }), ms: fc.integer({ min: 0, max: 500 }) }), {
            maxLength: 3,
          }),
        }),
        async ({ globalRate, globalBurst, keyRate, keyBurst, arrivals, pauses }) => {
          const settings: RateLimitSettings = {
            global: globalRate === undefined ? undefined : { messagesPerSecond: globalRate, burst: globalBurst },
            perKey: keyRate === undefined ? undefined : { messagesPerSecond: keyRate, burst: keyBurst },
          };
          const harness = new Harness(settings);
          const driver = harness.time.clock("driver");
          const pauseWindows: [number, number][] = [];
          for (const { at, ms } of pauses) {
            driver.setTimeout(() => {
              harness.throttle.pause(ms);
              pauseWindows.push([at, at + ms]);
            }, at);
          }
          arrivals.forEach(({ at, key }, i) => {
            driver.setTimeout(() => harness.arrive(item(`m${i}`, key === null ? null : `k${key}`)), at);
          });
          await harness.time.runUntil(() => false, 1e9);
          assert.equal(harness.starts.length, arrivals.length, "every message started in the end");
          assert.ok(harness.maxTimers <= 1, `${harness.maxTimers} timers at once`);
          const times = harness.starts.map((s) => s.at);
          if (globalRate !== undefined) assert.equal(exceeds(times, globalRate, globalBurst), undefined);
          if (keyRate !== undefined) {
            for (let key = 0; key < 5; key++) {
              const keyTimes = harness.starts.filter((s) => keyOf(s.item) === `k${key}`).map((s) => s.at);
              assert.equal(exceeds(keyTimes, keyRate, keyBurst), undefined, `key k${key}`);
            }
          }
          for (const { at } of harness.starts) {
            for (const [from, to] of pauseWindows) {
              assert.ok(!(at > from && at < to), `a start at ${at} in a pause ${from}–${to}`);
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe("context.pause(ms)", () => {
  test("a bad duration throws a TypeError naming the fix; a good one reaches the hook", () => {
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, "100", undefined]) {
      assert.throws(() => checkPauseMs(bad), (error: unknown) => {
        assert.ok(error instanceof TypeError);
        assert.match(error.message, /context\.pause\(ms\) needs .*finite number of 0 or more/);
        return true;
      });
    }
    const attempt = new Attempt(1, 0);
    const asked: number[] = [];
    attempt.onPause = (ms) => asked.push(ms);
    attempt.pause(250);
    attempt.pause(0);
    assert.deepEqual(asked, [250], "0 asks for nothing");
    assert.throws(() => attempt.pause(-5), TypeError);
  });
});

const decoder = new TextDecoder();
function keyOf(item: Item): string | null {
  return item.message.key === null ? null : decoder.decode(item.message.key);
}
