import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { Rotation } from "../../src/core/rotation.ts";

/** A member whose `queued` field is the rotation's membership flag. */
interface Member {
  readonly name: string;
  queued: boolean;
}

const member = (name: string): Member => ({ name, queued: false });

const rotation = () => new Rotation<"queued", Member>("queued");

/** Names of every member in turn, until the rotation is empty. */
function drain(members: Rotation<"queued", Member>): string[] {
  const out: string[] = [];
  for (let next = members.next(); next !== undefined; next = members.next()) out.push(next.name);
  return out;
}

describe("Rotation", () => {
  test("members take turns in the order they were added; empty gives undefined", () => {
    const members = rotation();
    assert.equal(members.next(), undefined);
    for (const name of ["a", "b", "c"]) members.add(member(name));
    assert.deepEqual(drain(members), ["a", "b", "c"]);
    assert.equal(members.next(), undefined);
  });

  test("a member is queued at most once: adding it again keeps its place", () => {
    const members = rotation();
    const a = member("a");
    members.add(a);
    members.add(member("b"));
    members.add(a);
    assert.deepEqual(drain(members), ["a", "b"]);
  });

  test("a member taken out and added again goes to the back", () => {
    const members = rotation();
    const a = member("a");
    members.add(a);
    members.add(member("b"));
    assert.equal(members.next(), a);
    members.add(member("c"));
    members.add(a);
    assert.deepEqual(drain(members), ["b", "c", "a"]);
  });

  test("the member's flag says whether it is queued", () => {
    const members = rotation();
    const a = member("a");
    members.add(a);
    assert.equal(a.queued, true);
    assert.equal(members.next(), a);
    assert.equal(a.queued, false, "taken out: it may be added again");
    members.add(a);
    assert.equal(a.queued, true);
  });

  test("members are told apart by their own flag, not by equality", () => {
    const members = rotation();
    const one = member("x");
    members.add(one);
    members.add(member("x"));
    members.add(one);
    assert.deepEqual(drain(members), ["x", "x"]);
  });

  test("property: matches a queue of distinct members (add = push unless queued, next = shift)", () => {
    const op = fc.oneof(fc.record({ add: fc.nat(6) }), fc.constant({ next: true as const }));
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200, size: "max" }), (ops) => {
        const members = rotation();
        const pool = Array.from({ length: 7 }, (_, i) => member(String(i)));
        const model: Member[] = [];
        for (const step of ops) {
          if ("add" in step) {
            const added = pool[step.add]!;
            members.add(added);
            if (!model.includes(added)) model.push(added);
          } else {
            assert.equal(members.next(), model.shift());
          }
          for (const candidate of pool) assert.equal(candidate.queued, model.includes(candidate), candidate.name);
        }
        assert.deepEqual(drain(members), model.map(({ name }) => name));
      }),
      { numRuns: 300 },
    );
  });
});
