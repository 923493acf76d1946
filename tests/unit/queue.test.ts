import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { Queue } from "../../src/core/queue.ts";

/** Shifts everything left in the queue. */
function drain<T>(queue: Queue<T>): T[] {
  const out: T[] = [];
  while (queue.length > 0) out.push(queue.shift() as T);
  return out;
}

describe("Queue", () => {
  test("insertBefore puts the item before the first match, or last; at reads without taking", () => {
    const queue = new Queue<number>();
    for (const n of [1, 2, 3]) queue.push(n);
    queue.shift();
    queue.insertBefore(9, (n) => n === 3);
    queue.insertBefore(8, (n) => n > 100);
    assert.deepEqual([queue.at(0), queue.at(1), queue.at(3), queue.at(4), queue.at(-1)], [
      2,
      9,
      8,
      undefined,
      undefined,
    ]);
    assert.deepEqual(drain(queue), [2, 9, 3, 8]);
  });

  test("first in, first out; shift on an empty queue returns undefined", () => {
    const queue = new Queue<string>();
    assert.equal(queue.shift(), undefined);
    assert.equal(queue.length, 0);
    queue.push("a");
    queue.push("b");
    assert.equal(queue.length, 2);
    assert.equal(queue.shift(), "a");
    queue.push("c");
    assert.deepEqual(drain(queue), ["b", "c"]);
    assert.equal(queue.shift(), undefined);
    queue.push("d");
    assert.equal(queue.length, 1, "usable again once drained");
    assert.equal(queue.shift(), "d");
  });

  test("removeFirst takes only the first match and keeps the order of the rest", () => {
    const queue = new Queue<number>();
    for (const n of [1, 2, 3, 4, 5, 6]) queue.push(n);
    queue.shift(); // a shifted head must not be searched
    assert.equal(queue.removeFirst((n) => n % 2 === 0), 2);
    assert.equal(queue.length, 4);
    assert.equal(queue.removeFirst((n) => n === 1), undefined, "1 was shifted already");
    assert.equal(queue.removeFirst((n) => n > 100), undefined);
    assert.equal(queue.length, 4);
    assert.equal(queue.removeFirst((n) => n === 6), 6);
    assert.deepEqual(drain(queue), [3, 4, 5]);
  });

  test("removeFirst of the last item leaves an empty queue that still works", () => {
    const queue = new Queue<number>();
    queue.push(1);
    queue.push(2);
    queue.shift();
    assert.equal(queue.removeFirst(() => true), 2);
    assert.equal(queue.length, 0);
    assert.equal(queue.shift(), undefined);
    queue.push(3);
    assert.deepEqual(drain(queue), [3]);
  });

  // The ring wraps and doubles while items are in it: nothing may be lost or reordered.
  test("long runs across wraps and growth keep every item in order", () => {
    const queue = new Queue<number>();
    for (let n = 0; n < 3000; n++) queue.push(n);
    for (let n = 0; n < 1600; n++) assert.equal(queue.shift(), n);
    assert.equal(queue.length, 1400);
    for (let n = 3000; n < 5000; n++) queue.push(n);
    assert.equal(queue.removeFirst((n) => n === 1700), 1700);
    const rest = drain(queue);
    assert.equal(rest.length, 3399);
    assert.deepEqual(rest, [
      ...Array.from({ length: 100 }, (_, i) => 1600 + i),
      ...Array.from({ length: 3299 }, (_, i) => 1701 + i),
    ]);
  });

  // The whole contract at once: the queue behaves like an array with push/shift/findIndex+splice.
  test("property: random pushes, shifts and removals match an array", () => {
    type Op =
      | { readonly kind: "push"; readonly count: number }
      | { readonly kind: "shift"; readonly count: number }
      | { readonly kind: "remove"; readonly pick: number }
      | { readonly kind: "insert"; readonly pick: number }
      | { readonly kind: "at"; readonly pick: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant("push" as const), count: fc.integer({ min: 1, max: 700 }) }),
      fc.record({ kind: fc.constant("shift" as const), count: fc.integer({ min: 1, max: 700 }) }),
      fc.record({ kind: fc.constant("remove" as const), pick: fc.integer({ min: -5, max: 2000 }) }),
      fc.record({ kind: fc.constant("insert" as const), pick: fc.integer({ min: -5, max: 2000 }) }),
      fc.record({ kind: fc.constant("at" as const), pick: fc.integer({ min: -5, max: 2000 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40, size: "max" }), (ops) => {
        const queue = new Queue<number>();
        const model: number[] = [];
        let next = 0;
        for (const step of ops) {
          if (step.kind === "push") {
            for (let i = 0; i < step.count; i++, next++) {
              queue.push(next);
              model.push(next);
            }
          } else if (step.kind === "shift") {
            for (let i = 0; i < step.count; i++) assert.equal(queue.shift(), model.shift());
          } else if (step.kind === "at") {
            assert.equal(queue.at(step.pick), step.pick >= 0 ? model[step.pick] : undefined);
          } else if (step.kind === "insert") {
            // Before the value at that position, or at the end when there is none.
            const before = step.pick >= 0 && step.pick < model.length ? model[step.pick] : -1;
            queue.insertBefore(next, (n) => n === before);
            const index = model.indexOf(before!);
            model.splice(index < 0 ? model.length : index, 0, next++);
          } else {
            // A value that is there (by position), or one that is not (negative, or past the end).
            const wanted = step.pick >= 0 && step.pick < model.length ? model[step.pick] : -1;
            const index = model.indexOf(wanted!);
            assert.equal(queue.removeFirst((n) => n === wanted), index < 0 ? undefined : model.splice(index, 1)[0]);
          }
          assert.equal(queue.length, model.length);
        }
        assert.deepEqual(drain(queue), model);
      }),
      { numRuns: 200 },
    );
  });
});
