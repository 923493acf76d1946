/**
 * The worker running an attempt died (uncaught error, exit, or was terminated because another of
 * its messages timed out) before the attempt finished. The attempt counts as failed and is retried
 * like any other failure. A worker that dies before it is ready has run nothing: its messages wait
 * for another worker, or fail with `EngineFailedError` when workers cannot start.
 */
export class WorkerCrashedError extends Error {
  override readonly name = "WorkerCrashedError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
