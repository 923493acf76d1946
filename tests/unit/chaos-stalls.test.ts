// The failover suite's stall check (tests/support/chaos/verify.ts `stalls`): a partition whose
// fetched offset stops advancing is stalled only while acknowledged records are beyond it. A
// producer that stalls (its send to a leader moving back to a restarted broker hung for seconds)
// leaves the consumers nothing to fetch: that is not theirs, and made the suite fail now and then.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type FaultWindow, type ProcessSample, type ProducerAck, stalls } from "../support/chaos/verify.ts";

const FAULT: FaultWindow = { name: "coordinator killed", victim: 1, from: 1_000, to: 5_000, marks: {}, partitions: [] };

/** One process owning partition 0, sampled every 200 ms up to 10 s; `fetchedAt(t)` its fetched offset. */
function samples(fetchedAt: (t: number) => number): ProcessSample[] {
  const out: ProcessSample[] = [];
  for (let t = 0; t <= 10_000; t += 200) {
    const fetched = fetchedAt(t);
    out.push({ pid: 1, t, inFlight: 0, commits: 0, owned: [0], partitions: [[0, fetched, fetched + 1]] });
  }
  return out;
}

/** A send of one record every 100 ms from 0 until `until` (offsets 0, 1, …). */
function acks(until: number): ProducerAck[] {
  const out: ProducerAck[] = [];
  for (let t = 0, offset = 0; t <= until; t += 100, offset++) out.push({ t, partition: 0, offset });
  return out;
}

/** Fetching as fast as the sends come: the offset acknowledged by `t`, with a stall in [1.2 s, 3 s). */
const followsUntil = (stopAt: number) => (t: number) => {
  const seen = t >= 1_200 && t < 3_000 ? 1_200 : Math.min(t, stopAt);
  return Math.floor(seen / 100);
};

describe("chaos stalls: fetching that did not resume", () => {
  test("a partition the producer kept sending to, whose fetched offset stopped, never fetched again", () => {
    const [report] = stalls(samples(followsUntil(4_800)), [FAULT], acks(10_000));
    const partition = report!.partitions[0]!;
    assert.equal(partition.fetchResumedAt, null);
    assert.ok(partition.fetchMs >= 5_000, `stalled ${partition.fetchMs} ms`);
    assert.match(partition.trail ?? "", /last advance at 4\.8s, last send acknowledged at 10\.0s/);
  });

  test("a partition the producer sent nothing more to, everything acknowledged fetched, resumed after its stall", () => {
    const [report] = stalls(samples(followsUntil(4_800)), [FAULT], acks(4_800));
    const partition = report!.partitions[0]!;
    assert.equal(partition.fetchResumedAt, 3_000, "the stall in the fault's window, not the quiet tail");
    assert.equal(partition.fetchMs, 1_800);
    assert.equal(partition.commitResumedAt, 3_000);
    assert.equal(partition.trail, undefined);
  });
});
