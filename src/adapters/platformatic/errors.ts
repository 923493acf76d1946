// The library's errors in the port's terms: which rejections are worth retrying, and the protocol
// error codes of a fetch or a commit as per-partition errors. Pure functions.
import { findErrorBy, type offsetCommitV9, protocolErrors, protocolErrorsCodesById } from "@platformatic/kafka";
import type { PartitionError } from "../../core/ports/kafka-adapter.ts";
import { toError } from "../../core/thrown.ts";
import { type ClientError, type FetchPartitionError, retriable } from "../group/kafka-client.ts";

/** Marks `error` as retriable when the client says retrying can help (or it is a timeout). */
export function markRetriable(error: unknown): ClientError {
  const base = toError(error);
  const canRetry = findErrorBy(base, "canRetry", true) !== null ||
    findErrorBy(base, "code", "PLT_KFK_TIMEOUT") !== null ||
    findErrorBy(base, "code", "PLT_KFK_NETWORK") !== null;
  return canRetry ? retriable(base) : base;
}

/** Runs a client call, marking whether its failure is worth retrying. */
export async function callMarked<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw markRetriable(error);
  }
}

/** The protocol's name and retry advice for an error code, if the client knows it. */
function protocolError(code: number): { readonly id: string; readonly canRetry: boolean } | undefined {
  const id = protocolErrorsCodesById[code];
  return id === undefined ? undefined : protocolErrors[id];
}

/** The protocol's name for an error code, or "error code N" for one the client does not know. */
function errorName(code: number): string {
  return protocolError(code)?.id ?? `error code ${code}`;
}

const OFFSET_OUT_OF_RANGE = protocolErrors.OFFSET_OUT_OF_RANGE!.code;

/** A fetch's per-partition error code in the port's terms (`undefined` for none). */
export function fetchError(code: number): FetchPartitionError | undefined {
  if (code === 0) return undefined;
  if (code === OFFSET_OUT_OF_RANGE) return { kind: "offsetOutOfRange" };
  const error = new Error(`fetch failed: ${errorName(code)}`);
  // An unknown code may be a newer broker's retriable one: only a known final code fails the consumer.
  return protocolError(code)?.canRetry === false ? { kind: "fatal", error } : { kind: "retriable", error };
}

/** OffsetCommit errors about one partition; any other code concerns the whole group request. */
const PARTITION_COMMIT_ERRORS = new Set(
  [
    "OFFSET_METADATA_TOO_LARGE",
    "UNKNOWN_TOPIC_OR_PARTITION",
    "TOPIC_AUTHORIZATION_FAILED",
    "INVALID_COMMIT_OFFSET_SIZE",
  ]
    .map((id) => protocolErrors[id]!.code),
);

/**
 * An OffsetCommit refused for some partitions only (the broker committed the others): those
 * partitions and their errors; `undefined` when the request as a whole failed (a group error such
 * as a new generation, which the broker reports on every partition).
 */
export function partitionFailures(error: unknown): PartitionError[] | undefined {
  const response = (error as { response?: offsetCommitV9.OffsetCommitResponse }).response;
  if (!response?.topics) return undefined;
  const failed: PartitionError[] = [];
  for (const topic of response.topics) {
    for (const p of topic.partitions) {
      if (p.errorCode === 0) continue;
      if (!PARTITION_COMMIT_ERRORS.has(p.errorCode)) return undefined;
      failed.push({
        topic: topic.name,
        partition: p.partitionIndex,
        error: new Error(`commit refused: ${errorName(p.errorCode)}`, { cause: error }),
      });
    }
  }
  return failed.length > 0 ? failed : undefined;
}
