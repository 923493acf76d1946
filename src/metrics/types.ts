import type { ParallelConsumer } from "../consumer.ts";

/**
 * What the metrics exporters need from a consumer: its id (the `consumer` label) and a snapshot.
 * A {@link ParallelConsumer} fits; so does any object with these two members.
 */
export type ParallelConsumerLike = Pick<ParallelConsumer, "id" | "getMetrics">;
