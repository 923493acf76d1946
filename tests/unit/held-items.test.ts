import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { HeldItems, type HeldLinks } from "../../src/core/control-plane/held-items.ts";

interface Item extends HeldLinks<Item> {
  readonly id: number;
}

const item = (id: number): Item => ({ id, heldBefore: undefined, heldAfter: undefined });

function ids(list: HeldItems<Item>): number[] {
  const out: number[] = [];
  list.forEach((each) => out.push(each.id));
  return out;
}

describe("HeldItems", () => {
  test("keeps the order of addition; removing an item not in the list changes nothing", () => {
    const list = new HeldItems<Item>();
    const [a, b, c] = [item(1), item(2), item(3)];
    list.add(a);
    list.add(b);
    list.add(c);
    list.remove(b);
    assert.deepEqual(ids(list), [1, 3]);
    list.remove(b);
    list.remove(item(9));
    assert.deepEqual(ids(list), [1, 3]);
    assert.equal(list.find((each) => each.id === 3), c);
    assert.equal(list.find((each) => each.id === 2), undefined);
  });

  test("forEach may remove the item it is given", () => {
    const list = new HeldItems<Item>();
    for (let id = 0; id < 5; id++) list.add(item(id));
    list.forEach((each) => {
      if (each.id % 2 === 0) list.remove(each);
    });
    assert.deepEqual(ids(list), [1, 3]);
  });

  test("property: random additions and removals match an array", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constant(-1), fc.nat(30)), { maxLength: 200, size: "max" }), (ops) => {
        const list = new HeldItems<Item>();
        const model: Item[] = [];
        let next = 0;
        for (const op of ops) {
          if (op === -1 || model.length === 0) {
            const added = item(next++);
            list.add(added);
            model.push(added);
          } else {
            const removed = model.splice(op % model.length, 1)[0]!;
            list.remove(removed);
            list.remove(removed);
          }
          assert.deepEqual(ids(list), model.map((each) => each.id));
        }
      }),
      { numRuns: 200 },
    );
  });
});
