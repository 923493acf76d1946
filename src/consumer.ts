import { GroupAdapter } from "./adapters/group/group-adapter.ts";
import { PlatformaticClient } from "./adapters/platformatic/client.ts";
import type { KafkaAdapter } from "./core/ports/kafka-adapter.ts";
import type { KafkaClient } from "./adapters/group/kafka-client.ts";
import { type ParallelConsumerOptions, type ResolvedOptions, resolveOptions } from "./config/options.ts";
import { type Clock, systemClock } from "./core/clock.ts";
import type { ConsumerEvents } from "./core/consumer-events.ts";
import { ControlPlane } from "./core/control-plane/control-plane.ts";
import type { ConsumerMetrics } from "./core/metrics-snapshot.ts";
import { AsyncEngine } from "./engines/async-engine.ts";
import type { ExecutionEngine } from "./core/ports/execution-engine.ts";
import { WorkerEngine } from "./engines/worker/worker-engine.ts";

/** A running parallel consumer. */
export interface ParallelConsumer {
  /** Identifies this consumer in metrics: the client id. */
  readonly id: string;
  /** Connects, joins the group and starts processing. Resolves once joined. */
  start(): Promise<void>;
  /**
   * Stops fetching, lets accepted work finish (bounded by `drainTimeoutMs`), commits completed
   * progress and leaves the group. From inside a handler, call it without awaiting it (`void
   * consumer.close()`) and return: it waits for that handler too.
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
  return composeConsumer(resolveOptions(options));
}

/** What the simulation puts in place of the real parts. */
export interface ConsumerParts {
  readonly clock?: Clock;
  /** Randomness (retry jitter), in [0, 1). */
  readonly random?: () => number;
  /** Replaces the @platformatic/kafka client under the group adapter. */
  readonly client?: KafkaClient;
  /** Wraps the engine (the simulation observes what the control plane dispatches, and when). */
  readonly wrapEngine?: (engine: ExecutionEngine) => ExecutionEngine;
  /** Replaces the worker engine's thread spawning (the simulation runs fake threads). */
  readonly spawnWorker?: ConstructorParameters<typeof WorkerEngine>[0]["spawn"];
}

/**
 * Builds the consumer from validated options: the one place where options become each layer's
 * settings. Internal; the simulation calls it with a virtual clock and a fake client.
 */
export function composeConsumer(resolved: ResolvedOptions, parts: ConsumerParts = {}): ParallelConsumer {
  const clock = parts.clock ?? systemClock;
  const adapter = resolved.adapter ?? createAdapter(resolved, clock, parts.client);
  const created = createEngine(resolved, clock, parts.spawnWorker);
  const engine = parts.wrapEngine ? parts.wrapEngine(created) : created;
  const core = new ControlPlane({ ...resolved, clock, random: parts.random ?? Math.random }, adapter, engine);
  return {
    id: resolved.kafka.clientId,
    start: () => core.start(),
    close: () => core.close(),
    getMetrics: () => core.metrics(),
    on: (name, listener) => core.events.on(name, listener),
  };
}

function createAdapter(
  { kafka, logger }: ResolvedOptions,
  clock: Clock,
  given: KafkaClient | undefined,
): KafkaAdapter {
  const client = given ?? new PlatformaticClient({
    clientId: kafka.clientId,
    bootstrapBrokers: kafka.bootstrapBrokers,
    groupId: kafka.groupId,
    groupInstanceId: kafka.groupInstanceId,
    groupProtocol: kafka.groupProtocol,
    sessionTimeoutMs: kafka.sessionTimeoutMs,
    rebalanceTimeoutMs: kafka.rebalanceTimeoutMs,
    heartbeatIntervalMs: kafka.heartbeatIntervalMs,
    tls: kafka.tls === false ? undefined : kafka.tls,
    sasl: kafka.sasl,
    checkCrcs: kafka.checkCrcs,
  });
  return new GroupAdapter(client, {
    topics: kafka.topics,
    startFrom: kafka.startFrom,
    isolationLevel: kafka.isolationLevel,
    fetchMaxWaitMs: kafka.fetchMaxWaitMs,
    fetchMaxBytes: kafka.fetchMaxBytes,
    fetchMaxBytesPerPartition: kafka.fetchMaxBytesPerPartition,
    joinTimeoutMs: kafka.rebalanceTimeoutMs,
    logger,
    metadataMaxAgeMs: kafka.metadataMaxAgeMs,
    clock,
  });
}

function createEngine(
  { engine, handlerTimeoutMs }: ResolvedOptions,
  clock: Clock,
  spawn: ConsumerParts["spawnWorker"],
): ExecutionEngine {
  if (engine.kind === "async") {
    const handler = "batchHandler" in engine ? { batchHandler: engine.batchHandler } : engine.handler;
    return new AsyncEngine(handler, { concurrency: engine.concurrency, handlerTimeoutMs, clock });
  }
  // Every setting passed, resolved: the engine has no defaults of its own.
  return new WorkerEngine({
    module: engine.module,
    workers: engine.workers,
    concurrencyPerWorker: engine.concurrencyPerWorker,
    maxBatchSize: engine.maxBatchSize,
    recycleAfterTasks: engine.recycleAfterTasks,
    handlerTimeoutMs,
    clock,
    spawn,
  });
}
