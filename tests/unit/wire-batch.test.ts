// The binary batch a worker receives: every message comes out exactly as it went in (null and
// empty keys, values and header values, repeated header names, any topic, partition, offset up to
// 2^63 - 1, timestamp),
// whatever views of shared buffers the bytes were, through a real structured clone with transfer.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { type ConsumerMessage, NO_HEADER_LIST, NO_HEADERS } from "../../src/core/message.ts";
import { BatchReader, encodeBatch } from "../../src/engines/worker/wire-batch.ts";

const bytes = fc.option(fc.uint8Array({ maxLength: 40 }), { nil: null, freq: 4 });
/** Bytes as a fetched record holds them: a view into a larger buffer. */
const asView = (value: Uint8Array | null): Uint8Array | null => {
  if (value === null) return null;
  const shared = new Uint8Array(value.byteLength + 7);
  shared.set(value, 3);
  return shared.subarray(3, 3 + value.byteLength);
};
const message: fc.Arbitrary<ConsumerMessage> = fc.record({
  topic: fc.string({ maxLength: 12 }),
  partition: fc.nat({ max: 2 ** 31 - 1 }),
  offset: fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }),
  key: bytes,
  value: bytes,
  // Names repeat (Kafka allows it): the map keeps the last value, the list every header.
  headers: fc.constant(new Map<string, Uint8Array | null>()),
  headerList: fc.array(fc.tuple(fc.constantFrom("", "a", "trace", "ü-8"), bytes), { maxLength: 5 }),
  timestamp: fc.integer({ min: -1, max: 2 ** 52 }),
}).chain((drawn) =>
  // A message built by hand (a handler's test) may have only the map.
  fc.boolean().map((byHand) => {
    const { headerList, ...rest } = drawn;
    const headers = new Map(headerList);
    return byHand ? { ...rest, headers } : { ...rest, headers, headerList };
  })
);
const task = fc.record({
  id: fc.nat({ max: 2 ** 53 - 1 }),
  slot: fc.nat({ max: 300 }),
  attempt: fc.integer({ min: 1, max: 100 }),
  message,
});

test("a batch decodes to exactly what was encoded, after a structured clone that transfers its buffer", () => {
  fc.assert(fc.property(fc.array(task, { maxLength: 20 }), (tasks) => {
    const sent = tasks.map(({ attempt, message, ...rest }) => ({
      ...rest,
      context: { attempt },
      message: {
        ...message,
        key: asView(message.key),
        value: asView(message.value),
        headers: new Map([...message.headers].map(([name, value]) => [name, asView(value)])),
        ...(message.headerList &&
          { headerList: message.headerList.map(([name, value]) => [name, asView(value)] as const) }),
      },
    }));
    const wire = encodeBatch(sent);
    const received = structuredClone(wire, { transfer: [wire.buffer] });
    assert.equal(wire.buffer.byteLength, 0, "transferred, not copied");
    const batch = new BatchReader(received);
    assert.equal(batch.count, tasks.length);
    tasks.forEach(({ id, slot, attempt, message }, i) => {
      assert.deepEqual([batch.id(i), batch.slot(i), batch.attempt(i)], [id, slot, attempt]);
      // A worker's message always has the list: the record's, or the hand-built map's entries.
      const headerList = message.headerList ?? [...message.headers];
      const { topic, partition, offset, key, value, headers, timestamp } = message;
      const decoded = batch.message(i);
      assert.deepEqual(decoded, { topic, partition, offset, key, value, headers, headerList, timestamp });
      // Most records have no headers: they share one read-only map and list, as fetched ones do.
      if (headerList.length === 0) assert.ok(decoded.headers === NO_HEADERS && decoded.headerList === NO_HEADER_LIST);
    });
  }));
});
