import { PlatformaticAdapter } from "./adapters/platformatic.ts";
import { type ParallelConsumerOptions, type ResolvedOptions, resolveOptions } from "./config/options.ts";
import type { ConsumerEvents } from "./core/consumer-events.ts";
import { ControlPlane } from "./core/control-plane.ts";
import type { ConsumerMetrics } from "./core/metrics.ts";
import { AsyncEngine } from "./engines/async-engine.ts";
import type { ExecutionEngine } from "./engines/engine.ts";
import { WorkerEngine } from "./engines/worker/worker-engine.ts";

/** A running parallel consumer. */
export interface ParallelConsumer {
  /** Identifies this consumer in metrics: the client id. */
  readonly id: string;
  /** Connects, joins the group and starts processing. Resolves once joined. */
  start(): Promise<void>;
  /**
   * Stops fetching, lets accepted work finish (bounded by `drainTimeoutMs`), commits completed
   * progress and leaves the group.
   */
  close(): Promise<void>;
  /** The current state: in flight, paused, and per partition lag, gaps and blocking offset. */
  getMetrics(): ConsumerMetrics;
  /** Subscribes to an event; returns a function that unsubscribes. */
  on<Name extends keyof ConsumerEvents>(name: Name, listener: ConsumerEvents[Name]): () => void;
}

/**
 * Creates a consumer that processes the messages of each partition concurrently, keeps the order
 * the `ordering` option asks for, and commits only offsets below which everything is done.
 *
 * @example
 * ```ts
 * const consumer = createParallelConsumer({
 *   kafka: { bootstrapBrokers: ["127.0.0.1:9092"], groupId: "orders", topics: ["orders"] },
 *   handler: async (message) => { await save(message.value); },
 * });
 * await consumer.start();
 * ```
 * @throws {ConfigError} when an option is invalid, naming each bad field.
 */
export function createParallelConsumer(options: ParallelConsumerOptions): ParallelConsumer {
  const resolved = resolveOptions(options);
  const adapter = resolved.adapter ?? new PlatformaticAdapter(resolved.kafka);
  const engine = createEngine(resolved);
  const core = new ControlPlane(resolved, adapter, engine);
  return {
    id: resolved.kafka.clientId,
    start: () => core.start(),
    close: () => core.close(),
    getMetrics: () => core.metrics(),
    on: (name, listener) => core.events.on(name, listener),
  };
}

function createEngine({ engine, handlerTimeoutMs }: ResolvedOptions): ExecutionEngine {
  const timeout = handlerTimeoutMs === undefined ? {} : { handlerTimeoutMs };
  if (engine.kind === "async") return new AsyncEngine(engine.handler, { concurrency: engine.concurrency, ...timeout });
  const { kind: _kind, recycleAfterTasks, ...pool } = engine;
  return new WorkerEngine({ ...pool, ...timeout, ...(recycleAfterTasks === undefined ? {} : { recycleAfterTasks }) });
}
