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

/** Admits every admissible item; returns their ids in admission order. */
function admitAll(scheduler: PartitionScheduler<Item>): string[] {
  const out: string[] = [];
  for (let item = scheduler.admit(); item !== undefined; item = scheduler.admit()) out.push(item.id);
  return out;
}

const counts = (scheduler: PartitionScheduler<Item>) => ({
  ready: scheduler.readyCount,
  admissible: scheduler.admissibleCount,
  buffered: scheduler.bufferedCount,
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
    assert.deepEqual(counts(scheduler), { ready: 0, admissible: 4, buffered: 7 });
    assert.deepEqual(drainReady(scheduler), [], "nothing is ready before it is admitted");
    assert.deepEqual(admitAll(scheduler), ["a1", "b1", "-1", "-2"]);
    assert.deepEqual(counts(scheduler), { ready: 4, admissible: 0, buffered: 3 });
    assert.deepEqual(drainReady(scheduler), ["a1", "b1", "-1", "-2"]);
    assert.deepEqual(counts(scheduler), { ready: 0, admissible: 0, buffered: 3 });

    scheduler.release(n1!); // no lane: releasing it frees nothing
    assert.deepEqual(counts(scheduler), { ready: 0, admissible: 0, buffered: 3 });
    scheduler.release(a1!);
    assert.deepEqual(counts(scheduler), { ready: 0, admissible: 1, buffered: 3 }, "a2 admissible, not ready");
    scheduler.release(b1!);
    assert.deepEqual(admitAll(scheduler), ["a2", "b2"]);
    assert.deepEqual(drainReady(scheduler), ["a2", "b2"]);
    scheduler.release(b2!);
    assert.deepEqual(admitAll(scheduler), [], "a3 waits for a2");
    scheduler.release(a2!);
    assert.deepEqual(admitAll(scheduler), ["a3"]);
    assert.deepEqual(drainReady(scheduler), ["a3"]);
    scheduler.release(a3!);
    assert.deepEqual(counts(scheduler), { ready: 0, admissible: 0, buffered: 0 });
  });

  test("admission: only the first item of a lane is admissible; release makes the next admissible, not ready", () => {
    const scheduler = new PartitionScheduler<Item>();
    const [a1, a2, a3] = items("key", "a1", "a2", "a3");
    for (const item of [a1, a2, a3]) scheduler.enqueue(item!);
    assert.deepEqual(counts(scheduler), { ready: 0, admissible: 1, buffered: 3 });
    assert.equal(scheduler.admit(), a1);
    assert.equal(scheduler.admit(), undefined, "a2 waits behind a1, admitted or not started");
    assert.deepEqual(counts(scheduler), { ready: 1, admissible: 0, buffered: 2 });
    assert.equal(scheduler.next(), a1);
    assert.equal(scheduler.admit(), undefined, "a1 runs: its lane is busy");
    scheduler.release(a1!);
    assert.deepEqual(counts(scheduler), { ready: 0, admissible: 1, buffered: 2 });
    assert.equal(scheduler.next(), undefined, "admissible is not ready: it needs room in the window first");
    assert.equal(scheduler.admit(), a2);
    assert.equal(scheduler.next(), a2);
    scheduler.release(a2!);
    assert.equal(scheduler.admit(), a3);
    assert.deepEqual(counts(scheduler), { ready: 1, admissible: 0, buffered: 0 });
  });

  test("lanes take turns: a released lane's next item is admitted behind the items already admissible", () => {
    const scheduler = new PartitionScheduler<Item>();
    const [a1, a2, a3, b1, c1] = items("key", "a1", "a2", "a3", "b1", "c1");
    for (const item of [a1, a2, a3, b1, c1]) scheduler.enqueue(item!);
    assert.equal(scheduler.admit(), a1);
    assert.equal(scheduler.next(), a1);
    scheduler.release(a1!);
    assert.deepEqual(admitAll(scheduler), ["b1", "c1", "a2"]);
    assert.deepEqual(drainReady(scheduler), ["b1", "c1", "a2"]);
  });

  test("retry: the item runs again before later items of its key, behind the items already ready", () => {
    const scheduler = new PartitionScheduler<Item>();
    const [a1, a2, b1] = items("key", "a1", "a2", "b1");
    for (const item of [a1, a2, b1]) scheduler.enqueue(item!);
    assert.deepEqual(admitAll(scheduler), ["a1", "b1"]);
    assert.equal(scheduler.next(), a1);
    scheduler.retry(a1!);
    assert.deepEqual(counts(scheduler), { ready: 2, admissible: 0, buffered: 1 });
    assert.deepEqual(drainReady(scheduler), ["b1", "a1"]);
    assert.deepEqual(admitAll(scheduler), [], "a2 still waits: a1's lane stays busy");
    scheduler.release(a1!);
    assert.deepEqual(admitAll(scheduler), ["a2"]);
    assert.deepEqual(drainReady(scheduler), ["a2"]);
  });

  test("nextMatching takes a ready or admissible item out of turn, never one waiting for its key", () => {
    const scheduler = new PartitionScheduler<Item>();
    const [a1, a2, b1, c1] = items("key", "a1", "a2", "b1", "c1");
    for (const item of [a1, a2, b1, c1]) scheduler.enqueue(item!);
    assert.equal(scheduler.admit(), a1);
    assert.equal(scheduler.nextMatching((item) => item.id === "a2"), undefined);
    assert.deepEqual(counts(scheduler), { ready: 1, admissible: 2, buffered: 3 });
    assert.deepEqual(scheduler.nextMatching((item) => item.id === "c1"), { item: c1, admitted: false });
    assert.deepEqual(counts(scheduler), { ready: 1, admissible: 1, buffered: 2 }, "c1 left the buffer");
    assert.deepEqual(scheduler.nextMatching((item) => item.id === "a1"), { item: a1, admitted: true });
    assert.deepEqual(counts(scheduler), { ready: 0, admissible: 1, buffered: 2 });
    assert.deepEqual(admitAll(scheduler), ["b1"]);
    assert.deepEqual(drainReady(scheduler), ["b1"]);
    scheduler.release(c1!);
    assert.deepEqual(counts(scheduler), { ready: 0, admissible: 0, buffered: 1 }, "c1's lane had nothing behind it");
  });

  test("nextMatching prefers a ready item over an earlier admissible one", () => {
    const scheduler = new PartitionScheduler<Item>();
    const [a1, a2, b1] = items("key", "a1", "a2", "b1");
    for (const item of [a1, a2, b1]) scheduler.enqueue(item!);
    assert.deepEqual(admitAll(scheduler), ["a1", "b1"]);
    assert.equal(scheduler.next(), a1);
    scheduler.release(a1!);
    // b1 is ready, a2 (enqueued before it) admissible: both match.
    assert.deepEqual(scheduler.nextMatching((item) => item !== a1), { item: b1, admitted: true });
    assert.deepEqual(scheduler.nextMatching((item) => item !== a1), { item: a2, admitted: false });
  });

  test("partition mode: one item at a time, in enqueue order, whatever the keys", () => {
    const scheduler = new PartitionScheduler<Item>();
    const [a1, n1, b1, a2] = items("partition", "a1", "-1", "b1", "a2");
    for (const item of [a1, n1, b1, a2]) scheduler.enqueue(item!);
    assert.deepEqual(counts(scheduler), { ready: 0, admissible: 1, buffered: 4 });
    assert.deepEqual(admitAll(scheduler), ["a1"]);
    assert.deepEqual(drainReady(scheduler), ["a1"]);
    scheduler.release(a1!);
    assert.deepEqual(admitAll(scheduler), ["-1"], "a null key takes its turn too");
    assert.deepEqual(drainReady(scheduler), ["-1"]);
    scheduler.release(n1!);
    assert.deepEqual(admitAll(scheduler), ["b1"]);
    assert.deepEqual(drainReady(scheduler), ["b1"]);
    scheduler.retry(b1!);
    assert.deepEqual(counts(scheduler), { ready: 1, admissible: 0, buffered: 1 });
    assert.deepEqual(drainReady(scheduler), ["b1"], "the retried item, not a2");
    scheduler.release(b1!);
    assert.deepEqual(admitAll(scheduler), ["a2"]);
    assert.deepEqual(drainReady(scheduler), ["a2"]);
    scheduler.release(a2!);
    assert.deepEqual(counts(scheduler), { ready: 0, admissible: 0, buffered: 0 });
  });

  test("a chain's items given back wait behind their lane in order; the lane moves on once all are back or done", () => {
    const scheduler = new PartitionScheduler<Item>();
    const [a1, a2, a3, a4, b1] = items("key", "a1", "a2", "a3", "a4", "b1");
    for (const item of [a1, a2, a3, a4, b1]) scheduler.enqueue(item!);
    assert.deepEqual(admitAll(scheduler), ["a1", "b1"]);
    assert.deepEqual(drainReady(scheduler), ["a1", "b1"]);
    // a1 starts with a2 and a3 behind it (a chain), a4 waits.
    assert.deepEqual([scheduler.takeWaiting("a"), scheduler.takeWaiting("a")], [a2, a3]);
    assert.equal(scheduler.hasTaken("a"), true);
    const follows = (item: Item) => (other: Item) => other.id > item.id;
    // a1 failed: a3 comes back first, then a2; both go before a4, in order.
    scheduler.giveBack(a3!, follows(a3!));
    scheduler.giveBack(a2!, follows(a2!));
    assert.equal(scheduler.hasTaken("a"), false);
    assert.deepEqual(counts(scheduler), { ready: 0, admissible: 0, buffered: 3 });
    scheduler.retry(a1!);
    assert.deepEqual(drainReady(scheduler), ["a1"], "a1 runs again alone");
    scheduler.release(a1!);
    for (const expected of ["a2", "a3", "a4"]) {
      assert.deepEqual(admitAll(scheduler), [expected]);
      const item = scheduler.next()!;
      scheduler.release(item);
    }
    assert.deepEqual(counts(scheduler), { ready: 0, admissible: 0, buffered: 0 });
  });

  test("a chain's item given back after the others finished lets the lane move on to it", () => {
    const scheduler = new PartitionScheduler<Item>();
    const [a1, a2, a3] = items("key", "a1", "a2", "a3");
    for (const item of [a1, a2, a3]) scheduler.enqueue(item!);
    admitAll(scheduler);
    drainReady(scheduler);
    scheduler.takeWaiting("a");
    scheduler.release(a1!); // a1 done, a2 still out
    assert.deepEqual(counts(scheduler), { ready: 0, admissible: 0, buffered: 1 });
    scheduler.giveBack(a2!, (other) => other.id > a2!.id);
    assert.deepEqual(admitAll(scheduler), ["a2"], "the lane moved on to the item given back");
  });

  test("unordered mode: everything is admissible at once, admitted and handed out in enqueue order", () => {
    const scheduler = new PartitionScheduler<Item>();
    for (const item of items("unordered", "a1", "a2", "-1", "a3")) scheduler.enqueue(item);
    assert.deepEqual(counts(scheduler), { ready: 0, admissible: 4, buffered: 4 });
    assert.deepEqual(admitAll(scheduler), ["a1", "a2", "-1", "a3"]);
    assert.deepEqual(counts(scheduler), { ready: 4, admissible: 0, buffered: 0 });
    assert.deepEqual(drainReady(scheduler), ["a1", "a2", "-1", "a3"]);
  });

  test("null keys in each mode: in parallel for key and unordered, one at a time for partition", () => {
    for (const [ordering, admissible] of [["key", 2], ["unordered", 2], ["partition", 1]] as const) {
      const scheduler = new PartitionScheduler<Item>();
      for (const item of items(ordering, "-1", "-2")) scheduler.enqueue(item);
      assert.equal(scheduler.admissibleCount, admissible, ordering);
      assert.equal(scheduler.bufferedCount, 2, ordering);
      assert.equal(admitAll(scheduler).length, admissible, ordering);
      assert.equal(scheduler.readyCount, admissible, ordering);
    }
  });

  for (const ordering of ["key", "partition", "unordered"] as const) {
    // The ordering guarantee itself: exclusive lanes, per-lane order, exact counts, nothing lost.
    test(`property (${ordering} mode): random enqueue/admit/next/nextMatching/release/retry match a simple model`, () => {
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

type Target = "ready" | "admissible" | "waiting";

type Op =
  | { readonly kind: "enqueue"; readonly key: number }
  | { readonly kind: "admit" }
  | { readonly kind: "next" }
  | { readonly kind: "nextMatching"; readonly target: Target; readonly pick: number }
  | { readonly kind: "release"; readonly pick: number }
  | { readonly kind: "retry"; readonly pick: number };

const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("enqueue" as const), key: fc.nat({ max: KEYS.length - 1 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("admit" as const) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("next" as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("nextMatching" as const),
      target: fc.constantFrom<Target>("ready", "admissible", "waiting"),
      pick: fc.nat(),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("release" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("retry" as const), pick: fc.nat() }) },
);

interface ModelItem extends Item {
  readonly seq: number;
}

type Place = "waiting" | "admissible" | "ready" | "running" | "done";

/**
 * What the scheduler should do, by brute force: an item is admissible when no earlier unreleased
 * item of its lane exists and it is not admitted; admitted items are ready until they run;
 * admissible and ready items go out in the order they got there.
 */
class Model {
  readonly items: ModelItem[] = [];
  readonly place = new Map<ModelItem, Place>();
  /** When each admissible or ready item got there: both queues are FIFO over this. */
  readonly since = new Map<ModelItem, number>();
  #clock = 0;

  enqueue(item: ModelItem): void {
    this.items.push(item);
    const blocked = item.lane !== null &&
      this.items.some((o) => o !== item && o.lane === item.lane && this.place.get(o) !== "done");
    this.#move(item, blocked ? "waiting" : "admissible");
  }

  admit(item: ModelItem): void {
    this.#move(item, "ready");
  }

  take(item: ModelItem): void {
    this.#move(item, "running");
  }

  release(item: ModelItem): void {
    this.#move(item, "done");
    if (item.lane === null) return;
    const next = this.items.find((o) => o.lane === item.lane && this.place.get(o) === "waiting");
    if (next) this.#move(next, "admissible");
  }

  retry(item: ModelItem): void {
    this.#move(item, "ready");
  }

  /** Items in `place`, in the order the scheduler must hand them out (enqueue order for others). */
  in(place: Place): ModelItem[] {
    const items = this.items.filter((item) => this.place.get(item) === place);
    if (place === "admissible" || place === "ready") items.sort((x, y) => this.since.get(x)! - this.since.get(y)!);
    return items;
  }

  #move(item: ModelItem, place: Place): void {
    this.place.set(item, place);
    this.since.set(item, this.#clock++);
  }
}

function runScenario(ordering: Ordering, ops: readonly Op[]): void {
  const scheduler = new PartitionScheduler<ModelItem>();
  const model = new Model();
  /** Admitted and not released (ready, running, or put back by retry). */
  const admitted = new Set<ModelItem>();
  const released = new Set<ModelItem>();

  /** Checks an item the scheduler just admitted against the ordering rules, independently of the model. */
  const admittedNow = (item: ModelItem): void => {
    assert.ok(!released.has(item), `${item.id} admitted after its release`);
    assert.ok(!admitted.has(item), `${item.id} admitted twice`);
    if (item.lane !== null) {
      for (const other of admitted) {
        assert.ok(other.lane !== item.lane, `${item.id} admitted while ${other.id} of its lane is unfinished`);
      }
      for (const earlier of model.items) {
        if (earlier.seq < item.seq && earlier.lane === item.lane) {
          assert.ok(released.has(earlier), `${item.id} admitted before ${earlier.id} of its lane was released`);
        }
      }
    }
    admitted.add(item);
    model.admit(item);
  };

  const check = (): void => {
    const ready = model.in("ready").length;
    const admissible = model.in("admissible").length;
    const waiting = model.in("waiting").length;
    assert.equal(scheduler.readyCount, ready);
    assert.equal(scheduler.admissibleCount, admissible);
    assert.equal(scheduler.bufferedCount, admissible + waiting);
    // The invariant: at most one item per lane is admissible, ready or started at a time.
    const lanes = [...model.in("admissible"), ...admitted].map((item) => item.lane).filter((lane) => lane !== null);
    assert.equal(new Set(lanes).size, lanes.length, "two items of one lane out of the buffer's waiting part");
    if (ordering === "unordered") assert.equal(waiting, 0, "unordered: nothing waits behind a lane");
    if (ordering === "partition") assert.ok(lanes.length <= 1, "partition mode: one item out at a time");
  };

  const start = (item: ModelItem): void => {
    assert.ok(admitted.has(item), `${item.id} started without being admitted`);
    model.take(item);
  };

  const release = (item: ModelItem): void => {
    scheduler.release(item);
    model.release(item);
    admitted.delete(item);
    released.add(item);
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
      case "admit": {
        const expected = model.in("admissible")[0];
        const item = scheduler.admit();
        assert.equal(item, expected);
        if (item) admittedNow(item);
        break;
      }
      case "next": {
        const expected = model.in("ready")[0];
        const item = scheduler.next();
        assert.equal(item, expected);
        if (item) start(item);
        break;
      }
      case "nextMatching": {
        const candidates = model.in(op.target);
        if (candidates.length === 0) break;
        const wanted = candidates[op.pick % candidates.length]!;
        const found = scheduler.nextMatching((candidate) => candidate === wanted);
        // A waiting item is never handed out, even when asked for by name.
        if (op.target === "waiting") {
          assert.equal(found, undefined);
          break;
        }
        assert.deepEqual(found, { item: wanted, admitted: op.target === "ready" });
        if (op.target === "admissible") admittedNow(wanted);
        start(wanted);
        break;
      }
      case "release":
      case "retry": {
        const running = model.in("running");
        if (running.length === 0) break;
        const item = running[op.pick % running.length]!;
        if (op.kind === "retry") {
          scheduler.retry(item);
          model.retry(item);
        } else {
          release(item);
        }
        break;
      }
    }
    check();
  }

  // Liveness: releasing whatever runs and admitting and draining the rest hands out every item once.
  for (const item of model.in("running")) release(item);
  check();
  for (;;) {
    for (let item = scheduler.admit(); item !== undefined; item = scheduler.admit()) {
      assert.equal(item, model.in("admissible")[0]);
      admittedNow(item);
      check();
    }
    const item = scheduler.next();
    if (item === undefined) break;
    assert.equal(item, model.in("ready")[0]);
    start(item);
    release(item);
    check();
  }
  assert.deepEqual(counts(scheduler), { ready: 0, admissible: 0, buffered: 0 });
  assert.equal(released.size, model.items.length, "every enqueued item was admitted, handed out and released");
}
