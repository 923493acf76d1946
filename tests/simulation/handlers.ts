// Handlers as users write them, good and bad: quick or slow, throwing Errors or anything else,
// returning promises or odd thenables, hanging while honouring their signal or ignoring it. Each
// reports its start and end to the checker at the moment they happen.
import type { ConsumerMessage, HandlerContext } from "../../mod.ts";
import { type Clock, sleep } from "../../src/core/clock.ts";
import type { Call, Checker } from "./checker.ts";
import { threadHoldMs } from "./fake-worker-thread.ts";
import type { Random } from "./random.ts";

/** How a run's handlers misbehave. */
export interface HandlerProfile {
  readonly maxMs: number;
  readonly failures: number;
  readonly odd: number;
  readonly hangs: number;
  readonly ignoresSignal: number;
}

export function handlerProfile(random: Random): HandlerProfile {
  return {
    maxMs: random.pick([0, 2, 20, 200]),
    failures: random.pick([0, 0.02, 0.1, 0.4]),
    odd: random.pick([0, 0.05]),
    hangs: random.pick([0, 0, 0.01]),
    ignoresSignal: random.pick([0, 0, 0, 0.002]),
  };
}

type Behaviour = "ok" | "sync" | "throw" | "throwOdd" | "thenableThrows" | "thenableResolves" | "hang" | "hangIgnoring";

/** Things thrown that are not Errors; one has a String() that throws. */
const ODD_THROWS: readonly (() => unknown)[] = [
  () => Object.create(null),
  () => undefined,
  () => "a string",
  () => ({
    toString: () => {
      throw new Error("toString threw");
    },
  }),
];

/** A handler for `member` whose behaviour per call comes from `random` (calls happen in a seeded order). */
export function simulatedHandler(
  member: string,
  clock: Clock,
  random: Random,
  profile: HandlerProfile,
  checker: Pick<Checker, "started" | "ended">,
  onCall?: (call: Call) => void,
): (message: ConsumerMessage, context: HandlerContext) => unknown {
  return (message, context) => {
    const call = checker.started(member, message, context);
    onCall?.(call);
    const behaviour = random.weighted<Behaviour>([
      [1 - profile.failures - profile.odd - profile.hangs - profile.ignoresSignal, random.chance(0.3) ? "sync" : "ok"],
      [profile.failures * 0.8, "throw"],
      [profile.failures * 0.2, "throwOdd"],
      [profile.odd / 2, "thenableThrows"],
      [profile.odd / 2, "thenableResolves"],
      [profile.hangs, "hang"],
      [profile.ignoresSignal, "hangIgnoring"],
    ]);
    const ms = random.int(0, profile.maxMs);
    const run = (): unknown => {
      switch (behaviour) {
        case "sync":
          checker.ended(call, true);
          return undefined;
        case "ok":
          return sleep(clock, ms).then(() => checker.ended(call, true));
        case "throw":
          return sleep(clock, ms).then(() => {
            checker.ended(call, false);
            throw new Error(`handler failed on ${message.offset}`);
          });
        case "throwOdd": {
          checker.ended(call, false);
          throw random.pick(ODD_THROWS)();
        }
        case "thenableThrows":
          checker.ended(call, false);
          return {
            then: () => {
              throw new Error("then() threw");
            },
          };
        case "thenableResolves":
          return {
            then: (resolve: () => void) => {
              checker.ended(call, true);
              resolve();
            },
          };
        case "hang":
          return new Promise<void>((_resolve, reject) => {
            const signal = context.signal;
            const onAbort = () => {
              checker.ended(call, false);
              reject(signal.reason);
            };
            if (signal.aborted) onAbort();
            else signal.addEventListener("abort", onAbort, { once: true });
          });
        case "hangIgnoring":
          return new Promise<void>(() => {});
      }
    };
    // A worker's thread held by this handler's synchronous code (fake threads): it started now, and
    // does its work once the thread is free again.
    const hold = threadHoldMs(context);
    return hold > 0 ? sleep(clock, hold).then(run) : run();
  };
}

/** A handler that always succeeds quickly: the member that drains what the others left. */
export function cleanHandler(member: string, clock: Clock, checker: Checker) {
  return (message: ConsumerMessage, context: HandlerContext): Promise<void> => {
    const call = checker.started(member, message, context);
    return sleep(clock, 1).then(() => checker.ended(call, true));
  };
}
