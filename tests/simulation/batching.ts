// The batch-handler variant of a seeded run: the chaos members run a batch handler (its batch
// options picked from the seed's own stream, so every other pick of a seed, and so every earlier
// scenario, stays as it was), whose calls behave like the simulated per-message handler's, once
// per batch. The checker hears of each message of a batch as its own call, all sharing the
// batch's context: that is how it tells a batch's messages from two overlapping runs of a key.
import type { BatchOptions, ConsumerMessage, HandlerContext } from "../../mod.ts";
import type { Attempt } from "../../src/core/attempt.ts";
import type { Clock } from "../../src/core/clock.ts";
import { WorkerCrashedError } from "../../src/core/errors.ts";
import type { AttemptEnded, ExecutionEngine } from "../../src/core/ports/execution-engine.ts";
import type { Call, Checker } from "./checker.ts";
import { type HandlerProfile, simulatedHandler } from "./handlers.ts";
import { Random } from "./random.ts";
import type { StartLimits } from "./throttling.ts";

/** Salt of the variant's stream: not the main stream of the seed. */
const STREAM = 0xba7c4;

export interface BatchVariant {
  /** The chaos members' batch options; `undefined`: they run a per-message handler. */
  readonly batch: BatchOptions | undefined;
}

export function batchVariant(seed: number): BatchVariant {
  const random = Random.stream(seed, STREAM);
  if (!random.chance(0.3)) return { batch: undefined };
  return { batch: { maxMessages: random.pick([1, 3, 20, 200]), maxWaitMs: random.pick([0, 0, 5, 50]) } };
}

/** A batch handler that behaves as {@linkcode simulatedHandler} does, once per batch. */
export function simulatedBatchHandler(
  member: string,
  clock: Clock,
  random: Random,
  profile: HandlerProfile,
  checker: Checker,
  onCall?: (call: Call) => void,
): (messages: readonly ConsumerMessage[], context: HandlerContext) => unknown {
  let batch: readonly ConsumerMessage[] = [];
  const calls = new Map<Call, readonly Call[]>();
  const perMessage: Pick<Checker, "started" | "ended"> = {
    started: (name, _first, context) => {
      const started = batch.map((message) => checker.started(name, message, context));
      for (const call of started) onCall?.(call);
      calls.set(started[0]!, started);
      return started[0]!;
    },
    ended: (first, succeeded) => {
      for (const call of calls.get(first) ?? [first]) checker.ended(call, succeeded);
      calls.delete(first);
    },
  };
  const handle = simulatedHandler(member, clock, random, profile, perMessage, undefined);
  return (messages, context) => {
    batch = messages;
    return handle(messages[0]!, context);
  };
}

/**
 * Runs one batch attempt through `engine`, telling the checker what the control plane dispatched
 * and what it will take as done, and `limits` that its messages started. A batch that runs again
 * is the same array of messages: its dispatch order was checked the first time.
 */
export function executeObservedBatch<A extends Attempt>(
  engine: ExecutionEngine,
  member: string,
  checker: Checker,
  dispatched: WeakSet<readonly ConsumerMessage[]>,
  messages: readonly ConsumerMessage[],
  attempt: A,
  ended: AttemptEnded<A>,
  limits: StartLimits | undefined,
): void {
  const again = dispatched.has(messages);
  if (!again) {
    dispatched.add(messages);
    for (const message of messages) checker.dispatched(member, message);
  }
  limits?.startedBatch(member, messages, again);
  const ownerships = messages.map((message) => checker.ownership(member, message));
  engine.executeBatch!(messages, attempt, (attempt, failed, error) => {
    if (!failed && !attempt.aborted) {
      messages.forEach((message, i) => checker.succeeded(member, message, ownerships[i]!));
    }
    if (failed && error instanceof WorkerCrashedError) {
      for (const message of messages) checker.crashReported(member, message, attempt.attempt);
    }
    ended(attempt, failed, error);
  });
}
