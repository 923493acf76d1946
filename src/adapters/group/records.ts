// Turns one partition of a fetch response into the messages a consumer may see.
//
// Transactions are filtered here rather than trusted to the client library: @platformatic/kafka
// 2.12.1 keys aborted ranges by producer id, so of several transactions one producer aborted inside
// one response only the last is removed (and a range whose marker is in a later response is kept).
// Its filter only ever removes a subset of what must go and keeps control batches, so running this
// one over its output is safe and gives Kafka's result.
//
// The filter follows Kafka's Java consumer (clients/.../consumer/internals/CompletedFetch.java:
// nextFetchedRecord, consumeAbortedTransactionsUpTo, isBatchAborted, containsAbortMarker).
import { type ConsumerMessage, headerMap, type MessageHeader, NO_HEADER_LIST } from "../../core/message.ts";
import type { AbortedTransaction, FetchedPartition, IsolationLevel, KafkaRecord, RecordBatch } from "./kafka-client.ts";

/** The messages of one fetched partition that a consumer may see, and where the next fetch starts. */
export interface DecodedPartition {
  readonly messages: ConsumerMessage[];
  /**
   * Offset after the last batch returned (control and aborted batches included): the next fetch
   * position. Equal to `from` when no batch ended at or above `from`.
   */
  readonly nextOffset: bigint;
}

// ignoreBOM keeps a leading U+FEFF in a name, as Java's `new String(bytes, UTF_8)` does; invalid
// bytes become U+FFFD instead of failing the whole fetch.
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });

/** Magnitude below which two integers add exactly as numbers (their sum stays below 2^53). */
const EXACT_PART = 2 ** 52;

/** Control record key type of an ABORT marker (key: int16 version, int16 type). */
const ABORT = 0;

/**
 * Decodes `fetched` (a response to a fetch at offset `from`) into messages in offset order: records
 * below `from` (a batch may start before it) are dropped, control batches are dropped, and with
 * read_committed the records of aborted transactions are dropped (Kafka's algorithm, robust to the
 * aborted list arriving in any order and to several aborted and committed transactions per producer
 * and several producers interleaved in one response).
 */
export function decodePartition(
  fetched: FetchedPartition,
  from: bigint,
  isolationLevel: IsolationLevel,
): DecodedPartition {
  const { topic, partition, batches } = fetched;
  // No aborted transaction in range means nothing to filter: skip the bookkeeping altogether.
  const aborted = isolationLevel === "read_committed" && fetched.abortedTransactions.length > 0
    ? new AbortedProducers(fetched.abortedTransactions)
    : null;
  const messages: ConsumerMessage[] = [];
  let nextOffset = from;
  for (let b = 0; b < batches.length; b++) {
    const batch = batches[b]!;
    const lastOffset = batch.firstOffset + BigInt(batch.lastOffsetDelta);
    // The batch's last offset, not its last record's: compaction may have removed the tail, and
    // fetching from inside the batch again would return it again (the same reasoning as Kafka's).
    if (lastOffset >= nextOffset) nextOffset = lastOffset + 1n;
    // Bookkeeping runs for every batch, those below `from` included: their markers close transactions.
    if (aborted !== null && aborted.skips(batch, lastOffset)) continue;
    if (batch.isControl || lastOffset < from) continue;
    appendRecords(messages, topic, partition, batch, from);
  }
  return { messages, nextOffset };
}

/**
 * The producers with an aborted transaction in progress at the current batch, as Kafka tracks them:
 * a transaction joins when the walk reaches its first offset and leaves at its producer's ABORT
 * marker. Keying by producer alone is right because a producer has at most one transaction open at
 * a time, and the sorted list hands out its next aborted transaction only once the walk reaches it.
 */
class AbortedProducers {
  /** Aborted transactions by first offset; those before `#next` have joined `#producers`. */
  readonly #pending: readonly AbortedTransaction[];
  #next = 0;
  readonly #producers = new Set<bigint>();

  constructor(abortedTransactions: readonly AbortedTransaction[]) {
    // Brokers list them in no promised order (and by log segment): sort, as Kafka's priority queue does.
    this.#pending = [...abortedTransactions].sort(byFirstOffset);
  }

  /**
   * Whether `batch` (last offset `lastOffset`) is to be skipped: an aborted transaction's data, or
   * an ABORT marker, which also ends its producer's aborted transaction.
   *
   * A transactional batch of a producer not here is delivered even when its marker is not in this
   * response: the broker lists every aborted transaction overlapping the fetched range, so an
   * unlisted transaction was not aborted, and under read_committed the broker returns nothing past
   * the last stable offset, so it is not open either: it committed, in a later response. Kafka's
   * isBatchAborted decides the same way (only producers in its aborted set are skipped).
   */
  skips(batch: RecordBatch, lastOffset: bigint): boolean {
    const pending = this.#pending;
    // A transaction that began at or before this batch's end is in progress for the batch.
    while (this.#next < pending.length && pending[this.#next]!.firstOffset <= lastOffset) {
      this.#producers.add(pending[this.#next]!.producerId);
      this.#next++;
    }
    if (batch.isControl) {
      if (isAbortMarker(batch)) this.#producers.delete(batch.producerId);
      return true;
    }
    // Only transactional batches: the same producer id on a non-transactional batch is not part of it.
    return batch.isTransactional && this.#producers.has(batch.producerId);
  }
}

function byFirstOffset(a: AbortedTransaction, b: AbortedTransaction): number {
  return a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0;
}

/**
 * Whether a control batch holds an ABORT marker. A marker too short to read counts as not aborting
 * (Kafka would fail the fetch; a broker never writes one).
 */
function isAbortMarker(batch: RecordBatch): boolean {
  const key = batch.records[0]?.key;
  if (key === null || key === undefined || key.length < 4) return false;
  return ((key[2]! << 8) | key[3]!) === ABORT;
}

/** Appends the records of a delivered data batch at or above `from`. */
function appendRecords(
  messages: ConsumerMessage[],
  topic: string,
  partition: number,
  batch: RecordBatch,
  from: bigint,
): void {
  const records = batch.records;
  const firstOffset = batch.firstOffset;
  const firstTimestamp = batch.firstTimestamp;
  const appendTime = batch.logAppendTime === undefined ? undefined : Number(batch.logAppendTime);
  // Number arithmetic instead of a bigint sum per record (half the cost of a record): exact while
  // both parts are below 2^52 in magnitude, so the sum stays below 2^53. Real timestamps always are.
  const baseMs = Number(firstTimestamp);
  const baseIsSmall = baseMs > -EXACT_PART && baseMs < EXACT_PART;
  // Compare small numbers per record instead of bigints: a batch gets here only when it ends at or
  // above `from`, so `from - firstOffset` is at most its last offset delta.
  const minDelta = firstOffset >= from ? 0 : Number(from - firstOffset);
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    if (record.offsetDelta < minDelta) continue;
    const deltaMs = record.timestampDelta;
    const headerList = record.headers.length === 0 ? NO_HEADER_LIST : toHeaderList(record.headers);
    // Same field order as every other ConsumerMessage, so handlers see one object shape.
    messages.push({
      topic,
      partition,
      offset: firstOffset + BigInt(record.offsetDelta),
      key: record.key,
      value: record.value,
      headers: headerMap(headerList),
      headerList,
      timestamp: appendTime ??
        (baseIsSmall && deltaMs > -EXACT_PART && deltaMs < EXACT_PART
          ? baseMs + deltaMs
          : Number(firstTimestamp + BigInt(deltaMs))),
    });
  }
}

/** Header names as text (a null name as ""), every header in record order. */
function toHeaderList(headers: KafkaRecord["headers"]): MessageHeader[] {
  const list: MessageHeader[] = new Array(headers.length);
  for (let i = 0; i < headers.length; i++) {
    // Indexing, not destructuring: array destructuring goes through the iterator protocol.
    const header = headers[i]!;
    const name = header[0];
    list[i] = [name === null ? "" : utf8.decode(name), header[1]];
  }
  return list;
}
