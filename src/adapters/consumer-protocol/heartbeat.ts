// The consumer group protocol (KIP-848) as one request: ConsumerGroupHeartbeat, in topic names
// rather than topic ids. A transport sends it (../platformatic/consumer-heartbeat.ts on the wire;
// the seeded simulation to its model of a coordinator) and says how a failure is to be handled.
import type { TopicPartition } from "../../core/message.ts";

/** Member epochs with a meaning of their own. */
export const MemberEpoch = {
  /** Joins the group (or rejoins after being fenced). */
  JOIN: 0,
  /** Leaves the group. */
  LEAVE: -1,
  /** A static member (`group.instance.id`) leaves but keeps its assignment for the session timeout. */
  LEAVE_STATIC: -2,
} as const;

/** One ConsumerGroupHeartbeat. Every field is sent every time (a "full" request). */
export interface HeartbeatRequest {
  /** Chosen by the client (a UUID) and kept for the consumer's lifetime (KIP-1082). */
  readonly memberId: string;
  readonly memberEpoch: number;
  /** Static membership's `group.instance.id`, or `null`. */
  readonly instanceId: string | null;
  /** How long the member may take to give up revoked partitions before the group fences it. */
  readonly rebalanceTimeoutMs: number;
  readonly subscribedTopicNames: readonly string[];
  /** What the member owns now: a revoked partition stays in it until the member has released it. */
  readonly ownedPartitions: readonly TopicPartition[];
}

/** The coordinator's answer. */
export interface HeartbeatResponse {
  /** The member's epoch from now on (unchanged while it still owns partitions the group revoked). */
  readonly memberEpoch: number;
  /** When to heartbeat next. */
  readonly heartbeatIntervalMs: number;
  /**
   * Every partition the member is to own now (never one another member still has to release), or
   * `null` when the coordinator sent none.
   */
  readonly assignment: readonly TopicPartition[] | null;
}

/**
 * What a failed heartbeat means:
 * - `fenced`: FENCED_MEMBER_EPOCH or UNKNOWN_MEMBER_ID: the member's partitions are lost (others
 *   may own them already); it rejoins with epoch 0;
 * - `retriable`: the coordinator is moving or loading, the connection failed: try again soon;
 * - `replaced`: FENCED_INSTANCE_ID: another member took this static member's instance id (this one's
 *   session had ended): its partitions are lost, and it stops for good;
 * - `fatal`: retrying cannot help (not authorized, the protocol is not supported, …).
 */
export type HeartbeatFailure = "fenced" | "retriable" | "replaced" | "fatal";

/** Sends heartbeats to the group coordinator. */
export interface HeartbeatTransport {
  /** Rejects when the coordinator refused the request or could not be reached. */
  heartbeat(request: HeartbeatRequest): Promise<HeartbeatResponse>;
  /** How to handle a rejection of `heartbeat`. */
  failureOf(error: unknown): HeartbeatFailure;
}
