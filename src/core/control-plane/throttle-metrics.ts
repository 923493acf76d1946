import type { PartitionMetrics, StartPauseReason } from "../metrics-snapshot.ts";
import type { PartitionState, WorkItem } from "./partition-state.ts";
import type { Throttle } from "./throttle.ts";

/** What the throttle adds to a metrics snapshot. */
export interface ThrottleFigures {
  readonly reason: StartPauseReason;
  /** Ready messages held back by the rate limit or a handler's pause. */
  readonly held: number;
  /** Each partition's metrics; a partition not held back otherwise says so when it only waits for the throttle. */
  readonly partitions: PartitionMetrics[];
}

/** The partitions' metrics and the throttle's figures at `now`. */
export function throttleMetrics(
  throttle: Throttle<WorkItem>,
  states: Iterable<PartitionState>,
  now: number,
): ThrottleFigures {
  const partitions: PartitionMetrics[] = [];
  let ready = 0;
  for (const state of states) {
    const metrics = state.metrics();
    const stateReady = state.scheduler.readyCount;
    ready += stateReady;
    // The partition's own reasons come first: they say more (its fetching or its commit is held).
    const waits = metrics.pauseReason === null ? throttle.partitionReason(state, stateReady, now) : null;
    partitions.push(waits === null ? metrics : { ...metrics, pauseReason: waits });
  }
  return { reason: throttle.reason(ready, now), held: throttle.held(ready, now), partitions };
}
