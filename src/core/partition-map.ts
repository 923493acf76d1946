// A map keyed by topic and partition. Looked up once per message on the hot path: nested maps
// hash the topic string (its hash is cached) and a small integer, where a `${topic}:${partition}`
// key would build and hash a new string every time.
import type { TopicPartition } from "./message.ts";

/** Values by topic-partition. */
export class PartitionMap<V> {
  readonly #topics = new Map<string, Map<number, V>>();

  get(topic: string, partition: number): V | undefined {
    return this.#topics.get(topic)?.get(partition);
  }

  has(topic: string, partition: number): boolean {
    return this.#topics.get(topic)?.has(partition) ?? false;
  }

  set(topic: string, partition: number, value: V): void {
    let partitions = this.#topics.get(topic);
    if (!partitions) this.#topics.set(topic, partitions = new Map());
    partitions.set(partition, value);
  }

  delete(topic: string, partition: number): boolean {
    const partitions = this.#topics.get(topic);
    if (!partitions?.delete(partition)) return false;
    if (partitions.size === 0) this.#topics.delete(topic);
    return true;
  }

  /** Number of topic-partitions. */
  get size(): number {
    let size = 0;
    for (const partitions of this.#topics.values()) size += partitions.size;
    return size;
  }

  *values(): IterableIterator<V> {
    for (const partitions of this.#topics.values()) yield* partitions.values();
  }

  /** Each topic-partition with its value. */
  *entries(): IterableIterator<[TopicPartition, V]> {
    for (const [topic, partitions] of this.#topics) {
      for (const [partition, value] of partitions) yield [{ topic, partition }, value];
    }
  }
}
