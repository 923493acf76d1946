// An engine's attempt ends as promises, for tests that await them: the engine port tells a callback
// (one function for every attempt on the consumer's hot path), a test reads better with `await`.
import type { Attempt } from "../../src/core/attempt.ts";
import type { ConsumerMessage } from "../../src/core/message.ts";
import type { AttemptEnded, ExecutionEngine } from "../../src/core/ports/execution-engine.ts";

/** Resolves when the attempt succeeded, rejects with its error when it failed. */
export function attemptOutcome(
  engine: Pick<ExecutionEngine, "execute">,
  message: ConsumerMessage,
  attempt: Attempt,
): Promise<void> {
  return new Promise((resolve, reject) => engine.execute(message, attempt, settle(resolve, reject)));
}

/** `attemptOutcome` for one attempt of a batch handler. */
export function batchOutcome(
  engine: Pick<ExecutionEngine, "executeBatch">,
  messages: readonly ConsumerMessage[],
  attempt: Attempt,
): Promise<void> {
  return new Promise((resolve, reject) => engine.executeBatch!(messages, attempt, settle(resolve, reject)));
}

/** `attemptOutcome` for a chain: one promise per message, in the chain's order. */
export function chainOutcomes(
  engine: Pick<ExecutionEngine, "executeChain">,
  messages: readonly ConsumerMessage[],
  attempts: readonly Attempt[],
): Promise<void>[] {
  const settles: AttemptEnded<Attempt>[] = [];
  const outcomes = attempts.map((_, i) => new Promise<void>((resolve, reject) => settles[i] = settle(resolve, reject)));
  engine.executeChain!(messages, attempts, (attempt, failed, error) => {
    settles[attempts.indexOf(attempt)]!(attempt, failed, error);
  });
  return outcomes;
}

function settle(resolve: () => void, reject: (error: unknown) => void): AttemptEnded<Attempt> {
  return (_, failed, error) => failed ? reject(error) : resolve();
}
