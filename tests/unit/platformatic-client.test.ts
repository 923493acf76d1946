// The platformatic client's handling of what the library answers, without a broker: a fake
// consumer and producer, and a coordinator connection whose answers are parsed by the library's
// own OffsetCommit / OffsetFetch parsers (tests/integration/ has the same client on a broker).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AuthenticationError,
  consumerHeartbeatChannel,
  FetchIsolationLevels,
  ListOffsetTimestamps,
  MultipleErrors,
  NetworkError,
  offsetCommitV9,
  offsetFetchV9,
  ProtocolError,
  ResponseError,
  UserError,
} from "@platformatic/kafka";
import { PlatformaticClient } from "../../src/adapters/platformatic/client.ts";
import { type GroupAssignment, isRetriable } from "../../src/adapters/group/kafka-client.ts";
import {
  cluster,
  FakeConsumer,
  fakeLibrary,
  FakeProducer,
  offsetCommitAnswer,
  offsetFetchAnswer,
  OPTIONS,
  readCommitRequest,
} from "../support/platformatic-fakes.ts";

function clientWith(consumer: FakeConsumer, producer?: () => FakeProducer) {
  const library = fakeLibrary(consumer, producer);
  return { client: new PlatformaticClient(OPTIONS, library), library };
}

const offsets = (...partitions: number[]) =>
  partitions.map((partition) => ({
    topic: "t",
    partition,
    offset: 10n + BigInt(partition),
    metadata: `m${partition}`,
  }));

const retriableWith = (pattern: RegExp) => (error: unknown) =>
  error instanceof Error && pattern.test(error.message) && isRetriable(error);
const finalWith = (pattern: RegExp) => (error: unknown) =>
  error instanceof Error && pattern.test(error.message) && !isRetriable(error);

describe("platformatic client: commit", () => {
  test("goes to the coordinator with the member's generation, member id and each partition's metadata", async () => {
    const consumer = new FakeConsumer();
    consumer.coordinator.answer(offsetCommitAnswer({ t: [[0, 0], [1, 0]] }));
    const { client } = clientWith(consumer);
    assert.deepEqual(await client.commit(offsets(0, 1)), []);
    assert.deepEqual(consumer.connectedTo, [{ host: "coordinator", port: 9092, rack: null }]);
    const [request] = consumer.coordinator.requests;
    assert.equal(request?.apiKey, offsetCommitV9.api.key);
    assert.deepEqual(await readCommitRequest(request!), {
      groupId: "g",
      generation: 7,
      memberId: "member-1",
      groupInstanceId: null,
      partitions: [
        { topic: "t", partition: 0, offset: 10n, metadata: "m0" },
        { topic: "t", partition: 1, offset: 11n, metadata: "m1" },
      ],
    });
  });

  test("one partition refused: resolves with that partition's error, the others count as committed", async () => {
    const consumer = new FakeConsumer();
    consumer.coordinator.answer(offsetCommitAnswer({ t: [[0, 0], [1, 12]] }), offsetCommitAnswer({ t: [[0, 0]] }));
    const { client } = clientWith(consumer);
    const refused = await client.commit(offsets(0, 1));
    assert.deepEqual(refused.map(({ topic, partition, error }) => [topic, partition, error.message]), [
      ["t", 1, "commit refused: OFFSET_METADATA_TOO_LARGE"],
    ]);
    assert.ok(refused[0]?.error.cause instanceof ResponseError);
    // The coordinator answered: it is kept, and the next commit goes out without a lookup.
    assert.deepEqual(await client.commit(offsets(0)), []);
    assert.equal(consumer.lookups, 1);
  });

  test("NOT_COORDINATOR: rejects as retriable and drops the coordinator, so the next commit looks it up again", async () => {
    const consumer = new FakeConsumer();
    consumer.coordinator.answer(
      offsetCommitAnswer({ t: [[0, 16], [1, 16]] }),
      offsetCommitAnswer({ t: [[0, 0], [1, 0]] }),
    );
    const { client } = clientWith(consumer);
    await assert.rejects(client.commit(offsets(0, 1)), (error) => error instanceof ResponseError && isRetriable(error));
    assert.equal(consumer.lookups, 1);
    assert.deepEqual(await client.commit(offsets(0, 1)), []);
    assert.equal(consumer.lookups, 2);
  });

  test("a new generation (ILLEGAL_GENERATION on every partition) rejects as final: the member must rejoin", async () => {
    const consumer = new FakeConsumer();
    consumer.coordinator.answer(offsetCommitAnswer({ t: [[0, 22], [1, 22]] }));
    const { client } = clientWith(consumer);
    await assert.rejects(
      client.commit(offsets(0, 1)),
      (error) => error instanceof ResponseError && !isRetriable(error),
    );
  });

  test("a lost connection rejects as retriable; a coordinator missing from the metadata too", async () => {
    const consumer = new FakeConsumer();
    consumer.coordinator.answer(new NetworkError("Connection closed"));
    const { client } = clientWith(consumer);
    await assert.rejects(client.commit(offsets(0)), retriableWith(/Connection closed/));
    consumer.coordinatorId = 9;
    await assert.rejects(
      client.commit(offsets(0)),
      retriableWith(/group coordinator 9 is not in the cluster metadata/),
    );
    assert.equal(consumer.coordinator.requests.length, 1);
  });

  test("with a known coordinator the request is sent in the caller's tick (ahead of a rejoin)", async () => {
    const consumer = new FakeConsumer();
    consumer.coordinator.answer(offsetCommitAnswer({ t: [[0, 0]] }), offsetCommitAnswer({ t: [[0, 0]] }));
    const { client } = clientWith(consumer);
    const first = client.commit(offsets(0));
    // No coordinator yet: it is looked up first.
    assert.equal(consumer.coordinator.requests.length, 0);
    await first;
    const second = client.commit(offsets(0));
    assert.equal(consumer.coordinator.requests.length, 2);
    await second;
  });
});

describe("platformatic client: committed offsets", () => {
  test("reads offsets and metadata from a freshly found coordinator; -1 and absent partitions are null", async () => {
    const consumer = new FakeConsumer();
    consumer.coordinator.answer(
      offsetFetchAnswer("g", {
        t: [{ partition: 0, offset: 42n, metadata: "map" }, { partition: 1, offset: -1n, metadata: "" }],
      }),
      offsetFetchAnswer("g", {}),
    );
    const { client } = clientWith(consumer);
    const partitions = [{ topic: "t", partition: 0 }, { topic: "t", partition: 1 }, { topic: "u", partition: 0 }];
    assert.deepEqual(await client.committed(partitions), [
      { topic: "t", partition: 0, offset: 42n, metadata: "map" },
      { topic: "t", partition: 1, offset: null, metadata: null },
      { topic: "u", partition: 0, offset: null, metadata: null },
    ]);
    assert.equal(consumer.coordinator.requests[0]?.apiKey, offsetFetchV9.api.key);
    await client.committed(partitions);
    assert.equal(consumer.lookups, 2);
  });

  test("a group error rejects, retriable when the protocol says so", async () => {
    const consumer = new FakeConsumer();
    consumer.coordinator.answer(offsetFetchAnswer("g", {}, 14), offsetFetchAnswer("g", {}, 30));
    const { client } = clientWith(consumer);
    await assert.rejects(
      client.committed([{ topic: "t", partition: 0 }]),
      (error) => error instanceof ResponseError && isRetriable(error),
    );
    await assert.rejects(
      client.committed([{ topic: "t", partition: 0 }]),
      (error) => error instanceof ResponseError && !isRetriable(error),
    );
  });
});

describe("platformatic client: list offsets", () => {
  test("asks per topic with the timestamp and isolation level; a partition without an answer is retriable", async () => {
    const consumer = new FakeConsumer();
    consumer.listOffsets = (options) => {
      consumer.calls.push(["listOffsets", options]);
      return Promise.resolve(new Map([["t", [3n, 4n]]]));
    };
    const { client } = clientWith(consumer);
    const partitions = [{ topic: "t", partition: 1 }, { topic: "t", partition: 0 }];
    assert.deepEqual(await client.listOffsets(partitions, "latest", "read_uncommitted"), [
      { topic: "t", partition: 1, offset: 4n },
      { topic: "t", partition: 0, offset: 3n },
    ]);
    assert.deepEqual(consumer.calls, [["metadata", { topics: ["t"] }], ["listOffsets", {
      topics: ["t"],
      partitions: { t: [1, 0] },
      timestamp: ListOffsetTimestamps.LATEST,
      isolationLevel: FetchIsolationLevels.READ_UNCOMMITTED,
    }]]);
    consumer.listOffsets = () => Promise.resolve(new Map([["t", [3n]]]));
    await assert.rejects(
      client.listOffsets([{ topic: "t", partition: 1 }], "earliest", "read_committed"),
      retriableWith(/no earliest offset listed for t\[1\]/),
    );
  });

  test("a partition the cached metadata lacks (the topic grew) is looked up again first; still unknown, retriable", async () => {
    const consumer = new FakeConsumer();
    const grown = cluster();
    const t = grown.topics.get("t")!;
    grown.topics.set("t", { ...t, partitions: [...t.partitions, t.partitions[0]!], partitionsCount: 3 });
    consumer.metadata = (options) => {
      consumer.calls.push(["metadata", options]);
      return Promise.resolve(options.forceUpdate ? grown : cluster());
    };
    consumer.listOffsets = () => Promise.resolve(new Map([["t", [3n, 4n, 5n]]]));
    const { client } = clientWith(consumer);
    assert.deepEqual(await client.listOffsets([{ topic: "t", partition: 2 }], "earliest", "read_committed"), [
      { topic: "t", partition: 2, offset: 5n },
    ]);
    assert.deepEqual(consumer.calls, [["metadata", { topics: ["t"] }], ["metadata", {
      topics: ["t"],
      forceUpdate: true,
    }]]);
    await assert.rejects(
      client.listOffsets([{ topic: "t", partition: 3 }], "earliest", "read_committed"),
      retriableWith(/partitions 3 of t are not in the cluster metadata yet/),
    );
  });
});

describe("platformatic client: membership", () => {
  const events = () => {
    const seen: (GroupAssignment | string)[] = [];
    return {
      seen,
      joined: (assignment: GroupAssignment) => seen.push(assignment),
      revoking: () => Promise.resolve(),
      lost: () => seen.push("lost"),
      rebalancing: () => seen.push("rebalancing"),
      failed: (error: Error) => seen.push(`failed: ${error.message}`),
    };
  };

  test("subscribes and joins; the consumer's group events are forwarded once, however often join is called", async () => {
    const consumer = new FakeConsumer();
    const { client } = clientWith(consumer);
    const heard = events();
    await client.join(["t", "u"], heard);
    await client.join(["t", "u"], heard);
    assert.deepEqual(consumer.tracked, ["t", "u", "t", "u"]);
    consumer.emit("consumer:group:join", {
      groupId: "g",
      memberId: "m",
      generationId: 3,
      assignments: [{ topic: "t", partitions: [0, 2] }],
    });
    consumer.emit("consumer:group:join", { groupId: "g", memberId: "m" });
    consumer.emit("consumer:group:rebalance", { groupId: "g" });
    consumer.emit("error", new Error("heartbeat failed"));
    assert.deepEqual(heard.seen, [
      { generation: 3, memberId: "m", partitions: [{ topic: "t", partition: 0 }, { topic: "t", partition: 2 }] },
      { generation: -1, memberId: "m", partitions: [] },
      "rebalancing",
      "failed: heartbeat failed",
    ]);
    await client.close();
    consumer.emit("error", new Error("closing"));
    assert.equal(heard.seen.length, 4);
  });

  test("a rejoin subscribes to exactly its topics: one the cluster lost (deleted) is left out", async () => {
    const consumer = new FakeConsumer();
    const { client } = clientWith(consumer);
    await client.join(["t", "u"], events());
    await client.join(["t"], events());
    assert.deepEqual(consumer.topics.current, ["t"]);
    await client.join(["t", "u"], events());
    assert.deepEqual(consumer.topics.current, ["t", "u"]);
    await client.close();
  });

  test("a topic missing at a rejoin (deleted since the partition check) is retriable; at the first join it is final", async () => {
    const consumer = new FakeConsumer();
    const { client } = clientWith(consumer);
    // The library names "t" (it exists): the failure names the topic the cluster lacks.
    consumer.joinGroup = () => Promise.reject(new UserError("Unknown topic t."));
    const named = finalWith(
      /^could not join group "g" on a:9092, b:9093: the cluster has no topic "u": create it before starting the consumer, or check kafka\.topics$/,
    );
    await assert.rejects(client.join(["t", "u"], events()), named);
    await assert.rejects(client.join(["t", "u"], events()), named, "start()'s retry: final too");
    consumer.joinGroup = () => Promise.resolve("member-1");
    await client.join(["t", "u"], events());
    consumer.joinGroup = () => Promise.reject(new UserError("Unknown topic u."));
    await assert.rejects(client.join(["t", "u"], events()), retriableWith(/Unknown topic u/));
    await client.close();
  });

  test("rejected credentials fail at once, final, with the option to fix; the group is not joined", async () => {
    const consumer = new FakeConsumer();
    consumer.firstAvailable = () =>
      Promise.reject(
        new MultipleErrors("Cannot connect to any broker.", [
          new NetworkError("Connection failed", { cause: new AuthenticationError("SASL authentication failed.") }),
        ]),
      );
    const { client } = clientWith(consumer);
    await assert.rejects(
      client.join(["t"], events()),
      finalWith(/^could not join group "g" on a:9092, b:9093: SASL authentication failed\. \(.*kafka\.sasl/),
    );
    assert.equal(consumer.calls.some(([name]) => name === "joinGroup"), false);
  });

  test("an unreachable broker is left to the join's retries; a join that fails for now is retriable", async () => {
    const consumer = new FakeConsumer();
    consumer.firstAvailable = () => Promise.reject(new NetworkError("connect ECONNREFUSED"));
    consumer.joinGroup = () =>
      Promise.reject(new MultipleErrors("joinGroup failed 3 times.", [new ProtocolError("COORDINATOR_NOT_AVAILABLE")]));
    const { client } = clientWith(consumer);
    await assert.rejects(
      client.join(["t"], events()),
      retriableWith(/could not join group "g".*The coordinator is not available/),
    );
    consumer.joinGroup = () => Promise.reject(new ProtocolError("GROUP_AUTHORIZATION_FAILED"));
    await assert.rejects(client.join(["t"], events()), finalWith(/could not join group "g"/));
  });
});

describe("platformatic client: a static member another consumer replaced (classic protocol)", () => {
  const events = () => {
    const seen: string[] = [];
    return {
      seen,
      joined: () => void seen.push("joined"),
      revoking: () => Promise.resolve(),
      lost: () => void seen.push("lost"),
      rebalancing: () => void seen.push("rebalancing"),
      failed: (error: Error) => void seen.push(`failed: ${error.message}`),
    };
  };
  const staticClient = (consumer: FakeConsumer) =>
    new PlatformaticClient({ ...OPTIONS, groupInstanceId: "instance-1" }, fakeLibrary(consumer));
  /** What the library's heartbeat trace publishes when a heartbeat of `client` fails, before it acts on it. */
  const heartbeatFailed = (client: unknown, error: Error) => consumerHeartbeatChannel.error.publish({ client, error });
  const TAKEN = 'failed: another consumer joined the group with this one\'s kafka.groupInstanceId "instance-1" ' +
    "and took its place: this consumer stopped (give every running consumer its own groupInstanceId)";

  test("a heartbeat's FENCED_INSTANCE_ID: the membership stops before the library rejoins, the partitions are lost, the member fails", async () => {
    const consumer = new FakeConsumer();
    const client = staticClient(consumer);
    const heard = events();
    await client.join(["t"], heard);
    heartbeatFailed(new FakeConsumer(), new ProtocolError("FENCED_INSTANCE_ID")); // another consumer's
    heartbeatFailed(consumer, new ProtocolError("UNKNOWN_MEMBER_ID")); // the library rejoins: nothing to do
    heartbeatFailed(consumer, new ProtocolError("REBALANCE_IN_PROGRESS"));
    assert.deepEqual(heard.seen, []);
    assert.equal(consumer.calls.some(([name]) => name === "leaveGroup"), false);
    heartbeatFailed(consumer, new ResponseError(12, 4, { "": [82, null] }, {}));
    // leaveGroup() stops the library's membership in this tick: its rejoin, next after the trace, does nothing.
    assert.deepEqual(consumer.calls.filter(([name]) => name === "leaveGroup").length, 1);
    assert.deepEqual(heard.seen, ["lost", TAKEN]);
    heartbeatFailed(consumer, new ProtocolError("FENCED_INSTANCE_ID"));
    assert.deepEqual(heard.seen, ["lost", TAKEN], "once");
    await client.close();
  });

  test("a commit refused with FENCED_INSTANCE_ID: the same, and the commit still rejects", async () => {
    const consumer = new FakeConsumer();
    consumer.coordinator.answer(offsetCommitAnswer({ t: [[0, 82], [1, 82]] }));
    const client = staticClient(consumer);
    const heard = events();
    await client.join(["t"], heard);
    await assert.rejects(client.commit(offsets(0, 1)), (error) => error instanceof ResponseError);
    assert.deepEqual(heard.seen, ["lost", TAKEN]);
    assert.equal(consumer.calls.filter(([name]) => name === "leaveGroup").length, 1);
    await client.close();
  });

  test("after close(), and without a groupInstanceId, heartbeat traces are not heard", async () => {
    const closed = new FakeConsumer();
    const client = staticClient(closed);
    const heard = events();
    await client.join(["t"], heard);
    await client.close();
    heartbeatFailed(closed, new ProtocolError("FENCED_INSTANCE_ID"));
    const dynamic = new FakeConsumer();
    const { client: other } = clientWith(dynamic);
    const heardDynamic = events();
    await other.join(["t"], heardDynamic);
    heartbeatFailed(dynamic, new ProtocolError("FENCED_INSTANCE_ID"));
    assert.deepEqual([heard.seen, heardDynamic.seen], [[], []]);
    await other.close();
  });
});

describe("platformatic client: produce and close", () => {
  const record = {
    topic: "dlq",
    key: null,
    value: new Uint8Array([1]),
    // A repeated name stays two headers.
    headers: [["reason", new Uint8Array([2])], ["empty", null], ["reason", new Uint8Array([3])]] as const,
  };

  test("the producer is made on the first publish, once; records become the library's messages", async () => {
    const consumer = new FakeConsumer();
    const producer = new FakeProducer();
    const { client, library } = clientWith(consumer, () => producer);
    assert.equal(library.producersMade, 0);
    await client.produce([record]);
    await client.produce([record]);
    assert.equal(library.producersMade, 1);
    const { messages } = producer.sent[0] as { messages: { headers: Map<Buffer, Buffer | undefined> }[] };
    const { headers, ...rest } = messages[0]!;
    assert.deepEqual(messages.length, 1);
    assert.deepEqual(rest, { topic: "dlq", value: Buffer.from([1]) });
    // Entries in order (Bun's deepEqual cannot pair a map's equal-looking Buffer keys).
    assert.deepEqual([...headers], [
      [Buffer.from("reason"), Buffer.from([2])],
      [Buffer.from("empty"), undefined],
      [Buffer.from("reason"), Buffer.from([3])],
    ]);
  });

  test("a failed send is retriable where it can help; after close, publishing fails and everything is closed once", async () => {
    const consumer = new FakeConsumer();
    const producer = new FakeProducer();
    producer.send = () => Promise.reject(new NetworkError("Connection closed"));
    const { client } = clientWith(consumer, () => producer);
    await assert.rejects(client.produce([record]), retriableWith(/Connection closed/));
    await client.close();
    assert.equal(consumer.closed, true);
    assert.equal(producer.closed, true);
    await assert.rejects(client.produce([record]), finalWith(/the Kafka client is closed/));
    consumer.closed = false;
    await client.close();
    assert.equal(consumer.closed, false);
  });

  test("the producer is closed even when leaving the group fails", async () => {
    const consumer = new FakeConsumer();
    consumer.close = () => Promise.reject(new Error("leave failed"));
    const producer = new FakeProducer();
    const { client } = clientWith(consumer, () => producer);
    await client.produce([record]);
    await assert.rejects(client.close(), /leave failed/);
    assert.equal(producer.closed, true);
  });
});
