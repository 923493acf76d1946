// A member's heartbeats under the consumer protocol: the real membership
// (src/adapters/consumer-protocol/) sends them through this transport to the model coordinator.
// A heartbeat takes effect when sent and is answered after the seeded latency, on the
// coordinator's connection (in order with the member's commits, as on one Kafka connection).
import type {
  HeartbeatFailure,
  HeartbeatRequest,
  HeartbeatResponse,
  HeartbeatTransport,
} from "../../../src/adapters/consumer-protocol/heartbeat.ts";
import type { ConsumerGroupCoordinator } from "./consumer-group.ts";
import { clientClosed, groupAuthorizationFailed, type SimulatedKafkaError } from "./errors.ts";

/** How a request is answered: after the coordinator connection's latency, unless the client closed first. */
export type Answer = <T>(outcome: { ok: true; value: T } | { ok: false; error: Error }) => Promise<T>;

export class SimulatedHeartbeats implements HeartbeatTransport {
  readonly #name: string;
  readonly #coordinator: ConsumerGroupCoordinator;
  readonly #answer: Answer;
  readonly #closed: () => boolean;
  /** A fault: the next heartbeat fails for good (the membership fails). */
  #fatal: SimulatedKafkaError | undefined;

  constructor(name: string, coordinator: ConsumerGroupCoordinator, answer: Answer, closed: () => boolean) {
    this.#name = name;
    this.#coordinator = coordinator;
    this.#answer = answer;
    this.#closed = closed;
  }

  /** The next heartbeat is refused with an error no retry helps against. */
  failNext(): void {
    this.#fatal = groupAuthorizationFailed();
  }

  heartbeat(request: HeartbeatRequest): Promise<HeartbeatResponse> {
    // Leaving goes out while the client closes.
    if (this.#closed() && request.memberEpoch >= 0) return Promise.reject(clientClosed());
    const fatal = this.#fatal;
    if (fatal !== undefined && request.memberEpoch >= 0) {
      this.#fatal = undefined;
      return this.#answer({ ok: false, error: fatal });
    }
    try {
      return this.#answer({ ok: true, value: this.#coordinator.heartbeat(this.#name, request) });
    } catch (error) {
      return this.#answer({ ok: false, error: error as Error });
    }
  }

  failureOf(error: unknown): HeartbeatFailure {
    const name = (error as Error | undefined)?.name;
    if (name === "FENCED_MEMBER_EPOCH" || name === "UNKNOWN_MEMBER_ID") return "fenced";
    return (error as SimulatedKafkaError | undefined)?.retriable === true ? "retriable" : "fatal";
  }
}
