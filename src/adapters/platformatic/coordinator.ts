// The connection to the group coordinator, which the offset APIs (and the consumer protocol's
// heartbeats) go to. It is looked up again for every read and after a failed commit or heartbeat
// (the coordinator moves with partition leadership); the last one is kept so that a commit can go
// out synchronously.
import type { Connection } from "@platformatic/kafka";
import { retriable } from "../group/kafka-client.ts";
import type { GroupConsumer } from "./library.ts";

/** Finds the group coordinator and remembers the last connection to it. */
export class Coordinator {
  readonly #consumer: GroupConsumer;
  /** The coordinator's node id. */
  readonly #lookup: () => Promise<number>;
  #last: Connection | undefined;

  /**
   * `lookup` finds the coordinator's node id; by default the library's consumer does, which keeps
   * the answer until its own group requests fail (classic protocol: the library heartbeats).
   */
  constructor(consumer: GroupConsumer, lookup: () => Promise<number> = () => consumer.findGroupCoordinator()) {
    this.#consumer = consumer;
    this.#lookup = lookup;
  }

  /** The last connection found, until {@linkcode forget}; `undefined` before the first lookup. */
  get cached(): Connection | undefined {
    return this.#last;
  }

  /** A connection to the group coordinator, found fresh (and remembered). */
  async find(): Promise<Connection> {
    const consumer = this.#consumer;
    const coordinatorId = await this.#lookup();
    const metadata = await consumer.metadata({ topics: [] });
    const broker = metadata.brokers.get(coordinatorId);
    if (!broker) throw retriable(new Error(`group coordinator ${coordinatorId} is not in the cluster metadata`));
    this.#last = await consumer.connections.get(broker);
    return this.#last;
  }

  /** Drops the remembered connection: the next commit looks the coordinator up first. */
  forget(): void {
    this.#last = undefined;
  }
}
