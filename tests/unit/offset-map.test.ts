import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { decodeOffsetMap, encodeOffsetMap } from "../../src/core/offset-map.ts";

/** Sorted distinct offsets above `position`. */
const doneAbove = (position: number) =>
  fc.uniqueArray(fc.integer({ min: position + 1, max: position + 50_000 }), { maxLength: 400 })
    .map((offsets) => offsets.sort((a, b) => a - b));

const scenario = fc.nat({ max: 2 ** 52 }).chain((position) =>
  fc.record({ position: fc.constant(position), done: doneAbove(position) })
);

describe("offset map", () => {
  test("property: decode(encode(done)) == done when it fits", () => {
    fc.assert(
      fc.property(scenario, ({ position, done }) => {
        const { metadata, encodedCount } = encodeOffsetMap(position, done, 1_000_000);
        assert.equal(encodedCount, done.length);
        assert.deepEqual(decodeOffsetMap(metadata, position), done);
      }),
      { numRuns: 500 },
    );
  });

  test("property: under a size limit the map never exceeds it and keeps the lowest offsets", () => {
    fc.assert(
      fc.property(scenario, fc.integer({ min: 0, max: 300 }), ({ position, done }, maxBytes) => {
        const { metadata, encodedCount } = encodeOffsetMap(position, done, maxBytes);
        assert.ok(metadata.length <= maxBytes);
        assert.deepEqual(decodeOffsetMap(metadata, position), done.slice(0, encodedCount));
      }),
      { numRuns: 300 },
    );
  });

  test("the smaller encoding wins: runs for long ranges, bits for scattered offsets", () => {
    const contiguous = Array.from({ length: 10_000 }, (_, i) => 1_001 + i);
    assert.match(encodeOffsetMap(1_000, contiguous, 4096).metadata, /^pc1r/);
    const everyOther = Array.from({ length: 1_000 }, (_, i) => 1_001 + 2 * i);
    assert.match(encodeOffsetMap(1_000, everyOther, 4096).metadata, /^pc1b/);
  });

  test("a map is only trusted beside the position it was written for", () => {
    const { metadata } = encodeOffsetMap(100, [102, 103], 4096);
    assert.deepEqual(decodeOffsetMap(metadata, 100), [102, 103]);
    assert.deepEqual(decodeOffsetMap(metadata, 101), []);
  });

  test("foreign, empty or corrupt metadata decodes to nothing", () => {
    for (const metadata of [null, undefined, "", "hello", "pc1r", "pc1x AAAA", "pc1b!!!", "pc1r/w=="]) {
      assert.deepEqual(decodeOffsetMap(metadata, 5), [], String(metadata));
    }
  });

  test("sizes for out-of-order completions fit the broker's default 4096 bytes", () => {
    // Every other offset done (worst case for run-length) over windows of 1k, 10k and 30k.
    for (const [count, limit] of [[1_000, 4096], [10_000, 4096]] as const) {
      const done = Array.from({ length: count }, (_, i) => 1 + 2 * i);
      const { metadata, encodedCount } = encodeOffsetMap(0, done, limit);
      assert.ok(metadata.length <= limit);
      if (count === 1_000) assert.equal(encodedCount, count);
    }
  });
});
