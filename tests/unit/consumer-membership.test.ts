// The consumer group protocol's membership over the wire, against a scripted coordinator
// connection (the library's own parsers read the answers): a broker without the protocol, and the
// revoke barrier as the coordinator sees it — the revoked partition stays in the owned set of every
// heartbeat until the listener released it, commits carry the member epoch meanwhile, and none
// goes out for it afterwards.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type Reader, Writer } from "@platformatic/kafka";
import type { GroupAssignment, GroupEvents } from "../../src/adapters/group/kafka-client.ts";
import { isRetriable } from "../../src/adapters/group/kafka-client.ts";
import { PlatformaticClient } from "../../src/adapters/platformatic/client.ts";
import type { TopicPartition } from "../../src/core/message.ts";
import {
  cluster,
  FakeConsumer,
  fakeLibrary,
  offsetCommitAnswer,
  OPTIONS,
  readCommitRequest,
  ScriptedConnection,
  type SentRequest,
} from "../support/platformatic-fakes.ts";
import { waitFor } from "../support/kafka.ts";

const TOPIC_ID = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";
const HEARTBEAT = 68;
const OFFSET_COMMIT = 8;

/** An ApiVersions v3 answer listing `apis` ([key, min, max]). */
function apiVersions(apis: [number, number, number][]): Writer {
  return Writer.create()
    .appendInt16(0)
    .appendArray(
      apis,
      (w, [key, min, max]) => {
        w.appendInt16(key).appendInt16(min).appendInt16(max).appendTaggedFields();
      },
      true,
      false,
    )
    .appendInt32(0)
    .appendTaggedFields();
}

/** A FindCoordinator v6 answer naming node 2 for group "g". */
function coordinatorAnswer(): Writer {
  return Writer.create()
    .appendInt32(0)
    .appendArray(
      [0],
      (w) => {
        w.appendString("g").appendInt32(2).appendString("coordinator").appendInt32(9092).appendInt16(0)
          .appendString(null).appendTaggedFields();
      },
      true,
      false,
    )
    .appendTaggedFields();
}

/** A ConsumerGroupHeartbeat v1 answer; `partitions` of topic "t", or `null` for no assignment. */
function heartbeatAnswer(memberEpoch: number, intervalMs: number, partitions: number[] | null, errorCode = 0): Writer {
  const w = Writer.create()
    .appendInt32(0)
    .appendInt16(errorCode)
    .appendString(null)
    .appendString(null)
    .appendInt32(memberEpoch)
    .appendInt32(intervalMs);
  if (partitions === null) return w.appendInt8(-1).appendTaggedFields();
  return w.appendInt8(1)
    .appendArray(
      [partitions],
      (w, list) => {
        w.appendUUID(TOPIC_ID).appendArray(list, (w, p) => w.appendInt32(p), true, false).appendTaggedFields();
      },
      true,
      false,
    )
    .appendTaggedFields()
    .appendTaggedFields();
}

/** A ConsumerGroupHeartbeat v1 request as it was written. */
async function readHeartbeat(request: SentRequest) {
  const r: Reader = await request.body;
  const groupId = r.readString();
  const memberId = r.readString();
  const memberEpoch = r.readInt32();
  r.readNullableString(); // instance id
  r.readNullableString(); // rack
  const rebalanceTimeoutMs = r.readInt32();
  const topics = r.readArray((r) => r.readString(), true, false);
  r.readNullableString(); // regex
  r.readNullableString(); // server assignor
  const owned = r.readArray(
    (r) => {
      const topicId = r.readUUID();
      const partitions = r.readArray((r) => r.readInt32(), true, false);
      r.readTaggedFields();
      return { topicId, partitions };
    },
    true,
    false,
  );
  return { groupId, memberId, memberEpoch, rebalanceTimeoutMs, topics, owned };
}

/** A consumer whose coordinator is found through FindCoordinator, with topic "t" under a real id. */
function consumerProtocolClient(groupInstanceId?: string) {
  const consumer = new FakeConsumer();
  const bootstrap = new ScriptedConnection("bootstrap");
  consumer.firstAvailable = () => Promise.resolve(bootstrap);
  consumer.metadata = () => {
    const metadata = cluster();
    const t = metadata.topics.get("t")!;
    metadata.topics.set("t", { ...t, id: TOPIC_ID });
    return Promise.resolve(metadata);
  };
  const client = new PlatformaticClient(
    { ...OPTIONS, groupProtocol: "consumer", groupInstanceId },
    fakeLibrary(consumer),
  );
  return { consumer, bootstrap, coordinator: consumer.coordinator, client };
}

const requestsOf = (connection: ScriptedConnection, apiKey: number) =>
  connection.requests.filter((request) => request.apiKey === apiKey);

describe("consumer group protocol membership (wire)", () => {
  test("a broker without ConsumerGroupHeartbeat v1 fails the join for good, naming the option to change", async () => {
    const { bootstrap, coordinator, client } = consumerProtocolClient();
    bootstrap.answer(coordinatorAnswer());
    coordinator.answer(apiVersions([[OFFSET_COMMIT, 0, 9], [HEARTBEAT, 0, 0]]));
    const events: GroupEvents = {
      joined: () => {},
      revoking: () => Promise.resolve(),
      lost: () => {},
      rebalancing: () => {},
      failed: () => {},
    };
    const error = await client.join(["t"], events).then(() => undefined, (error: Error) => error);
    assert.ok(error instanceof Error);
    assert.match(error.message, /could not join group "g".*consumer group protocol.*groupProtocol to "classic"/);
    assert.equal(isRetriable(error), false);
    assert.equal(requestsOf(coordinator, HEARTBEAT).length, 0, "no heartbeat was sent");
    await client.close();
  });

  test("a revoked partition stays owned in every heartbeat until released; commits carry the epoch until then", async () => {
    const { bootstrap, coordinator, client } = consumerProtocolClient();
    bootstrap.answer(coordinatorAnswer());
    coordinator.answer(
      apiVersions([[OFFSET_COMMIT, 0, 9], [HEARTBEAT, 0, 1]]),
      heartbeatAnswer(1, 50, [0, 1]),
      // The member acknowledges its assignment at once; the answer takes partition 1 away (its
      // epoch unchanged), and another heartbeat comes while the member releases it.
      heartbeatAnswer(1, 50, [0]),
      heartbeatAnswer(1, 60_000, [0]),
    );
    const assignments: GroupAssignment[] = [];
    const revoking: TopicPartition[][] = [];
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const events: GroupEvents = {
      joined: (assignment) => assignments.push(assignment),
      revoking: (partitions) => {
        revoking.push([...partitions]);
        return released;
      },
      lost: () => assert.fail("nothing was lost"),
      rebalancing: () => assert.fail("no classic rebalance"),
      failed: (error) => assert.fail(error),
    };
    await client.join(["t"], events);
    const join = await readHeartbeat(requestsOf(coordinator, HEARTBEAT)[0]!);
    assert.equal(join.groupId, "g");
    assert.equal(join.memberEpoch, 0);
    assert.match(join.memberId, /^[0-9a-f-]{36}$/);
    assert.deepEqual(join.topics, ["t"]);
    assert.deepEqual(join.owned, []);
    assert.deepEqual(assignments.map((a) => a.partitions.map((tp) => tp.partition)), [[0, 1]]);
    assert.equal(assignments[0]!.protocol, "consumer");

    await waitFor("the revocation", () => revoking.length === 1, 5_000);
    assert.deepEqual(revoking, [[{ topic: "t", partition: 1 }]]);
    await waitFor("a heartbeat while releasing", () => requestsOf(coordinator, HEARTBEAT).length === 3, 5_000);
    for (const request of requestsOf(coordinator, HEARTBEAT).slice(1)) {
      const held = await readHeartbeat(request);
      assert.deepEqual(held.owned, [{ topicId: TOPIC_ID, partitions: [0, 1] }], "the revoked partition is listed");
      assert.equal(held.memberEpoch, 1);
    }

    // The last commit of the revoked partition goes out with the member's epoch.
    coordinator.answer(offsetCommitAnswer({ t: [[1, 0]] }));
    assert.deepEqual(await client.commit([{ topic: "t", partition: 1, offset: 42n, metadata: "map" }]), []);
    const commit = await readCommitRequest(requestsOf(coordinator, OFFSET_COMMIT)[0]!);
    assert.equal(commit.generation, 1);
    assert.equal(commit.memberId, join.memberId);
    assert.deepEqual(commit.partitions, [{ topic: "t", partition: 1, offset: 42n, metadata: "map" }]);

    // Released: the next heartbeat goes out at once without it.
    coordinator.answer(heartbeatAnswer(2, 60_000, [0]));
    release();
    await waitFor("the acknowledging heartbeat", () => requestsOf(coordinator, HEARTBEAT).length === 4, 5_000);
    const ack = await readHeartbeat(requestsOf(coordinator, HEARTBEAT)[3]!);
    assert.deepEqual(ack.owned, [{ topicId: TOPIC_ID, partitions: [0] }]);
    assert.deepEqual(assignments.at(-1)!.partitions, [{ topic: "t", partition: 0 }]);

    // From now on a commit of partition 1 is refused here, and never reaches the coordinator.
    const refused = await client.commit([{ topic: "t", partition: 1, offset: 50n, metadata: "late" }]);
    assert.equal(refused.length, 1);
    assert.match(refused[0]!.error.message, /no longer owns t\[1\]/);
    assert.equal(requestsOf(coordinator, OFFSET_COMMIT).length, 1);

    // Close: a last heartbeat with epoch -1.
    coordinator.answer(heartbeatAnswer(-1, 0, null));
    await client.close();
    const leave = await readHeartbeat(requestsOf(coordinator, HEARTBEAT).at(-1)!);
    assert.equal(leave.memberEpoch, -1);
    assert.equal(leave.memberId, join.memberId);
  });

  test("FENCED_INSTANCE_ID (another member took this static member's instance id): partitions lost, then the member fails for good", async () => {
    const { bootstrap, coordinator, client } = consumerProtocolClient("instance-1");
    bootstrap.answer(coordinatorAnswer());
    coordinator.answer(
      apiVersions([[OFFSET_COMMIT, 0, 9], [HEARTBEAT, 0, 1]]),
      heartbeatAnswer(1, 50, [0, 1]),
      heartbeatAnswer(0, 0, null, 82),
    );
    const seen: string[] = [];
    const events: GroupEvents = {
      joined: (assignment) => void seen.push(`joined ${assignment.partitions.map((tp) => tp.partition)}`),
      revoking: () => Promise.resolve(),
      lost: () => void seen.push("lost"),
      rebalancing: () => assert.fail("no classic rebalance"),
      failed: (error) => void seen.push(`failed: ${error.message}`),
    };
    await client.join(["t"], events);
    await waitFor("the failure", () => seen.length === 3, 5_000);
    assert.deepEqual(seen, [
      "joined 0,1",
      "lost",
      'failed: another consumer joined the group with this one\'s kafka.groupInstanceId "instance-1" and took its ' +
      "place: this consumer stopped (give every running consumer its own groupInstanceId)",
    ]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(requestsOf(coordinator, HEARTBEAT).length, 2, "no rejoin after it");
    await client.close();
  });
});
