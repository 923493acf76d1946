// Cost per record of reading fetched records: the record batches from their bytes (our decoder
// against @platformatic/kafka's reader, the baseline, in the same run), then decodePartition into
// messages. 100-byte values, 16-byte keys, no headers, 100 records per batch, 10 000 records per
// fetched partition; our decoder with and without its CRC-32C check, on those batches and on
// batches of one record (a producer sending one at a time). Same file on every runtime:
//   node bench/micro/records.ts | deno run -A bench/micro/records.ts | bun bench/micro/records.ts
import { createRecordsBatch, Reader, readRecordsBatches } from "@platformatic/kafka";
import type { FetchedPartition, KafkaRecord, RecordBatch } from "../../src/adapters/group/kafka-client.ts";
import { decodePartition } from "../../src/adapters/group/records.ts";
import { decodeRecordBatches } from "../../src/adapters/platformatic/record-batches.ts";

const RECORDS_PER_BATCH = 100;
const BATCHES = 100;
const ROUNDS = 300;

function batch(firstOffset: bigint, transactional: boolean): RecordBatch {
  const records: KafkaRecord[] = [];
  for (let i = 0; i < RECORDS_PER_BATCH; i++) {
    records.push({
      offsetDelta: i,
      timestampDelta: i,
      key: new Uint8Array(16),
      value: new Uint8Array(100),
      headers: [],
    });
  }
  return {
    firstOffset,
    lastOffsetDelta: RECORDS_PER_BATCH - 1,
    firstTimestamp: 1_750_000_000_000n,
    producerId: transactional ? 7n : -1n,
    isTransactional: transactional,
    isControl: false,
    records,
  };
}

function partition(transactional: boolean): FetchedPartition {
  const batches: RecordBatch[] = [];
  for (let b = 0; b < BATCHES; b++) batches.push(batch(1_000_000n + BigInt(b * RECORDS_PER_BATCH), transactional));
  return {
    topic: "bench",
    partition: 0,
    highWatermark: -1n,
    lastStableOffset: -1n,
    logStartOffset: 0n,
    // An aborted transaction of another producer keeps the read_committed bookkeeping on.
    abortedTransactions: transactional ? [{ producerId: 8n, firstOffset: 1_000_000n }] : [],
    batches,
    recordBytes: 0, // not read by the decoder
  };
}

/** The same records as the bytes of a fetched partition, written by the client's producer code. */
function partitionBytes(perBatch = RECORDS_PER_BATCH): Uint8Array {
  const batches = Array.from({ length: (BATCHES * RECORDS_PER_BATCH) / perBatch }, () =>
    createRecordsBatch(
      Array.from({ length: perBatch }, (_, i) => ({
        topic: "bench",
        partition: 0,
        key: Buffer.alloc(16, i),
        value: Buffer.alloc(100, i),
        timestamp: 1_750_000_000_000n + BigInt(i),
      })),
    ).buffer);
  return Buffer.concat(batches);
}

let sink = 0;
/** Median ns per record of `round` (which reads BATCHES × RECORDS_PER_BATCH records), over 5 samples. */
function measure(label: string, round: () => number): number {
  const perRound = BATCHES * RECORDS_PER_BATCH;
  for (let i = 0; i < 50; i++) sink += round(); // warm-up
  const samples: number[] = [];
  for (let r = 0; r < 5; r++) {
    const started = performance.now();
    for (let i = 0; i < ROUNDS; i++) sink += round();
    samples.push(((performance.now() - started) * 1e6) / (ROUNDS * perRound));
  }
  samples.sort((a, b) => a - b);
  const [min, median, max] = [samples[0]!, samples[2]!, samples[4]!].map((ns) => ns.toFixed(1));
  console.log(`${label}: median ${median} ns/record (min ${min}, max ${max})`);
  return samples[2]!;
}

const bytes = partitionBytes();
const library = measure(
  "record batches from bytes, @platformatic/kafka's reader",
  () => readRecordsBatches(Reader.from(Buffer.from(bytes))).length,
);
const ours = measure("record batches from bytes, ours", () => decodeRecordBatches(bytes, false).length);
console.log(`  ours ÷ the client's reader: ${(ours / library).toFixed(2)} of its time`);
const checked = measure(
  "record batches from bytes, ours, CRC-32C checked",
  () => decodeRecordBatches(bytes, true).length,
);
console.log(`  the check: +${(checked - ours).toFixed(1)} ns/record`);
const singles = partitionBytes(1);
const single = measure("one-record batches, ours", () => decodeRecordBatches(singles, false).length);
const singleChecked = measure(
  "one-record batches, ours, CRC-32C checked",
  () => decodeRecordBatches(singles, true).length,
);
console.log(`  the check: +${(singleChecked - single).toFixed(1)} ns/record`);
for (
  const [label, fetched, isolation] of [
    ["decodePartition, plain, read_uncommitted", partition(false), "read_uncommitted"],
    ["decodePartition, transactional, read_committed", partition(true), "read_committed"],
  ] as const
) {
  const from = fetched.batches[0]!.firstOffset;
  measure(label, () => decodePartition(fetched, from, isolation).messages.length);
}
if (sink === 0) console.log("");
