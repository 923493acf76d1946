import type { ConsumerMessage } from "../message.ts";
import type { PartitionState, WorkItem } from "./partition-state.ts";

/**
 * Messages of one partition that run as one batch-handler call and share its fate: one attempt
 * at a time for all of them, retried as a whole, done together.
 */
export interface Batch {
  /** In the order the handler sees them: each lane's messages consecutive, in offset order. */
  readonly items: readonly WorkItem[];
  /** Their messages, in the same order (what the handler receives). */
  readonly messages: readonly ConsumerMessage[];
  /**
   * Its lowest offset. It stands for the batch in its partition's ready queue while the batch
   * waits to run again (a retry, or an engine that could not run it), so the blocking offset,
   * which is this one whenever the batch holds it, is found there.
   */
  readonly first: WorkItem;
}

/** What taking a batch may spend: room in the in-flight window for the messages waiting behind a lane. */
export interface BatchWindow {
  readonly hasRoom: boolean;
  add(bytes: number): void;
}

/** What taking a batch asks about each ready message before it joins the batch. */
export interface BatchEntry {
  /** `false`: the message may not start now (its key is cooling, or the throttle parked it); it is the caller's now. */
  accepts(item: WorkItem, now: number): boolean;
  /** Whether one more message of `item`'s lane may join now (the rate limit's tokens); nothing is parked. */
  acceptsAnother(item: WorkItem, now: number): boolean;
  /** Whether a batch may run again now (a retry): `false` and it waits, as a whole, for its tokens. */
  acceptsAgain(batch: Batch, now: number): boolean;
}

/**
 * Takes the next batch of `state`: up to `maxMessages` messages, taking ready ones in turn and,
 * behind each, the messages waiting behind its lane while the in-flight window has room (several
 * messages of one key in a row: the point of batching). Each lane's messages are consecutive and in
 * offset order, and a lane is in one batch at a time: its next message becomes admissible only
 * once every message of it taken here is done. A batch waiting to run again comes back whole and
 * alone. `undefined` when nothing could be taken.
 */
export function takeBatch(
  state: PartitionState,
  maxMessages: number,
  window: BatchWindow,
  entry: BatchEntry,
  now: number,
): Batch | undefined {
  const scheduler = state.scheduler;
  const items: WorkItem[] = [];
  while (items.length < maxMessages) {
    const next = scheduler.peekReady();
    if (next === undefined) break;
    if (next.batch !== undefined) {
      // A batch to run again runs as it was, on its own, once the rate limit lets it.
      if (items.length > 0) break;
      scheduler.next();
      return entry.acceptsAgain(next.batch, now) ? next.batch : undefined;
    }
    scheduler.next();
    if (!entry.accepts(next, now)) continue;
    items.push(next);
    const lane = next.lane;
    if (lane === null) continue;
    // Each follower takes its own tokens (in partition order a lane holds many keys).
    for (
      let follower = scheduler.peekWaiting(lane);
      follower !== undefined && items.length < maxMessages && window.hasRoom && entry.acceptsAnother(follower, now);
      follower = scheduler.peekWaiting(lane)
    ) {
      state.admitWaiting(lane);
      window.add(follower.bytes);
      items.push(follower);
    }
  }
  return items.length === 0 ? undefined : batchOf(items);
}

/** Makes `items` (of one partition, in handler order) one batch, marking each as in it. */
export function batchOf(items: readonly WorkItem[]): Batch {
  let first = items[0]!;
  const messages = new Array<ConsumerMessage>(items.length);
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    messages[i] = item.message;
    if (item.offset < first.offset) first = item;
  }
  const batch: Batch = { items, messages, first };
  for (const item of items) item.batch = batch;
  return batch;
}
