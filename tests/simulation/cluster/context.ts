// What a member's client sees of the cluster: logs, the coordinator, the active faults, timing.
// An interface of its own so the client and the cluster do not import each other.
import type { Clock } from "../../../src/core/clock.ts";
import type { Random } from "../random.ts";
import type { ConsumerGroupCoordinator } from "./consumer-group.ts";
import type { DelayRange, GroupCoordinator } from "./group.ts";
import type { History } from "./history.ts";
import type { PartitionLog } from "./log.ts";

/** Fault state the driver sets through the cluster and the clients consult. */
export interface Faults {
  /** Virtual time until which the coordinator rejects commit/committed/join. */
  coordinatorDownUntil: number;
  /** Virtual time until which fetches reject as a whole. */
  fetchErrorsUntil: number;
  /** Commit requests still to reject as a whole. */
  commitRequestFailures: number;
  /** Commit requests still to fail one partition of. */
  commitPartitionFailures: number;
  produceFailures: number;
  /** Member names whose `join()` is refused (bad credentials); `"*"` refuses everyone. */
  readonly joinRefused: Set<string>;
}

/** Timings, drawn per event from the cluster's seeded random. */
export interface Timings {
  /** Answer latency of every call. */
  readonly latencyMs: DelayRange;
  /** From a rebalance's start to a member hearing `rebalancing()`. */
  readonly rebalancingDelayMs: DelayRange;
  /** From being fenced to the member's next heartbeat noticing it. */
  readonly heartbeatMs: DelayRange;
  /**
   * Classic protocol: from a member hearing its first assignment to its `join()` resolving (a
   * client may announce the assignment before it answers the join, so fetching can begin first).
   */
  readonly joinAnswerMs: DelayRange;
}

/** The cluster as a member's client uses it. */
export interface ClusterContext {
  readonly clock: Clock;
  readonly random: Random;
  readonly history: History;
  /** The classic group coordinator; it also keeps the group's committed offsets under either protocol. */
  readonly group: GroupCoordinator;
  /** The consumer protocol's coordinator, when the group runs it; members then heartbeat to it. */
  readonly consumerGroup: ConsumerGroupCoordinator | undefined;
  /** Consumer protocol: the rebalance timeout members send (how long a revocation may take). */
  readonly rebalanceTimeoutMs: number;
  /** The clock of a member's own timers (its heartbeats), named after it for leak checks. */
  memberClock(name: string): Clock;
  readonly faults: Faults;
  readonly timings: Timings;
  /** The broker's `offset.metadata.max.bytes`. */
  readonly offsetMetadataMaxBytes: number;
  /** Every partition of `topic` (empty when it does not exist). */
  partitions(topic: string): readonly PartitionLog[] | undefined;
  /** The partition's log, creating its topic with one partition when missing (produce auto-creates). */
  logForProduce(topic: string, key: Uint8Array | null): PartitionLog;
  /** Timestamp for a batch appended now. */
  timestamp(): bigint;
  /** A delay drawn from `range`. */
  delay(range: DelayRange): number;
}
