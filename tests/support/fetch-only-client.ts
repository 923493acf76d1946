// The part of a KafkaClient the fetcher does not use, for fakes that model only leaders() and
// fetch(): offsets start at 0, close() does nothing, and any other call is a test mistake.
import type {
  FetchedPartition,
  FetchRequest,
  KafkaClient,
  ListedOffset,
  PartitionLeader,
} from "../../src/adapters/group/kafka-client.ts";
import type { TopicPartition } from "../../src/core/message.ts";

export abstract class FetchOnlyClient implements KafkaClient {
  abstract leaders(topics: readonly string[], refresh: boolean): Promise<readonly PartitionLeader[]>;
  abstract fetch(request: FetchRequest): Promise<readonly FetchedPartition[]>;

  listOffsets(partitions: readonly TopicPartition[]): Promise<readonly ListedOffset[]> {
    return Promise.resolve(partitions.map((p) => ({ ...p, offset: 0n })));
  }

  join(): Promise<void> {
    throw new Error("not used by the fetcher");
  }

  partitionCounts(): never {
    throw new Error("not used by the fetcher");
  }

  commit(): never {
    throw new Error("not used by the fetcher");
  }

  committed(): never {
    throw new Error("not used by the fetcher");
  }

  produce(): never {
    throw new Error("not used by the fetcher");
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
