// One partition's log as a single-replica broker keeps it: record batches at absolute offsets, a
// log start offset, a high watermark (= log end) and the partition's transaction state, from
// which the last stable offset and the aborted-transaction index follow (as Kafka's producer
// state manager and .txnindex do).
import type { AbortedTransaction, KafkaRecord, RecordBatch } from "../../../src/adapters/group/kafka-client.ts";

/** A record to append: offsets are assigned by the log. */
export interface RecordInput {
  readonly key?: Uint8Array | null;
  readonly value?: Uint8Array | null;
  readonly headers?: readonly (readonly [Uint8Array | null, Uint8Array | null])[];
  /** Relative to the batch's first timestamp; 0 when omitted. */
  readonly timestampDelta?: number;
}

/** Where a transaction stands on one partition. */
export type TransactionState = "open" | "committed" | "aborted";

/** A transaction as one partition saw it. */
export interface PartitionTransaction {
  readonly producerId: bigint;
  /** Offset of its first record on this partition. */
  readonly firstOffset: bigint;
  /** Offset of its COMMIT/ABORT marker; `null` while open. */
  readonly markerOffset: bigint | null;
  readonly state: TransactionState;
}

/** What the invariant checker and tests may read of a partition's log. */
export interface PartitionView {
  readonly topic: string;
  readonly partition: number;
  /** The node leading the partition. */
  readonly leader: number;
  readonly logStartOffset: bigint;
  /** One past the last offset (single replica: the log end). */
  readonly highWatermark: bigint;
  /** First offset of the oldest open transaction (not below the log start), else the high watermark. */
  readonly lastStableOffset: bigint;
  /** Every batch, in offset order (compaction may have removed records from some). */
  readonly batches: readonly RecordBatch[];
  /** Every transaction that wrote here, in order of first offset. */
  readonly transactions: readonly PartitionTransaction[];
  /**
   * Offsets at or above the log start holding a record a consumer must see: non-control records
   * of non-transactional batches, and (read_committed) only of committed transactions.
   */
  visibleOffsets(isolation?: "read_committed" | "read_uncommitted"): bigint[];
}

interface Transaction {
  readonly producerId: bigint;
  readonly firstOffset: bigint;
  markerOffset: bigint | null;
  state: TransactionState;
}

interface StoredBatch {
  readonly batch: RecordBatch;
  readonly first: bigint;
  readonly last: bigint;
  readonly bytes: number;
  readonly transaction: Transaction | null;
}

/** Bytes of a batch on the wire, roughly: a 61-byte header and 20 bytes of framing per record. */
function batchBytes(records: readonly KafkaRecord[]): number {
  let bytes = 61;
  for (const record of records) {
    bytes += 20 + (record.key?.length ?? 0) + (record.value?.length ?? 0);
    for (const [name, value] of record.headers) bytes += (name?.length ?? 0) + (value?.length ?? 0);
  }
  return bytes;
}

/** Control record key: int16 version 0, int16 type (0 = ABORT, 1 = COMMIT). */
function markerKey(commit: boolean): Uint8Array {
  return Uint8Array.of(0, 0, 0, commit ? 1 : 0);
}

/** A partition's log; mutated only through the cluster, which wakes long polls after each change. */
export class PartitionLog implements PartitionView {
  readonly topic: string;
  readonly partition: number;
  leader: number;
  #stored: StoredBatch[] = [];
  #logStart: bigint;
  #end: bigint;
  readonly #transactions: Transaction[] = [];
  /** Open transactions in first-offset order: the first one bounds the last stable offset. */
  readonly #open: Transaction[] = [];
  readonly #openByProducer = new Map<bigint, Transaction>();
  /** Aborted transactions in marker order (the transaction index). */
  readonly #aborted: Transaction[] = [];
  /** Long polls waiting for a change. */
  readonly #waiters = new Set<() => void>();

  constructor(topic: string, partition: number, leader: number, startOffset: bigint) {
    this.topic = topic;
    this.partition = partition;
    this.leader = leader;
    this.#logStart = startOffset;
    this.#end = startOffset;
  }

  get logStartOffset(): bigint {
    return this.#logStart;
  }

  get highWatermark(): bigint {
    return this.#end;
  }

  get lastStableOffset(): bigint {
    const first = this.#open[0];
    if (first === undefined) return this.#end;
    // As Kafka: an open transaction that began below the log start leaves the LSO at the log start.
    return first.firstOffset < this.#logStart ? this.#logStart : first.firstOffset;
  }

  get batches(): readonly RecordBatch[] {
    return this.#stored.map((stored) => stored.batch);
  }

  get transactions(): readonly PartitionTransaction[] {
    return this.#transactions.map((txn) => ({ ...txn }));
  }

  /** Whether `producerId` has a transaction open here. */
  hasOpenTransaction(producerId: bigint): boolean {
    return this.#openByProducer.has(producerId);
  }

  /** Appends a data batch; a transactional one opens the producer's transaction here if needed. */
  appendData(
    producerId: bigint,
    inputs: readonly RecordInput[],
    timestamp: bigint,
    transactional: boolean,
  ): { firstOffset: bigint; lastOffset: bigint } {
    if (inputs.length === 0) throw new RangeError("a batch needs at least one record");
    const records: KafkaRecord[] = inputs.map((input, index) => ({
      offsetDelta: index,
      timestampDelta: input.timestampDelta ?? 0,
      key: input.key ?? null,
      value: input.value ?? null,
      headers: input.headers ?? [],
    }));
    let transaction: Transaction | null = null;
    if (transactional) {
      transaction = this.#openByProducer.get(producerId) ?? null;
      if (transaction === null) {
        transaction = { producerId, firstOffset: this.#end, markerOffset: null, state: "open" };
        this.#transactions.push(transaction);
        this.#open.push(transaction);
        this.#openByProducer.set(producerId, transaction);
      }
    }
    const first = this.#push(producerId, records, timestamp, transactional, false, transaction);
    return { firstOffset: first, lastOffset: first + BigInt(records.length - 1) };
  }

  /** Ends the producer's open transaction here with a COMMIT or ABORT marker; returns its offset. */
  appendMarker(producerId: bigint, commit: boolean, timestamp: bigint): bigint {
    const transaction = this.#openByProducer.get(producerId);
    if (transaction === undefined) throw new Error(`producer ${producerId} has no open transaction on ${this.#name()}`);
    const record: KafkaRecord = {
      offsetDelta: 0,
      timestampDelta: 0,
      key: markerKey(commit),
      value: null,
      headers: [],
    };
    const offset = this.#push(producerId, [record], timestamp, true, true, transaction);
    transaction.markerOffset = offset;
    transaction.state = commit ? "committed" : "aborted";
    this.#openByProducer.delete(producerId);
    this.#open.splice(this.#open.indexOf(transaction), 1);
    if (!commit) this.#aborted.push(transaction);
    this.#notify();
    return offset;
  }

  /**
   * Removes the records at `offsets`, as compaction does: offsets stay holes, a batch keeps its
   * first offset and last offset delta, and a batch left without records disappears.
   */
  compact(offsets: Iterable<bigint>): void {
    const remove = new Set(offsets);
    const kept: StoredBatch[] = [];
    for (const stored of this.#stored) {
      const records = stored.batch.records.filter((record) => !remove.has(stored.first + BigInt(record.offsetDelta)));
      if (records.length === stored.batch.records.length) kept.push(stored);
      else if (records.length > 0) {
        kept.push({ ...stored, batch: { ...stored.batch, records }, bytes: batchBytes(records) });
      }
    }
    this.#stored = kept;
    this.#notify();
  }

  /** Moves the log start up (retention or DeleteRecords); batches wholly below it are deleted. */
  truncateStart(offset: bigint): void {
    if (offset > this.#end) throw new RangeError(`log start ${offset} is above the high watermark ${this.#end}`);
    if (offset <= this.#logStart) return;
    this.#logStart = offset;
    this.#stored = this.#stored.slice(this.#firstIndexFrom(offset));
    this.#notify();
  }

  /**
   * Whole batches whose last offset is >= `offset` and < `limit`, in order, within `maxBytes`;
   * with `minOne` the first batch comes even if larger (so a consumer can always progress).
   */
  read(offset: bigint, limit: bigint, maxBytes: number, minOne: boolean): { batches: RecordBatch[]; bytes: number } {
    const batches: RecordBatch[] = [];
    let bytes = 0;
    for (let i = this.#firstIndexFrom(offset); i < this.#stored.length; i++) {
      const stored = this.#stored[i]!;
      if (stored.last >= limit) break;
      if (bytes + stored.bytes > maxBytes && !(minOne && batches.length === 0)) break;
      batches.push(stored.batch);
      bytes += stored.bytes;
    }
    return { batches, bytes };
  }

  /** Aborted transactions overlapping [from, last]: first offset <= last and marker >= from. */
  abortedIn(from: bigint, last: bigint): AbortedTransaction[] {
    const found: AbortedTransaction[] = [];
    for (const txn of this.#aborted) {
      if (txn.markerOffset! >= from && txn.firstOffset <= last) {
        found.push({ producerId: txn.producerId, firstOffset: txn.firstOffset });
      }
    }
    return found;
  }

  visibleOffsets(isolation: "read_committed" | "read_uncommitted" = "read_committed"): bigint[] {
    const offsets: bigint[] = [];
    for (const stored of this.#stored) {
      if (stored.batch.isControl) continue;
      if (isolation === "read_committed" && stored.transaction !== null && stored.transaction.state !== "committed") {
        continue;
      }
      for (const record of stored.batch.records) {
        const offset = stored.first + BigInt(record.offsetDelta);
        if (offset >= this.#logStart) offsets.push(offset);
      }
    }
    return offsets;
  }

  /** Calls `waiter` after every change until the returned function is called. */
  watch(waiter: () => void): () => void {
    this.#waiters.add(waiter);
    return () => this.#waiters.delete(waiter);
  }

  /** Wakes every long poll on this partition (also used when its leader moves). */
  notify(): void {
    this.#notify();
  }

  #push(
    producerId: bigint,
    records: KafkaRecord[],
    timestamp: bigint,
    isTransactional: boolean,
    isControl: boolean,
    transaction: Transaction | null,
  ): bigint {
    const first = this.#end;
    const batch: RecordBatch = {
      firstOffset: first,
      lastOffsetDelta: records.length - 1,
      firstTimestamp: timestamp,
      producerId,
      isTransactional,
      isControl,
      records,
    };
    const last = first + BigInt(records.length - 1);
    this.#stored.push({ batch, first, last, bytes: batchBytes(records), transaction });
    this.#end = last + 1n;
    if (!isControl) this.#notify();
    return first;
  }

  /** Index of the first batch whose last offset is >= `offset` (binary search). */
  #firstIndexFrom(offset: bigint): number {
    let low = 0;
    let high = this.#stored.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.#stored[mid]!.last < offset) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  #notify(): void {
    // Copy first: a waiter that answers unwatches itself while we iterate.
    for (const waiter of [...this.#waiters]) waiter();
  }

  #name(): string {
    return `${this.topic}[${this.partition}]`;
  }
}
