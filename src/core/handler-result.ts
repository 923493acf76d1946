/**
 * A handler's result as a promise to wait for, or `undefined` when the handler finished
 * synchronously (it returned no thenable, and no promise is made for it). Any thenable is adopted
 * with Promise.resolve, which calls its `then` in a later job: a `then` that throws, returns
 * anything or never calls back cannot break the caller. Throws only if reading `then` throws, so
 * call it where a throwing handler is caught.
 */
export function pendingResult(result: unknown): Promise<unknown> | undefined {
  if ((typeof result !== "object" && typeof result !== "function") || result === null) return undefined;
  if (typeof (result as { then?: unknown }).then !== "function") return undefined;
  return Promise.resolve(result);
}
