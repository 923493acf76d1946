/**
 * Checks the argument of a handler's `context.pause(ms)`: a duration in milliseconds, finite and
 * not negative. Throws a `TypeError` that names the fix (the handler's own code is wrong, not the
 * message).
 */
export function checkPauseMs(ms: unknown): asserts ms is number {
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
    throw new TypeError(
      "context.pause(ms) needs a duration in milliseconds: a finite number of 0 or more, e.g. context.pause(1000)",
    );
  }
}
