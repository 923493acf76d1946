// The connection to the group coordinator, which the offset APIs go to. It is looked up again for
// every read and after a failed commit (the coordinator moves with partition leadership); the
// last one is kept so that a commit can go out synchronously.
import type { Connection } from "@platformatic/kafka";
import { retriable } from "../group/kafka-client.ts";
import type { GroupConsumer } from "./library.ts";

/** Finds the group coordinator and remembers the last connection to it. */
export class Coordinator {
  readonly #consumer: GroupConsumer;
  #last: Connection | undefined;

  constructor(consumer: GroupConsumer) {
    this.#consumer = consumer;
  }

  /** The last connection found, until {@linkcode forget}; `undefined` before the first lookup. */
  get cached(): Connection | undefined {
    return this.#last;
  }

  /** A connection to the group coordinator, found fresh (and remembered). */
  async find(): Promise<Connection> {
    const consumer = this.#consumer;
    const coordinatorId = await consumer.findGroupCoordinator();
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
