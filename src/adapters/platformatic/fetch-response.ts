// A Fetch response (v13–v17: topics by id; the versions differ only in tagged fields, which are
// skipped) read with the library's Reader, its records with our own decoder (record-batches.ts).
// Partition errors are data here, not a rejection: the caller hands them to the fetcher one by one;
// so are records that cannot be read (a corrupt batch, an old message format), which the caller
// names by topic, partition and offset.
//
//   throttle_time_ms int32 | error_code int16 | session_id int32 | [responses] | tags
//   responses: topic_id uuid | [partitions] | tags
//   partitions: partition_index int32 | error_code int16 | high_watermark int64 |
//     last_stable_offset int64 | log_start_offset int64 | [aborted_transactions] |
//     preferred_read_replica int32 | records (compact, nullable) | tags
//   aborted_transactions: producer_id int64 | first_offset int64 | tags
import { type Reader, ResponseError, type ResponseParser } from "@platformatic/kafka";
import type { FetchedPartition, RecordBatch } from "../group/kafka-client.ts";
import { decodeRecordBatches } from "./record-batches.ts";

/** One partition of a Fetch response: the port's fields, by index and with its raw error code. */
export interface FetchResponsePartition extends Omit<FetchedPartition, "topic" | "partition" | "error"> {
  readonly partitionIndex: number;
  readonly errorCode: number;
  /** Why its records could not be read (then `batches` is empty): a corrupt batch, an old format. */
  readonly unreadable?: Error;
}

/** A Fetch response whose request-level error code was 0. */
export interface FetchResponse {
  readonly responses: readonly {
    readonly topicId: string;
    readonly partitions: readonly FetchResponsePartition[];
  }[];
}

/**
 * The reader of Fetch v13–v17 responses (the library's ResponseParser), checking every batch's
 * CRC-32C when `checkCrcs`. A request-level error code rejects with the library's ResponseError, as
 * its own parser does.
 */
export function fetchResponseParser(checkCrcs: boolean): ResponseParser<FetchResponse> {
  const partition = (r: Reader) => readPartition(r, checkCrcs);
  return (_correlationId, apiKey, apiVersion, reader) => {
    reader.readInt32(); // throttle_time_ms
    const errorCode = reader.readInt16();
    reader.readInt32(); // session_id
    const responses = reader.readArray((r) => ({ topicId: r.readUUID(), partitions: r.readArray(partition) }));
    reader.readTaggedFields();
    const response = { responses };
    if (errorCode !== 0) throw new ResponseError(apiKey, apiVersion, { "": [errorCode, null] }, response);
    return response;
  };
}

function readPartition(r: Reader, checkCrcs: boolean): FetchResponsePartition {
  const partitionIndex = r.readInt32();
  const errorCode = r.readInt16();
  const highWatermark = r.readInt64();
  const lastStableOffset = r.readInt64();
  const logStartOffset = r.readInt64();
  const abortedTransactions = r.readNullableArray((r) => ({ producerId: r.readInt64(), firstOffset: r.readInt64() }));
  r.readInt32(); // preferred_read_replica
  // Compact nullable: the length plus one, 0 for null.
  const size = r.readUnsignedVarInt() - 1;
  let batches: RecordBatch[] = [];
  let unreadable: Error | undefined;
  if (size > 0) {
    try {
      batches = decodeRecordBatches(r.buffer.slice(r.position, r.position + size), checkCrcs);
    } catch (error) {
      unreadable = error instanceof Error ? error : new Error(String(error));
    }
    r.skip(size);
  }
  return {
    partitionIndex,
    errorCode,
    highWatermark,
    lastStableOffset,
    logStartOffset,
    abortedTransactions: abortedTransactions ?? [],
    batches,
    recordBytes: Math.max(0, size),
    ...(unreadable === undefined ? {} : { unreadable }),
  };
}
