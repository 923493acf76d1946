// Small fakes shared by the direct tests of the control plane's parts: only what the parts use.
import type { Attempt } from "../../../src/core/attempt.ts";
import type { ConsumerMessage, TopicPartition } from "../../../src/core/message.ts";
import { type AttemptEnded, endSoon, type ExecutionEngine } from "../../../src/core/ports/execution-engine.ts";
import type {
  AdapterListener,
  KafkaAdapter,
  OutgoingRecord,
  PartitionError,
  PartitionOffset,
  PartitionPosition,
} from "../../../src/core/ports/kafka-adapter.ts";
import type { PartitionState, WorkItem } from "../../../src/core/control-plane/partition-state.ts";
import { flushMicrotasks } from "../../simulation/virtual-clock.ts";

export { flushMicrotasks };

const encoder = new TextEncoder();

/** A message of topic `t` (unless told otherwise); its value is `value` or "v<offset>". */
export function message(
  offset: number,
  key: string | null = null,
  options: { partition?: number; topic?: string; value?: string } = {},
): ConsumerMessage {
  return {
    topic: options.topic ?? "t",
    partition: options.partition ?? 0,
    offset: BigInt(offset),
    key: key === null ? null : encoder.encode(key),
    value: encoder.encode(options.value ?? `v${offset}`),
    headers: new Map(),
    timestamp: 0,
  };
}

/**
 * Accepts `offsets` into `state` (lane = key) and admits every admissible one (the first of its
 * lane), as the control plane's admission does while the budget has room; returns the new items.
 */
export function acceptAll(
  state: PartitionState,
  offsets: readonly number[],
  key: string | null = null,
  fetchedAt = 0,
): WorkItem[] {
  const items = bufferAll(state, offsets, key, fetchedAt);
  admitAll(state);
  return items;
}

/** Accepts `offsets` into `state`'s buffer (lane = key) without admitting any; returns the new items. */
export function bufferAll(
  state: PartitionState,
  offsets: readonly number[],
  key: string | null = null,
  fetchedAt = 0,
): WorkItem[] {
  const items: WorkItem[] = [];
  for (const offset of offsets) {
    const accepted = state.accept(
      message(offset, key, { topic: state.topic, partition: state.partition }),
      offset,
      key,
      fetchedAt,
    );
    if (!accepted) throw new Error(`offset ${offset} was not accepted`);
    items.push(state.held(offset)!);
  }
  return items;
}

/** Admits every admissible message of `state`; returns how many. */
export function admitAll(state: PartitionState): number {
  let admitted = 0;
  while (state.admit() !== undefined) admitted++;
  return admitted;
}

export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
  /** Whether resolve or reject was called. */
  readonly settled: boolean;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  let settled = false;
  return {
    promise,
    resolve: (value) => {
      settled = true;
      resolve(value);
    },
    reject: (error) => {
      settled = true;
      reject(error);
    },
    get settled() {
      return settled;
    },
  };
}

const named = (partitions: readonly TopicPartition[]): string =>
  partitions.map(({ topic, partition }) => `${topic}[${partition}]`).join(",");

/** One commit request the fake adapter received; the test answers it. */
export interface CommitRequest {
  readonly offsets: readonly PartitionOffset[];
  readonly reply: Deferred<readonly PartitionError[]>;
}

/** One publish call; the test answers it. */
export interface PublishCall {
  readonly records: readonly OutgoingRecord[];
  readonly reply: Deferred<void>;
}

/**
 * A KafkaAdapter whose commits and publishes wait for the test, and whose pause/resume calls are
 * recorded as "pause", "pause t[0]", "resume", "resume t[0]".
 */
export class FakeAdapter implements KafkaAdapter {
  readonly commits: CommitRequest[] = [];
  readonly publishes: PublishCall[] = [];
  readonly calls: string[] = [];
  /** When set, commit() throws it synchronously. */
  commitThrows: Error | undefined;

  /** Commit requests not answered yet. */
  get openCommits(): CommitRequest[] {
    return this.commits.filter((request) => !request.reply.settled);
  }

  commit(offsets: readonly PartitionOffset[]): Promise<readonly PartitionError[]> {
    if (this.commitThrows) throw this.commitThrows;
    const reply = deferred<readonly PartitionError[]>();
    this.commits.push({ offsets, reply });
    return reply.promise;
  }

  pause(partitions?: readonly TopicPartition[]): void {
    this.calls.push(partitions ? `pause ${named(partitions)}` : "pause");
  }

  resume(partitions?: readonly TopicPartition[]): void {
    this.calls.push(partitions ? `resume ${named(partitions)}` : "resume");
  }

  publish(records: readonly OutgoingRecord[]): Promise<void> {
    const reply = deferred<void>();
    this.publishes.push({ records, reply });
    return reply.promise;
  }

  start(_listener: AdapterListener): Promise<void> {
    throw new Error("FakeAdapter.start is not used by the parts");
  }

  fetchPositions(): readonly PartitionPosition[] {
    throw new Error("FakeAdapter.fetchPositions is not used by the parts");
  }

  close(): Promise<void> {
    throw new Error("FakeAdapter.close is not used by the parts");
  }
}

/** One attempt the fake engine runs; the test ends it. */
export interface Run {
  readonly message: ConsumerMessage;
  readonly attempt: Attempt;
  /** "partition:offset", for readable assertions. */
  readonly name: string;
  resolve(): void;
  reject(error: unknown): void;
}

/** An ExecutionEngine with `capacity` slots; every attempt runs until the test ends it. */
export class FakeEngine implements ExecutionEngine {
  capacity: number;
  readonly runs: Run[] = [];
  /** When set, execute() throws it synchronously (the port says it never does; the dispatcher copes). */
  executeThrows: Error | undefined;
  #active = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  get idleSlots(): number {
    return this.capacity - this.#active;
  }

  /** Names ("partition:offset") of the attempts started so far, in order. */
  get started(): string[] {
    return this.runs.map((run) => run.name);
  }

  execute<A extends Attempt>(message: ConsumerMessage, attempt: A, ended: AttemptEnded<A>): void {
    if (this.executeThrows) throw this.executeThrows;
    this.#active++;
    let over = false;
    // Told in a microtask, as a real engine's end comes: never inside the test's call.
    const end = (failed: boolean, error?: unknown): void => {
      if (over) return;
      over = true;
      this.#active--;
      endSoon(ended, attempt, failed, error);
    };
    this.runs.push({
      message,
      attempt,
      name: `${message.partition}:${message.offset}`,
      resolve: () => end(false),
      reject: (error) => end(true, error),
    });
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
