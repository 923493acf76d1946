/**
 * Worker side of the worker engine (`engine: { kind: "worker" }`): the worker entry module
 * imports {@linkcode runWorker} from here and calls it at its top level. This entry loads no
 * Kafka client and nothing of the consumer.
 *
 * @example
 * ```ts
 * // cpu-worker.ts
 * import { runWorker } from "@pyrallel/consumer/worker";
 * runWorker(async (message, { signal }) => {
 *   await render(message.value!, { signal });
 * });
 * ```
 *
 * @module
 */
export { runWorker, type WorkerBatchOptions, type WorkerHandler } from "./engines/worker/run-worker.ts";
export type { BatchHandler, ConsumerMessage, HandlerContext, MessageHeader } from "./core/message.ts";
