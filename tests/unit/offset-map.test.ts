import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  decodeOffsetMap,
  type DoneRange,
  encodeOffsetMap,
  offsetMapBound,
  offsetMapPayloadBytes,
  offsetMapPayloadLimit,
} from "../../src/core/offset-map.ts";

/** Ascending ranges above `position`, separated by at least one not-done offset, some of them long. */
const rangesAbove = (position: number) =>
  fc.array(
    fc.record({
      gap: fc.integer({ min: 1, max: 300 }),
      length: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 5 }) }, fc.integer({ min: 1, max: 100_000 })),
    }),
    { maxLength: 300 },
  ).map((shape) => {
    const ranges: DoneRange[] = [];
    let cursor = position;
    for (const { gap, length } of shape) {
      const first = cursor + gap;
      ranges.push([first, first + length - 1]);
      cursor = first + length;
    }
    return ranges;
  });

const scenario = fc.nat({ max: 2 ** 50 }).chain((position) =>
  fc.record({ position: fc.constant(position), ranges: rangesAbove(position) })
);

const NO_SPAN_LIMIT = Number.POSITIVE_INFINITY;

const countOffsets = (ranges: readonly DoneRange[]): number =>
  ranges.reduce((sum, [first, last]) => sum + last - first + 1, 0);

/** The lowest `count` offsets of `ranges`, as ranges. */
function takeOffsets(ranges: readonly DoneRange[], count: number): DoneRange[] {
  const out: DoneRange[] = [];
  for (const [first, last] of ranges) {
    if (count <= 0) break;
    const taken = Math.min(count, last - first + 1);
    out.push([first, first + taken - 1]);
    count -= taken;
  }
  return out;
}

/** Offsets as ranges, adjacent ones merged: the tests' shorthand for small sets. */
function toRanges(offsets: readonly number[]): DoneRange[] {
  const out: [number, number][] = [];
  for (const offset of offsets) {
    const last = out[out.length - 1];
    if (last !== undefined && last[1] + 1 === offset) last[1] = offset;
    else out.push([offset, offset]);
  }
  return out;
}

/** An iterable that counts how many ranges were pulled from it. */
function counted(ranges: Iterable<DoneRange>): { readonly ranges: Iterable<DoneRange>; pulled: () => number } {
  let pulled = 0;
  return {
    ranges: {
      *[Symbol.iterator]() {
        for (const range of ranges) {
          pulled++;
          yield range;
        }
      },
    },
    pulled: () => pulled,
  };
}

/** `"pc1" + kind + base64(varints)`: hand-built maps for corrupt-input tests. */
function rawMap(kind: string, values: readonly number[], extraBytes: readonly number[] = []): string {
  const bytes: number[] = [];
  for (let value of values) {
    while (value >= 0x80) {
      bytes.push((value % 0x80) | 0x80);
      value = Math.floor(value / 0x80);
    }
    bytes.push(value);
  }
  return `pc1${kind}${btoa(String.fromCharCode(...bytes, ...extraBytes))}`;
}

describe("offset map", () => {
  test("wire format: maps written by the offset-list encoder decode the same, and are written the same", () => {
    // Produced by the encoder that took a sorted list of done offsets (before ranges), kept verbatim.
    const offsets = (first: number, count: number, step = 1): number[] =>
      Array.from({ length: count }, (_, i) => first + i * step);
    const cases: { position: number; done: number[]; maxBytes: number; metadata: string; kept: number }[] = [
      { position: 1000, done: [1002, 1003, 1004, 1010], maxBytes: 4096, metadata: "pc1b6AcLHAQ=", kept: 4 },
      { position: 0, done: [1, 3, 5, 7, 9, 11], maxBytes: 4096, metadata: "pc1bAAyqCg==", kept: 6 },
      {
        position: 2 ** 40 + 7,
        done: [2 ** 40 + 9, 2 ** 40 + 200, 2 ** 40 + 201],
        maxBytes: 4096,
        metadata: "pc1rh4CAgIAgAgG+AQI=",
        kept: 3,
      },
      { position: 5, done: offsets(6, 300), maxBytes: 4096, metadata: "pc1rBQGsAg==", kept: 300 },
      { position: 0, done: offsets(1, 100, 2), maxBytes: 20, metadata: "pc1bAFCqqqqqqqqqqqqq", kept: 40 },
      { position: 123456789, done: [123456790], maxBytes: 4096, metadata: "pc1rlZrvOgEB", kept: 1 },
      {
        position: 0,
        done: [...offsets(1, 40, 3), 500, 501, 502],
        maxBytes: 4096,
        metadata: "pc1bAPcDkiRJkiRJkiRJkiRJkiRJAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABw",
        kept: 43,
      },
      // Cut inside a range: the bitset holds offsets up to 79 of the range 21..1000.
      {
        position: 0,
        done: [...offsets(1, 10, 2), ...offsets(21, 980)],
        maxBytes: 20,
        metadata: "pc1bAFCqqur/////////",
        kept: 69,
      },
      {
        position: 7,
        done: offsets(2, 100, 3).flatMap((offset) => [offset, offset + 1]).filter((offset) => offset > 7),
        maxBytes: 64,
        metadata: "pc1bB6YCtm3btm3btm3btm3btm3btm3btm3btm3btm3btm3btm3btm3bNg==",
        kept: 196,
      },
    ];
    for (const { position, done, maxBytes, metadata, kept } of cases) {
      assert.deepEqual(decodeOffsetMap(metadata, position, NO_SPAN_LIMIT), toRanges(done.slice(0, kept)), metadata);
      const encoded = encodeOffsetMap(position, toRanges(done), maxBytes);
      const payloadBytes = atob(metadata.slice(4)).length;
      assert.deepEqual(encoded, { metadata, complete: kept === done.length, payloadBytes }, metadata);
    }
  });

  test("property: decode(encode(ranges)) == ranges when they fit", () => {
    fc.assert(
      fc.property(scenario, ({ position, ranges }) => {
        const { metadata, complete } = encodeOffsetMap(position, ranges, 1_000_000);
        assert.equal(complete, true);
        assert.equal(metadata === "", ranges.length === 0);
        assert.deepEqual(decodeOffsetMap(metadata, position, NO_SPAN_LIMIT), ranges);
      }),
      { numRuns: 400 },
    );
  });

  test("property: under a size limit the map fits, keeps the lowest offsets, and keeps as many as fit", () => {
    fc.assert(
      fc.property(scenario, fc.integer({ min: 0, max: 400 }), ({ position, ranges }, maxBytes) => {
        const { metadata, complete, payloadBytes } = encodeOffsetMap(position, ranges, maxBytes);
        assert.ok(metadata.length <= maxBytes);
        // Measuring alone (between commits) gives the size the map is written with.
        assert.equal(offsetMapPayloadBytes(position, ranges, maxBytes), payloadBytes);
        const decoded = decodeOffsetMap(metadata, position, NO_SPAN_LIMIT);
        const kept = countOffsets(decoded);
        // A prefix of the input's offsets: every decoded offset was done.
        assert.deepEqual(decoded, takeOffsets(ranges, kept));
        assert.equal(complete, kept === countOffsets(ranges));
        // The largest such prefix: one offset more no longer fits.
        if (!complete) assert.equal(encodeOffsetMap(position, takeOffsets(ranges, kept + 1), maxBytes).complete, false);
      }),
      { numRuns: 300 },
    );
  });

  test("property: adjacent and position-touching ranges are merged and clipped, never widened", () => {
    fc.assert(
      fc.property(scenario, fc.nat({ max: 3 }), ({ position, ranges }, split) => {
        // The same offsets, cut into adjacent pieces, plus a range reaching down to the position.
        const pieces: DoneRange[] = [[position - 5, position]];
        for (const [first, last] of ranges) {
          if (split > 0 && last > first) pieces.push([first, first], [first + 1, last]);
          else pieces.push([first, last]);
        }
        const direct = encodeOffsetMap(position, ranges, 4096);
        assert.deepEqual(encodeOffsetMap(position, pieces, 4096), direct);
      }),
      { numRuns: 200 },
    );
  });

  test("property: decoding clips to the span and never yields an offset outside it", () => {
    fc.assert(
      fc.property(scenario, fc.integer({ min: -1, max: 5_000 }), ({ position, ranges }, maxSpan) => {
        const { metadata } = encodeOffsetMap(position, ranges, 1_000_000);
        const limit = position + maxSpan; // exclusive
        const expected: DoneRange[] = [];
        for (const [first, last] of ranges) if (first < limit) expected.push([first, Math.min(last, limit - 1)]);
        assert.deepEqual(decodeOffsetMap(metadata, position, maxSpan), expected);
      }),
      { numRuns: 300 },
    );
  });

  test("encoding pulls ranges only as far as they can still fit", () => {
    // An endless source: the encoder must stop on its own, after a number of pulls bounded by the size.
    function* endless(): Iterable<DoneRange> {
      for (let offset = 2;; offset += 2) yield [offset, offset];
    }
    const source = counted(endless());
    const { metadata, complete } = encodeOffsetMap(0, source.ranges, 4096);
    assert.equal(complete, false);
    assert.ok(metadata.length <= 4096);
    assert.ok(source.pulled() <= 4 * 4096, `pulled ${source.pulled()}`);
    assert.deepEqual(decodeOffsetMap(metadata, 0, NO_SPAN_LIMIT).length, source.pulled() - 1);

    // Everything fits: one pull per range, and nothing stops early.
    const few = counted([[3, 5], [9, 1_000_000]]);
    assert.equal(encodeOffsetMap(0, few.ranges, 4096).complete, true);
    assert.equal(few.pulled(), 2);
  });

  test("the smaller encoding wins: runs for long ranges, bits for scattered offsets", () => {
    assert.match(encodeOffsetMap(1_000, [[1_001, 11_000]], 4096).metadata, /^pc1r/);
    const everyOther = Array.from({ length: 1_000 }, (_, i): DoneRange => [1_001 + 2 * i, 1_001 + 2 * i]);
    assert.match(encodeOffsetMap(1_000, everyOther, 4096).metadata, /^pc1b/);
  });

  test("a map is only trusted beside the position it was written for", () => {
    const { metadata } = encodeOffsetMap(100, [[102, 103]], 4096);
    assert.deepEqual(decodeOffsetMap(metadata, 100, NO_SPAN_LIMIT), [[102, 103]]);
    assert.deepEqual(decodeOffsetMap(metadata, 101, NO_SPAN_LIMIT), []);
  });

  test("nothing done, or nothing that fits, is an empty map", () => {
    const empty = { metadata: "", payloadBytes: 0 };
    assert.deepEqual(encodeOffsetMap(7, [], 4096), { ...empty, complete: true });
    assert.deepEqual(encodeOffsetMap(7, [[9, 9]], 4), { ...empty, complete: false });
    assert.deepEqual(encodeOffsetMap(7, [[5, 7]], 4096), { ...empty, complete: true }, "at or below the position");
  });

  test("foreign, empty or corrupt metadata decodes to nothing", () => {
    const corrupt = [
      null,
      undefined,
      "",
      "hello",
      "pc1r",
      "pc1x AAAA",
      "pc1b!!!",
      "pc1r/w==",
      rawMap("x", [5, 1, 1]),
      rawMap("r", [5, 1]), // a not-done run without its done run
      rawMap("b", [5, 9], [0xff]), // 9 bits in one byte
    ];
    for (const metadata of corrupt) assert.deepEqual(decodeOffsetMap(metadata, 5, NO_SPAN_LIMIT), [], String(metadata));
  });

  test("regression: a 12-character map claiming 2^27 done offsets decodes at once, clipped to the span", () => {
    // Position 5, a not-done run of 0 and a done run of 2^27: the old decoder built a 2^27-entry array.
    const metadata = rawMap("r", [5, 0, 2 ** 27]);
    assert.equal(metadata.length, 12);
    const started = performance.now();
    const ranges = decodeOffsetMap(metadata, 5, 100_000);
    assert.ok(performance.now() - started < 50, "decoding must not expand runs");
    assert.deepEqual(ranges, [[6, 100_004]], "the position itself is never done; nothing past the span");
    assert.ok(countOffsets(ranges) <= 100_000);
  });

  test("regression: a bitset claiming more bits than it holds is rejected without reading them", () => {
    const started = performance.now();
    assert.deepEqual(decodeOffsetMap(rawMap("b", [5, 2 ** 40], [0xff, 0xff]), 5, NO_SPAN_LIMIT), []);
    assert.ok(performance.now() - started < 50);
    // Honest but longer than the span: clipped.
    const wide = rawMap("b", [5, 64], [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    assert.deepEqual(decodeOffsetMap(wide, 5, NO_SPAN_LIMIT), [[6, 68]]);
    assert.deepEqual(decodeOffsetMap(wide, 5, 10), [[6, 14]]);
    assert.deepEqual(decodeOffsetMap(wide, 5, 0), []);
    assert.deepEqual(decodeOffsetMap(wide, 5, Number.NaN), []);
  });

  test("sizes for out-of-order completions fit the broker's default 4096 bytes", () => {
    // Every other offset done (worst case for run-length): a bitset holds windows up to ~24k offsets.
    for (const count of [1_000, 10_000, 30_000]) {
      const done = Array.from({ length: count }, (_, i): DoneRange => [1 + 2 * i, 1 + 2 * i]);
      const { metadata, complete } = encodeOffsetMap(0, done, 4096);
      assert.ok(metadata.length <= 4096);
      assert.equal(complete, count <= 10_000, String(count));
    }
  });

  test("property: offsetMapBound bounds the map after more offsets are done, wherever the position moves", () => {
    const scenario = fc.record({
      position: fc.oneof(fc.nat({ max: 300 }), fc.nat({ max: 2 ** 45 })),
      // Per offset from the position on: 0 pending, 1 done at the measure, 2 done after it.
      states: fc.array(fc.constantFrom(0, 0, 1, 2), { minLength: 1, maxLength: 3000 }),
      beyond: fc.nat({ max: 50 }),
    });
    fc.assert(
      fc.property(scenario, ({ position, states, beyond }) => {
        states[0] = states[0] === 1 ? 0 : states[0]!; // the position itself is never done at the measure
        const done = (upTo: number) =>
          toRanges(states.flatMap((state, i) => (state >= 1 && state <= upTo ? [position + i] : [])));
        const measured = encodeOffsetMap(position, done(1), 1 << 20).payloadBytes;
        const after = done(2);
        // The position moves over the done run at its start, as the tracker's does.
        let moved = position;
        while (moved - position < states.length && states[moved - position] === 2) moved++;
        if (moved > position) { while (moved - position < states.length && states[moved - position]! >= 1) moved++; }
        const more = states.filter((state) => state === 2).length;
        const highest = position + states.length - 1 + beyond;
        const bound = offsetMapBound(measured, position, moved, highest, more);
        const actual = encodeOffsetMap(moved, after, 1 << 20).payloadBytes;
        assert.ok(actual <= bound, `${actual} > ${bound}`);
      }),
      { numRuns: 300 },
    );
  });

  test("offsetMapPayloadLimit: the payload that base64 and the header still fit in the limit", () => {
    for (const maxBytes of [8, 11, 16, 64, 4096]) {
      const limit = offsetMapPayloadLimit(maxBytes);
      assert.ok(4 + Math.ceil(limit / 3) * 4 <= maxBytes && 4 + Math.ceil((limit + 1) / 3) * 4 > maxBytes - 3);
    }
  });
});
