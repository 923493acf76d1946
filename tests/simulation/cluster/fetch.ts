// One evaluation of a fetch request against the logs, as a broker's ReplicaManager.readFromLog
// does: per-partition leader and range checks, whole batches below the fetch limit (LSO or HW)
// within the partition's and the response's byte limits, and the aborted transactions in range.
import type {
  AbortedTransaction,
  FetchedPartition,
  FetchPartitionError,
  FetchPartitionRequest,
  FetchRequest,
} from "../../../src/adapters/group/kafka-client.ts";
import type { Random } from "../random.ts";
import type { ClusterContext } from "./context.ts";
import { notLeader, unknownTopicOrPartition } from "./errors.ts";

/** A fetch response, and whether a broker would send it now rather than keep waiting. */
export interface FetchEvaluation {
  readonly partitions: readonly FetchedPartition[];
  /** Some partition has data or an error: a long poll ends. */
  readonly ready: boolean;
}

/** Evaluates `request` against the current logs. */
export function evaluateFetch(ctx: ClusterContext, request: FetchRequest): FetchEvaluation {
  const readCommitted = request.isolationLevel === "read_committed";
  let remaining = request.maxBytes;
  let anyData = false;
  let anyError = false;
  const partitions: FetchedPartition[] = [];
  for (const wanted of request.partitions) {
    const log = ctx.partitions(wanted.topic)?.[wanted.partition];
    if (log === undefined) {
      anyError = true;
      partitions.push(
        failed(wanted, { kind: "retriable", error: unknownTopicOrPartition(wanted.topic, wanted.partition) }),
      );
      continue;
    }
    if (log.leader !== request.node) {
      anyError = true;
      partitions.push(
        failed(wanted, { kind: "retriable", error: notLeader(wanted.topic, wanted.partition, request.node) }),
      );
      continue;
    }
    const offsets = {
      highWatermark: log.highWatermark,
      lastStableOffset: log.lastStableOffset,
      logStartOffset: log.logStartOffset,
    };
    if (wanted.offset < log.logStartOffset || wanted.offset > log.highWatermark) {
      anyError = true;
      partitions.push({ ...failed(wanted, { kind: "offsetOutOfRange" }), ...offsets });
      continue;
    }
    const limit = readCommitted ? log.lastStableOffset : log.highWatermark;
    // The first batch of the response's first non-empty partition comes whole, as KIP-74 keeps it.
    const { batches, bytes } = remaining > 0 || !anyData
      ? log.read(wanted.offset, limit, Math.min(wanted.maxBytes, remaining), !anyData)
      : { batches: [], bytes: 0 };
    remaining -= bytes;
    let abortedTransactions: AbortedTransaction[] = [];
    const last = batches[batches.length - 1];
    if (last !== undefined) {
      anyData = true;
      if (readCommitted) {
        const lastOffset = last.firstOffset + BigInt(last.lastOffsetDelta);
        abortedTransactions = shuffle(ctx.random, log.abortedIn(wanted.offset, lastOffset));
      }
    }
    partitions.push({
      topic: wanted.topic,
      partition: wanted.partition,
      ...offsets,
      abortedTransactions,
      batches,
      recordBytes: bytes,
    });
  }
  return { partitions, ready: anyData || anyError };
}

function failed(wanted: FetchPartitionRequest, error: FetchPartitionError): FetchedPartition {
  return {
    topic: wanted.topic,
    partition: wanted.partition,
    error,
    highWatermark: -1n,
    lastStableOffset: -1n,
    logStartOffset: -1n,
    abortedTransactions: [],
    batches: [],
    recordBytes: 0,
  };
}

/** Our port promises aborted transactions "in any order": every seed picks one. */
function shuffle<T>(random: Random, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.int(0, i);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
