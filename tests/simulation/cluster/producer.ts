// A producer the simulation driver writes input with: plain batches, and transactions that may
// span several partitions and end with a COMMIT or ABORT marker on each (or stay open).
import type { PartitionLog, RecordInput } from "./log.ts";

/** Where a producer writes. */
export interface ProducerTarget {
  /** The partition's log; throws when it does not exist. */
  log(topic: string, partition: number): PartitionLog;
  timestamp(): bigint;
}

/** Offsets a send was written at. */
export interface SendResult {
  readonly firstOffset: bigint;
  readonly lastOffset: bigint;
}

/** One producer id's writes; several interleave freely. */
export class TestProducer {
  readonly producerId: bigint;
  readonly #target: ProducerTarget;
  /** Partitions the open transaction wrote to, in first-write order; `null` outside a transaction. */
  #touched: PartitionLog[] | null = null;

  constructor(producerId: bigint, target: ProducerTarget) {
    this.producerId = producerId;
    this.#target = target;
  }

  get inTransaction(): boolean {
    return this.#touched !== null;
  }

  /** Starts a transaction: sends are transactional until `commit()` or `abort()`. */
  begin(): this {
    if (this.#touched !== null) throw new Error(`producer ${this.producerId} already has an open transaction`);
    this.#touched = [];
    return this;
  }

  /** Appends one batch (transactional inside a transaction). */
  send(topic: string, partition: number, records: readonly RecordInput[]): SendResult {
    const log = this.#target.log(topic, partition);
    const transactional = this.#touched !== null;
    if (transactional && !this.#touched!.includes(log)) this.#touched!.push(log);
    return log.appendData(this.producerId, records, this.#target.timestamp(), transactional);
  }

  /** Writes a COMMIT marker on every partition the transaction touched. */
  commit(): void {
    this.#end(true);
  }

  /** Writes an ABORT marker on every partition the transaction touched. */
  abort(): void {
    this.#end(false);
  }

  #end(commit: boolean): void {
    const touched = this.#touched;
    if (touched === null) throw new Error(`producer ${this.producerId} has no open transaction`);
    this.#touched = null;
    for (const log of touched) log.appendMarker(this.producerId, commit, this.#target.timestamp());
  }
}
