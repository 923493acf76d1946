// The client port over @platformatic/kafka against the real broker: what the adapter relies on.
import assert from "node:assert/strict";
import { test } from "node:test";
import { PlatformaticClient } from "../../src/adapters/platformatic/client.ts";
import type { GroupAssignment } from "../../src/adapters/group/kafka-client.ts";
import { BROKERS, committedWithMetadata, createTopic, uniqueName, waitFor } from "../support/kafka.ts";

// To verify: one refused partition failed the whole OffsetCommit, every tick, though the broker
// committed the others. Under both group protocols (the consumer protocol's commits carry the
// member epoch).
for (const groupProtocol of ["classic", "consumer"] as const) {
  test(`${groupProtocol} protocol: an OffsetCommit the broker refuses for one partition resolves with that partition; the others are committed`, async () => {
    await refusedPartition(groupProtocol);
  });
}

async function refusedPartition(groupProtocol: "classic" | "consumer"): Promise<void> {
  const topic = uniqueName("client-commit");
  const groupId = uniqueName("group");
  await createTopic(topic, 2);
  const client = new PlatformaticClient({
    clientId: "pyrallel-tests-client",
    bootstrapBrokers: BROKERS,
    groupId,
    groupProtocol,
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 10_000,
    heartbeatIntervalMs: 1_000,
  });
  const assignments: GroupAssignment[] = [];
  try {
    await client.join([topic], {
      joined: (a) => assignments.push(a),
      revoking: () => Promise.resolve(),
      lost: () => {},
      rebalancing: () => {},
      failed: () => {},
    });
    // A new topic may be missing from the coordinator's first answer: its next heartbeat brings it.
    await waitFor("an assignment of both partitions", () => assignments.at(-1)?.partitions.length === 2, 15_000);
    // offset.metadata.max.bytes is 4096 on the broker: partition 1's metadata is too large.
    const refused = await client.commit([
      { topic, partition: 0, offset: 0n, metadata: "small" },
      { topic, partition: 1, offset: 0n, metadata: "x".repeat(5000) },
    ]);
    assert.deepEqual(refused.map(({ topic: t, partition }) => ({ t, partition })), [{ t: topic, partition: 1 }]);
    assert.match(refused[0]!.error.message, /OFFSET_METADATA_TOO_LARGE/);
    const committed = await committedWithMetadata(groupId, topic, 2);
    assert.equal(committed[0]!.offset, 0n);
    assert.equal(committed[0]!.metadata, "small");
    assert.equal(committed[1]!.offset, -1n, "partition 1 was not committed");
    const read = await client.committed([{ topic, partition: 0 }, { topic, partition: 1 }]);
    assert.deepEqual(read.map(({ offset, metadata }) => ({ offset, metadata })), [
      { offset: 0n, metadata: "small" },
      { offset: null, metadata: null },
    ]);
  } finally {
    await client.close();
  }
}
