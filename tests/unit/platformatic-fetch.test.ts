// The platformatic client's fetch without a broker: Fetch requests on a scripted connection to the
// leading broker, answered with bytes the library's own parsers read (tests/chaos/failover.test.ts
// has the same client against a 3-node cluster whose leaders are killed).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  createRecordsBatch,
  FetchIsolationLevels,
  fetchV17,
  type MetadataOptions,
  NetworkError,
  ProtocolError,
  UserError,
  Writer,
} from "@platformatic/kafka";
import { PlatformaticClient } from "../../src/adapters/platformatic/client.ts";
import { retryDelay } from "../../src/adapters/platformatic/library.ts";
import { isRetriable } from "../../src/adapters/group/kafka-client.ts";
import {
  apiVersionsAnswer,
  cluster,
  FakeConsumer,
  fakeLibrary,
  fetchAnswer,
  OPTIONS,
  readFetchRequest,
} from "../support/platformatic-fakes.ts";

const TOPIC_ID = "0000000a-0000-0000-0000-00000000000b";
const FETCH = fetchV17.api.key;

/** A consumer whose metadata names topic "t" by a real UUID (node 1 "leader" leads partition 0). */
function consumerWithTopic(): FakeConsumer {
  const consumer = new FakeConsumer();
  consumer.metadata = (options) => {
    consumer.calls.push(["metadata", options]);
    return Promise.resolve(cluster(TOPIC_ID));
  };
  return consumer;
}

const clientOf = (consumer: FakeConsumer) => new PlatformaticClient(OPTIONS, fakeLibrary(consumer));

const request = (node: number, ...partitions: number[]) => ({
  node,
  partitions: partitions.map((partition) => ({ topic: "t", partition, offset: 5n, maxBytes: 1024 })),
  maxWaitMs: 500,
  maxBytes: 4096,
  isolationLevel: "read_committed" as const,
});

const retriableWith = (pattern: RegExp) => (error: unknown) =>
  error instanceof Error && pattern.test(error.message) && isRetriable(error);

describe("platformatic client: fetch", () => {
  test("goes once, without a fetch session, to the broker it names, topics by id with the leader epoch", async () => {
    const consumer = consumerWithTopic();
    const leader = consumer.connectionTo("leader");
    leader.answer(apiVersionsAnswer([[FETCH, 4, 17]]), fetchAnswer([[TOPIC_ID, [{ partition: 0 }]]]));
    const client = clientOf(consumer);
    const [fetched] = await client.fetch(request(1, 0));
    assert.deepEqual([fetched?.topic, fetched?.partition, fetched?.error, fetched?.batches], ["t", 0, undefined, []]);
    assert.deepEqual([fetched?.highWatermark, fetched?.lastStableOffset], [100n, 90n]);
    // Not through the library's Consumer.fetch, which retries and picks the broker itself.
    assert.equal(consumer.calls.some(([name]) => name === "fetch"), false);
    const [versions, fetch] = leader.requests;
    assert.deepEqual([versions?.apiKey, fetch?.apiKey, fetch?.apiVersion], [18, FETCH, 17]);
    assert.deepEqual(await readFetchRequest(fetch!), {
      maxWaitMs: 500,
      minBytes: 1,
      maxBytes: 4096,
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      sessionId: 0,
      sessionEpoch: -1,
      partitions: [{
        topicId: TOPIC_ID,
        partition: 0,
        currentLeaderEpoch: 5,
        fetchOffset: 5n,
        partitionMaxBytes: 1024,
      }],
    });
    // The version is learnt once per client.
    leader.answer(fetchAnswer([[TOPIC_ID, [{ partition: 0 }]]]));
    await client.fetch(request(1, 0));
    assert.deepEqual(leader.requests.map(({ apiKey }) => apiKey), [18, FETCH, FETCH]);
  });

  test("fetches go on connections of their own, closed with the client: a commit never queues behind a fetch", async () => {
    const consumer = consumerWithTopic();
    const leader = consumer.connectionTo("leader");
    leader.answer(apiVersionsAnswer([[FETCH, 4, 17]]), fetchAnswer([[TOPIC_ID, [{ partition: 0 }]]]));
    const asked: string[] = [];
    let closed = 0;
    const library = {
      ...fakeLibrary(consumer),
      fetchConnections: () => ({
        get: (broker: { host: string }) => {
          asked.push(broker.host);
          return Promise.resolve(leader);
        },
        close: () => {
          closed++;
          return Promise.resolve();
        },
      }),
    };
    const client = new PlatformaticClient(OPTIONS, library);
    await client.fetch(request(1, 0));
    assert.deepEqual(asked, ["leader"]);
    assert.deepEqual(consumer.connectedTo, [], "not on the consumer's connections (the coordinator's)");
    await client.close();
    assert.equal(closed, 1);
  });

  test("the newest Fetch version both speak; a broker without v13 (topic ids) fails for good", async () => {
    const consumer = consumerWithTopic();
    consumer.connectionTo("leader").answer(apiVersionsAnswer([[FETCH, 4, 15]]), fetchAnswer([]));
    await clientOf(consumer).fetch(request(1, 0));
    assert.equal(consumer.connectionTo("leader").requests[1]?.apiVersion, 15);

    const old = consumerWithTopic();
    old.connectionTo("leader").answer(apiVersionsAnswer([[FETCH, 4, 12]]));
    await assert.rejects(
      clientOf(old).fetch(request(1, 0)),
      (error) => error instanceof Error && /needs v13/.test(error.message) && !isRetriable(error),
    );
  });

  test("a partition's error code is its own: moved, out of range, final; the others keep their data", async () => {
    const consumer = consumerWithTopic();
    const records = createRecordsBatch([
      { key: Buffer.from("a"), value: Buffer.from("1"), topic: "t", partition: 0 },
      { key: Buffer.from("b"), value: Buffer.from("2"), topic: "t", partition: 0 },
    ]);
    consumer.connectionTo("leader").answer(
      apiVersionsAnswer([[FETCH, 4, 17]]),
      fetchAnswer([[TOPIC_ID, [
        { partition: 0, records },
        { partition: 1, errorCode: 6 }, // NOT_LEADER_OR_FOLLOWER
        { partition: 2, errorCode: 1 }, // OFFSET_OUT_OF_RANGE
        { partition: 3, errorCode: 29 }, // TOPIC_AUTHORIZATION_FAILED
      ]]]),
    );
    const partitions = await clientOf(consumer).fetch(request(1, 0, 1, 2, 3));
    assert.deepEqual(partitions.map((p) => [p.partition, p.error?.kind]), [
      [0, undefined],
      [1, "retriable"],
      [2, "offsetOutOfRange"],
      [3, "fatal"],
    ]);
    const moved = partitions[1]?.error;
    assert.equal(moved?.kind === "retriable" && moved.error.message, "fetch failed: NOT_LEADER_OR_FOLLOWER");
    const [batch] = partitions[0]!.batches;
    assert.deepEqual([batch?.firstOffset, batch?.lastOffsetDelta, batch?.isControl], [0n, 1, false]);
    assert.deepEqual(batch?.records.map((r) => Buffer.from(r.key!).toString()), ["a", "b"]);
  });

  test("with checkCrcs, a batch that fails its CRC-32C is a final error naming topic, partition and offset; without, it is read", async () => {
    const batchOf = (value: string) => {
      const writer = createRecordsBatch([{
        key: Buffer.from("k"),
        value: Buffer.from(value),
        topic: "t",
        partition: 0,
      }]);
      const bytes = Buffer.from(writer.buffer);
      bytes.writeBigInt64BE(40n, 0); // the batch's first offset
      return bytes;
    };
    const corrupt = batchOf("value");
    corrupt[corrupt.indexOf("value")] = "V".charCodeAt(0); // "value" becomes "Value"
    const answer = () =>
      fetchAnswer([[TOPIC_ID, [
        { partition: 0, records: Writer.create().append(corrupt) },
        { partition: 1, records: Writer.create().append(batchOf("fine")) },
      ]]]);
    const checked = consumerWithTopic();
    checked.connectionTo("leader").answer(apiVersionsAnswer([[FETCH, 4, 17]]), answer());
    const checking = new PlatformaticClient({ ...OPTIONS, checkCrcs: true }, fakeLibrary(checked));
    const [bad, good] = await checking.fetch(request(1, 0, 1));
    assert.equal(bad?.error?.kind, "fatal");
    assert.match(
      bad?.error?.kind === "fatal" ? bad.error.error.message : "",
      /^cannot read the records of t\[0\]: the record batch at offset 40 is corrupt: its CRC-32C is 0x[0-9a-f]{8}, it says 0x/,
    );
    assert.deepEqual(bad?.batches, []);
    // The other partition's data is unharmed.
    assert.deepEqual([good?.error, good?.batches[0]?.records.map((r) => Buffer.from(r.value!).toString())], [
      undefined,
      ["fine"],
    ]);

    const unchecked = consumerWithTopic();
    unchecked.connectionTo("leader").answer(apiVersionsAnswer([[FETCH, 4, 17]]), answer());
    const [read] = await clientOf(unchecked).fetch(request(1, 0));
    assert.deepEqual([read?.error, read?.batches[0]?.records.map((r) => Buffer.from(r.value!).toString())], [
      undefined,
      ["Value"],
    ]);
  });

  test("a broker that is gone, or not in the metadata any more, rejects at once as retriable", async () => {
    const consumer = consumerWithTopic();
    consumer.refuse.add("leader");
    const client = clientOf(consumer);
    await assert.rejects(client.fetch(request(1, 0)), retriableWith(/Connection to leader failed/));
    // Asked once: no retries behind the fetcher's back (it asks for the leaders again instead).
    assert.equal(consumer.connectedTo.filter(({ host }) => host === "leader").length, 1);
    // No leader (-1), or a node the cluster no longer lists (fenced).
    await assert.rejects(client.fetch(request(-1, 0)), retriableWith(/broker -1 is not in the cluster metadata/));
    await assert.rejects(client.fetch(request(7, 0)), retriableWith(/broker 7 is not in the cluster metadata/));
  });

  test("a failed request as a whole rejects, retriable where it can help", async () => {
    const consumer = consumerWithTopic();
    const leader = consumer.connectionTo("leader");
    leader.answer(apiVersionsAnswer([[FETCH, 4, 17]]), new NetworkError("Connection closed"));
    const client = clientOf(consumer);
    await assert.rejects(client.fetch(request(1, 0)), retriableWith(/Connection closed/));
    // A request-level error code (here UNKNOWN_SERVER_ERROR) leaves nothing to hand over.
    leader.answer(fetchAnswer([[TOPIC_ID, [{ partition: 0 }]]], -1));
    await assert.rejects(client.fetch(request(1, 0)), (error) => error instanceof Error);
    await assert.rejects(
      client.fetch({ ...request(1), partitions: [{ topic: "new", partition: 0, offset: 0n, maxBytes: 1 }] }),
      retriableWith(/topic new is not in the cluster metadata yet/),
    );
  });
});

describe("platformatic client: leaders", () => {
  test("come from the metadata, asked for again on refresh; a partition without a leader is left out", async () => {
    const consumer = new FakeConsumer();
    const client = clientOf(consumer);
    assert.deepEqual(await client.leaders(["t", "unknown"], true), [
      { topic: "t", partition: 0, node: 1 },
      { topic: "t", partition: 1, node: 2 },
    ]);
    assert.deepEqual(consumer.calls, [["metadata", { topics: ["t", "unknown"], forceUpdate: true }]]);
    const electing = cluster();
    electing.topics.get("t")!.partitions[1] = { ...electing.topics.get("t")!.partitions[1]!, leader: -1 };
    consumer.metadata = () => Promise.resolve(electing);
    assert.deepEqual(await client.leaders(["t"], false), [{ topic: "t", partition: 0, node: 1 }]);
    consumer.metadata = () => Promise.reject(new NetworkError("Connection closed"));
    await assert.rejects(client.leaders(["t"], false), retriableWith(/Connection closed/));
  });

  test("a subscribed topic the cluster no longer has (deleted) is left out: the others keep their leaders and counts", async () => {
    const consumer = new FakeConsumer();
    const client = clientOf(consumer);
    const asked: string[][] = [];
    // As the library: a request naming a missing topic fails as a whole, and names some topic of it.
    consumer.metadata = ({ topics = [] }: MetadataOptions) => {
      asked.push(topics);
      if (topics.includes("gone")) return Promise.reject(new UserError(`Unknown topic ${topics[0]}.`));
      return Promise.resolve(cluster());
    };
    const expected = [{ topic: "t", partition: 0, node: 1 }, { topic: "t", partition: 1, node: 2 }];
    assert.deepEqual(await client.leaders(["gone", "t"], true), expected);
    assert.deepEqual(asked, [["gone", "t"], ["gone"], ["t"]], "asked again one by one");
    assert.deepEqual(await client.leaders(["gone"], true), []);
    assert.deepEqual([...await client.partitionCounts(["gone", "t"])], [["t", 2]]);
  });

  test("a metadata request naming a missing topic is tried again at once; every other retry waits the library's second", () => {
    const unknownTopic = new ProtocolError("UNKNOWN_TOPIC_OR_PARTITION");
    assert.equal(retryDelay(consumerLike, "metadata", 1, 3, unknownTopic), 20);
    assert.equal(retryDelay(consumerLike, "metadata", 1, 3, new ProtocolError("LEADER_NOT_AVAILABLE")), 1_000);
    assert.equal(retryDelay(consumerLike, "findGroupCoordinator", 1, 3, unknownTopic), 1_000);
  });
});

const consumerLike = {};
