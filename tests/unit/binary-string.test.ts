// Key bytes become map keys (lanes, per-key buckets) and offset maps go through btoa: one char per
// byte, whatever the length (chunked above 4,096 bytes).
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { bytesToBinaryString } from "../../src/core/binary-string.ts";

test("one char per byte, in order, for any bytes and length (across the 4,096-byte chunks too)", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 9000 }), (bytes) => {
      const text = bytesToBinaryString(bytes);
      assert.equal(text.length, bytes.length);
      for (let i = 0; i < bytes.length; i++) assert.equal(text.charCodeAt(i), bytes[i]);
    }),
    { numRuns: 200 },
  );
});

test("injective: different bytes give different strings", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (a, b) => {
      const same = a.length === b.length && a.every((byte, i) => byte === b[i]);
      assert.equal(bytesToBinaryString(a) === bytesToBinaryString(b), same);
    }),
  );
});
