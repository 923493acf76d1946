// What the simulated producers write: keys, values and headers of every legal shape (null, empty,
// repeated names, null header values, rare values up to 1 MB), plain batches and transactions of
// several producers interleaved, committed, aborted or left open, on every partition.
import type { FakeCluster, RecordInput, TestProducer } from "./fake-cluster.ts";
import type { Random } from "./random.ts";

const encoder = new TextEncoder();

/** How one run's data looks. */
export interface ContentProfile {
  readonly keys: number;
  /** Share of large values (100 KB to 1 MB). */
  readonly largeValues: number;
  readonly transactional: number;
  readonly abortShare: number;
  readonly headerShare: number;
}

export function contentProfile(random: Random): ContentProfile {
  return {
    keys: random.pick([1, 3, 10, 50, 500]),
    largeValues: random.chance(0.1) ? 0.01 : 0,
    transactional: random.pick([0, 0.3, 0.7]),
    abortShare: random.pick([0.1, 0.3, 0.5]),
    headerShare: random.pick([0, 0.2, 0.6]),
  };
}

/** One record of any legal shape. */
export function randomRecord(random: Random, profile: ContentProfile, serial: number): RecordInput {
  const key = random.weighted<Uint8Array | null>([
    [8, null],
    [4, new Uint8Array(0)],
    [70, encoder.encode(`k${random.int(0, profile.keys - 1)}`)],
    [18, encoder.encode(`u${serial}`)],
  ]);
  const size = random.weighted<number | null>([
    [4, null],
    [4, 0],
    [92 - profile.largeValues * 100, random.int(1, 120)],
    [profile.largeValues * 100, random.int(100_000, 1_048_576)],
  ]);
  const value = size === null ? null : new Uint8Array(size).fill(serial & 0xff);
  const headers: [Uint8Array | null, Uint8Array | null][] = [];
  if (random.chance(profile.headerShare)) {
    for (let i = random.int(1, 3); i > 0; i--) {
      headers.push([
        encoder.encode(random.pick(["trace", "type", "trace", ""])),
        random.chance(0.4) ? null : encoder.encode(random.pick(["", "x", `v${serial}`])),
      ]);
    }
  }
  return { key, value, headers };
}

/** Writes batches and transactions; keeps transactions open across calls, as producers do. */
export class ContentWriter {
  readonly #cluster: FakeCluster;
  readonly #random: Random;
  readonly #profile: ContentProfile;
  #partitions: { topic: string; partition: number }[];
  readonly #producers: TestProducer[];
  #serial = 0;

  constructor(
    cluster: FakeCluster,
    random: Random,
    profile: ContentProfile,
    topics: readonly { name: string; partitions: number }[],
  ) {
    this.#cluster = cluster;
    this.#random = random;
    this.#profile = profile;
    this.#partitions = topics.flatMap(({ name, partitions }) =>
      Array.from({ length: partitions }, (_, partition) => ({ topic: name, partition }))
    );
    this.#producers = [1, 2, 3].map((id) => cluster.producer(id));
  }

  /** The topic grew to `partitions` (or was created again with them): later writes go to the new ones too. */
  grew(topic: string, partitions: number): void {
    const known = this.#partitions.filter((p) => p.topic === topic).length;
    for (let partition = known; partition < partitions; partition++) this.#partitions.push({ topic, partition });
  }

  /** The topic was deleted: nothing more is written to it (until it grows again from none). */
  deleted(topic: string): void {
    this.#partitions = this.#partitions.filter((p) => p.topic !== topic);
  }

  /** Writes about `records` records, to topic `only` if given (none when every topic is gone). */
  write(records: number, only?: string): void {
    const random = this.#random;
    const partitions = only === undefined ? this.#partitions : this.#partitions.filter((p) => p.topic === only);
    if (partitions.length === 0) return;
    for (let written = 0; written < records;) {
      const batch = Array.from(
        { length: random.int(1, 12) },
        () => randomRecord(random, this.#profile, this.#serial++),
      );
      const { topic, partition } = random.pick(partitions);
      written += batch.length;
      if (!random.chance(this.#profile.transactional)) {
        if (random.chance(0.5)) this.#cluster.append(topic, partition, batch);
        else this.#cluster.producer(10).send(topic, partition, batch);
        continue;
      }
      const producer = random.pick(this.#producers);
      if (!producer.inTransaction) producer.begin();
      producer.send(topic, partition, batch);
      if (random.chance(0.5)) this.#end(producer);
    }
  }

  /** Ends open transactions; with `all` false some stay open (the log's last stable offset stays behind). */
  settle(all: boolean): void {
    for (const producer of this.#producers) {
      if (producer.inTransaction && (all || this.#random.chance(0.7))) this.#end(producer);
    }
  }

  #end(producer: TestProducer): void {
    if (this.#random.chance(this.#profile.abortShare)) producer.abort();
    else producer.commit();
  }
}
