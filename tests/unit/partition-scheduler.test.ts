import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { laneOf, type Ordering, PartitionScheduler } from "../../src/core/partition-scheduler.ts";

/** A work item as the control plane builds it: its lane comes from `laneOf`. */
interface Item {
  readonly id: string;
  readonly lane: string | null;
}

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

/** Items named "<key><n>" ("a1", "b2"), or "-<n>" for a null key, with their lane for `ordering`. */
function items(ordering: Ordering, ...ids: string[]): Item[] {
  return ids.map((id) => ({ id, lane: laneOf(ordering, id.startsWith("-") ? null : bytes(id.slice(0, 1))) }));
}

/** Ids handed out by `next()` until it returns undefined. */
function drainReady(scheduler: PartitionScheduler<Item>): string[] {
  const out: string[] = [];
  for (let item = scheduler.next(); item !== undefined; item = scheduler.next()) out.push(item.id);
  return out;
}

const charCodes = (text: string): number[] => Array.from(text, (char) => char.charCodeAt(0));

const counts = (scheduler: PartitionScheduler<Item>) => ({
  ready: scheduler.readyCount,
  queued: scheduler.queuedCount,
});

describe("laneOf", () => {
  test("null keys: no lane in key and unordered mode, the partition's single lane in partition mode", () => {
    assert.equal(laneOf("key", null), null);
    assert.equal(laneOf("unordered", null), null);
    assert.equal(laneOf("partition", null), "");
  });

  test("a key is its own lane in key mode; partition mode ignores it; unordered has no lanes", () => {
    assert.equal(laneOf("key", bytes("abc")), "abc");
    assert.equal(laneOf("partition", bytes("abc")), "");
    assert.equal(laneOf("unordered", bytes("abc")), null);
    // An empty key is a key (ordered with other empty keys), unlike a null key.
    assert.equal(laneOf("key", new Uint8Array(0)), "");
  });

  // Distinct keys must never share a lane (that would serialize them) and equal keys must (ordering).
  test("property: in key mode the lane is one char per key byte, so equal lanes mean equal keys", () => {
    const key = fc.uint8Array({ maxLength: 40, size: "max" });
    fc.assert(
      fc.property(key, key, (a, b) => {
        assert.deepEqual(charCodes(laneOf("key", a)!), [...a]);
        const sameBytes = a.length === b.length && a.every((byte, i) => byte === b[i]);
        assert.equal(laneOf("key", b) === laneOf("key", a), sameBytes);
      }),
      { numRuns: 500 },
    );
  });

  // Long keys take other conversion paths (apply, then 4096-byte chunks): no byte may be lost there.
  test("long keys: every byte is in the lane, so keys differing in their last byte get different lanes", () => {
    for (const length of [16, 17, 4096, 4097, 9000]) {
      const a = Uint8Array.from({ length }, (_, i) => (i * 31 + 7) & 0xff);
      assert.deepEqual(charCodes(laneOf("key", a)!), [...a], `length ${length}`);
      const b = a.slice();
      b[length - 1] = a[length - 1]! ^ 0x80;
      assert.notEqual(laneOf("key", a), laneOf("key", b), `length ${length}`);
      assert.equal(laneOf("key", a), laneOf("key", a.slice()), `length ${length}`);
    }
  });
});

describe("PartitionScheduler", () => {
  test("key mode: one item per key at a time in enqueue order, keys in parallel, null keys unordered", () => {
    const scheduler = new PartitionScheduler<Item>();
    const [a1, b1, a2, n1, a3, n2, b2] = items("key", "a1", "b1", "a2", "-1", "a3", "-2", "b2");
    for (const item of [a1, b1, a2, n1, a3, n2, b2]) scheduler.enqueue(item!);
    assert.deepEqual(counts(scheduler), { ready: 4, queued: 7 });
    assert.deepEqual(drainReady(scheduler), ["a1", "b1", "-1", "-2"]);
    assert.deepEqual(counts(scheduler), { ready: 0, queued: 3 });

    scheduler.release(n1!); // no lane: releasing it frees nothing
    assert.deepEqual(counts(scheduler), { ready: 0, queued: 3 });
    scheduler.release(a1!);
    assert.deepEqual(counts(scheduler), { ready: 1, queued: 3 });
    scheduler.release(b1!);
    assert.deepEqual(drainReady(scheduler), ["a2", "b2"]);
    scheduler.release(b2!);
    assert.deepEqual(drainReady(scheduler), [], "a3 waits for a2");
    scheduler.release(a2!);
    assert.deepEqual(drainReady(scheduler), ["a3"]);
    scheduler.release(a3!);
    assert.deepEqual(counts(scheduler), { ready: 0, queued: 0 });
  });

  test("lanes take turns: a released lane's next item queues behind the items already ready", () => {
    const scheduler = new PartitionScheduler<Item>();
    const [a1, a2, a3, b1, c1] = items("key", "a1", "a2", "a3", "b1", "c1");
    for (const item of [a1, a2, a3, b1, c1]) scheduler.enqueue(item!);
    assert.equal(scheduler.next(), a1);
    scheduler.release(a1!);
    assert.deepEqual(drainReady(scheduler), ["b1", "c1", "a2"]);
  });

  test("retry: the item runs again before later items of its key, behind the items already ready", () => {
    const scheduler = new PartitionScheduler<Item>();
    const [a1, a2, b1] = items("key", "a1", "a2", "b1");
    for (const item of [a1, a2, b1]) scheduler.enqueue(item!);
    assert.equal(scheduler.next(), a1);
    scheduler.retry(a1!);
    assert.deepEqual(counts(scheduler), { ready: 2, queued: 3 });
    assert.deepEqual(drainReady(scheduler), ["b1", "a1"], "a2 still waits: a1's lane stays busy");
    scheduler.release(a1!);
    assert.deepEqual(drainReady(scheduler), ["a2"]);
  });

  test("nextMatching takes a ready item out of turn, never one waiting for its key", () => {
    const scheduler = new PartitionScheduler<Item>();
    const [a1, a2, b1, c1] = items("key", "a1", "a2", "b1", "c1");
    for (const item of [a1, a2, b1, c1]) scheduler.enqueue(item!);
    assert.equal(scheduler.nextMatching((item) => item.id === "a2"), undefined);
    assert.deepEqual(counts(scheduler), { ready: 3, queued: 4 });
    assert.equal(scheduler.nextMatching((item) => item.id === "c1"), c1);
    assert.deepEqual(counts(scheduler), { ready: 2, queued: 3 });
    assert.deepEqual(drainReady(scheduler), ["a1", "b1"]);
  });

  test("partition mode: one item at a time, in enqueue order, whatever the keys", () => {
    const scheduler = new PartitionScheduler<Item>();
    const [a1, n1, b1, a2] = items("partition", "a1", "-1", "b1", "a2");
    for (const item of [a1, n1, b1, a2]) scheduler.enqueue(item!);
    assert.deepEqual(counts(scheduler), { ready: 1, queued: 4 });
    assert.deepEqual(drainReady(scheduler), ["a1"]);
    scheduler.release(a1!);
    assert.deepEqual(drainReady(scheduler), ["-1"], "a null key takes its turn too");
    scheduler.release(n1!);
    assert.deepEqual(drainReady(scheduler), ["b1"]);
    scheduler.retry(b1!);
    assert.deepEqual(counts(scheduler), { ready: 1, queued: 2 });
    assert.deepEqual(drainReady(scheduler), ["b1"], "the retried item, not a2");
    scheduler.release(b1!);
    assert.deepEqual(drainReady(scheduler), ["a2"]);
    scheduler.release(a2!);
    assert.deepEqual(counts(scheduler), { ready: 0, queued: 0 });
  });

  test("unordered mode: everything is ready at once, handed out in enqueue order", () => {
    const scheduler = new PartitionScheduler<Item>();
    for (const item of items("unordered", "a1", "a2", "-1", "a3")) scheduler.enqueue(item);
    assert.deepEqual(counts(scheduler), { ready: 4, queued: 4 });
    assert.deepEqual(drainReady(scheduler), ["a1", "a2", "-1", "a3"]);
  });

  test("null keys in each mode: in parallel for key and unordered, one at a time for partition", () => {
    for (const [ordering, ready] of [["key", 2], ["unordered", 2], ["partition", 1]] as const) {
      const scheduler = new PartitionScheduler<Item>();
      for (const item of items(ordering, "-1", "-2")) scheduler.enqueue(item);
      assert.equal(scheduler.readyCount, ready, ordering);
      assert.equal(scheduler.queuedCount, 2, ordering);
    }
  });

  for (const ordering of ["key", "partition", "unordered"] as const) {
    // The ordering guarantee itself: exclusive lanes, per-lane order, exact counts, nothing lost.
    test(`property (${ordering} mode): random enqueue/next/nextMatching/release/retry match a simple model`, () => {
      fc.assert(
        // size "max": without it fast-check keeps arrays to about 10 elements, whatever maxLength says.
        fc.property(fc.array(opArbitrary, { maxLength: 150, size: "max" }), (ops) => runScenario(ordering, ops)),
        { numRuns: 300 },
      );
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Property harness
// ---------------------------------------------------------------------------------------------

/** A few keys, including an empty one (a lane of its own in key mode) and null. */
const KEYS: (Uint8Array | null)[] = [bytes("a"), bytes("b"), new Uint8Array([0xff, 0x00]), new Uint8Array(0), null];

type Op =
  | { readonly kind: "enqueue"; readonly key: number }
  | { readonly kind: "next" }
  | { readonly kind: "nextMatching"; readonly target: "ready" | "waiting"; readonly pick: number }
  | { readonly kind: "release"; readonly pick: number }
  | { readonly kind: "retry"; readonly pick: number };

const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("enqueue" as const), key: fc.nat({ max: KEYS.length - 1 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("next" as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("nextMatching" as const),
      target: fc.constantFrom("ready" as const, "waiting" as const),
      pick: fc.nat(),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("release" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("retry" as const), pick: fc.nat() }) },
);

interface ModelItem extends Item {
  readonly seq: number;
}

/**
 * What the scheduler should do, by brute force: an item is ready when no earlier unreleased item of
 * its lane exists and it is not running; ready items go out in the order they became ready.
 */
class Model {
  readonly items: ModelItem[] = [];
  readonly state = new Map<ModelItem, "waiting" | "ready" | "running" | "done">();
  /** When each ready item became ready: the ready queue is FIFO over this. */
  readonly readySince = new Map<ModelItem, number>();
  #clock = 0;

  enqueue(item: ModelItem): void {
    this.items.push(item);
    const blocked = item.lane !== null &&
      this.items.some((o) => o !== item && o.lane === item.lane && this.state.get(o) !== "done");
    if (blocked) this.state.set(item, "waiting");
    else this.#makeReady(item);
  }

  take(item: ModelItem): void {
    this.state.set(item, "running");
    this.readySince.delete(item);
  }

  release(item: ModelItem): void {
    this.state.set(item, "done");
    if (item.lane === null) return;
    const next = this.items.find((o) => o.lane === item.lane && this.state.get(o) === "waiting");
    if (next) this.#makeReady(next);
  }

  retry(item: ModelItem): void {
    this.#makeReady(item);
  }

  /** Ready items in the order the scheduler must hand them out. */
  ready(): ModelItem[] {
    return [...this.readySince.entries()].sort((x, y) => x[1] - y[1]).map(([item]) => item);
  }

  inState(state: "waiting" | "running"): ModelItem[] {
    return this.items.filter((item) => this.state.get(item) === state);
  }

  #makeReady(item: ModelItem): void {
    this.state.set(item, "ready");
    this.readySince.set(item, this.#clock++);
  }
}

function runScenario(ordering: Ordering, ops: readonly Op[]): void {
  const scheduler = new PartitionScheduler<ModelItem>();
  const model = new Model();
  /** Handed out and not released (running, or put back by retry): their lanes are busy. */
  const outstanding = new Set<ModelItem>();
  const released = new Set<ModelItem>();

  /** Checks an item the scheduler just handed out against the ordering rules, independently of the model. */
  const handedOut = (item: ModelItem): void => {
    assert.ok(!released.has(item), `${item.id} handed out after its release`);
    if (item.lane !== null) {
      for (const other of outstanding) {
        assert.ok(
          other === item || other.lane !== item.lane,
          `${item.id} handed out while ${other.id} of its lane is out`,
        );
      }
      for (const earlier of model.items) {
        if (earlier.seq < item.seq && earlier.lane === item.lane) {
          assert.ok(released.has(earlier), `${item.id} handed out before ${earlier.id} of its lane was released`);
        }
      }
    }
    outstanding.add(item);
    model.take(item);
  };

  const check = (): void => {
    const ready = model.ready().length;
    assert.equal(scheduler.readyCount, ready);
    assert.equal(scheduler.queuedCount, ready + model.inState("waiting").length);
    if (ordering === "unordered") assert.equal(scheduler.readyCount, scheduler.queuedCount);
    if (ordering === "partition") assert.ok(outstanding.size <= 1, "partition mode: one item out at a time");
  };

  for (const op of ops) {
    switch (op.kind) {
      case "enqueue": {
        const seq = model.items.length;
        const key = KEYS[op.key]!;
        const item: ModelItem = {
          id: `${op.key === KEYS.length - 1 ? "-" : op.key}#${seq}`,
          lane: laneOf(ordering, key),
          seq,
        };
        scheduler.enqueue(item);
        model.enqueue(item);
        break;
      }
      case "next": {
        const expected = model.ready()[0];
        const item = scheduler.next();
        assert.equal(item, expected);
        if (item) handedOut(item);
        break;
      }
      case "nextMatching": {
        const candidates = op.target === "ready" ? model.ready() : model.inState("waiting");
        if (candidates.length === 0) break;
        const wanted = candidates[op.pick % candidates.length]!;
        const item = scheduler.nextMatching((candidate) => candidate === wanted);
        // A waiting item is never handed out, even when asked for by name.
        assert.equal(item, op.target === "ready" ? wanted : undefined);
        if (item) handedOut(item);
        break;
      }
      case "release":
      case "retry": {
        const running = model.inState("running");
        if (running.length === 0) break;
        const item = running[op.pick % running.length]!;
        if (op.kind === "retry") {
          scheduler.retry(item);
          model.retry(item);
        } else {
          scheduler.release(item);
          model.release(item);
          outstanding.delete(item);
          released.add(item);
        }
        break;
      }
    }
    check();
  }

  // Liveness: releasing whatever runs and draining the rest hands out every item, none twice after release.
  for (const item of model.inState("running")) {
    scheduler.release(item);
    model.release(item);
    outstanding.delete(item);
    released.add(item);
  }
  for (let item = scheduler.next(); item !== undefined; item = scheduler.next()) {
    assert.equal(item, model.ready()[0]);
    handedOut(item);
    scheduler.release(item);
    model.release(item);
    outstanding.delete(item);
    released.add(item);
    check();
  }
  assert.equal(scheduler.queuedCount, 0);
  assert.equal(released.size, model.items.length, "every enqueued item was handed out and released");
}
