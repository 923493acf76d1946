import type { ConsumerMetrics } from "../core/metrics-snapshot.ts";

/**
 * What the metrics exporters need from a consumer: its id (the `consumer` label) and a snapshot.
 * A `ParallelConsumer` fits; so does any object with these two members. Stated here, not picked
 * from the consumer, so that the metrics entry loads nothing of the consumer.
 */
export interface ParallelConsumerLike {
  /** The `consumer` label of its series. */
  readonly id: string;
  getMetrics(): ConsumerMetrics;
}
