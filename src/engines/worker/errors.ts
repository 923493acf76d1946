/**
 * The worker running an attempt died (uncaught error, exit, failed to load, or was terminated
 * because another of its messages timed out) before the attempt finished. The attempt counts as
 * failed and is retried like any other failure.
 */
export class WorkerCrashedError extends Error {
  override readonly name = "WorkerCrashedError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
