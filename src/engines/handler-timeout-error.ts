/** A handler attempt ran longer than `handlerTimeoutMs`; it counts as a failed attempt. */
export class HandlerTimeoutError extends Error {
  override readonly name = "HandlerTimeoutError";
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super(`handler did not finish within handlerTimeoutMs (${timeoutMs} ms)`);
    this.timeoutMs = timeoutMs;
  }
}
