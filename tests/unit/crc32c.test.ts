// Our CRC-32C (tables below 4 KiB, the client's above) against the client's own, on any bytes at any
// position, across the size where the two hand over, and on the standard check value.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { crc32c as clientCrc32c } from "@platformatic/kafka";
import { crc32c } from "../../src/adapters/platformatic/crc32c.ts";

const ours = (bytes: Uint8Array, start = 0, end = bytes.length) =>
  crc32c(bytes, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), start, end);

describe("crc32c", () => {
  test("the standard check value: CRC-32C of the ASCII digits 1 to 9 is 0xe3069283", () => {
    assert.equal(ours(new TextEncoder().encode("123456789")), 0xe3069283);
    assert.equal(ours(new Uint8Array(0)), 0);
  });

  test("equals the client's crc32c on any range of any bytes, small and large", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 9000 }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const start = bytes.length === 0 ? 0 : a % bytes.length;
        const end = start + (b % (bytes.length - start + 1));
        assert.equal(ours(bytes, start, end), clientCrc32c(bytes.subarray(start, end)));
      }),
      { numRuns: 300 },
    );
  });

  test("equals the client's crc32c on every length around the hand-over to it", () => {
    const bytes = Uint8Array.from({ length: 4200 }, (_, i) => (i * 131 + (i >> 5)) & 0xff);
    for (let length = 4080; length <= 4110; length++) {
      assert.equal(ours(bytes, 7, 7 + length), clientCrc32c(bytes.subarray(7, 7 + length)), `length ${length}`);
    }
  });
});
