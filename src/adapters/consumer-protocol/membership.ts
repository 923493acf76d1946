// A member of a consumer group under the consumer group protocol (KIP-848), on any transport:
// join, heartbeats, reconciliation with the revoke barrier, fencing, leave. The coordinator drives
// the rebalance; the member only reports what it owns. A partition the coordinator revokes goes to
// its next owner once a heartbeat of this member no longer lists it, so the member lists it until
// its listener (the group adapter, then the control plane) has finished with it and committed it.
import type { Clock } from "../../core/clock.ts";
import type { TopicPartition } from "../../core/message.ts";
import { toError } from "../../core/thrown.ts";
import { type ClientError, type GroupEvents, instanceTaken, retriable } from "../group/kafka-client.ts";
import { type HeartbeatRequest, type HeartbeatTransport, MemberEpoch } from "./heartbeat.ts";
import { HeartbeatLoop } from "./heartbeat-loop.ts";
import { Reconciler } from "./reconciler.ts";

/** How the member joins. */
export interface ConsumerMembershipSettings {
  /** `group.instance.id` for static membership, or `null`. */
  readonly instanceId: string | null;
  /** Sent with every heartbeat: how long a revocation may take before the group fences the member. */
  readonly rebalanceTimeoutMs: number;
  readonly clock: Clock;
  /** The member id, chosen once for the consumer's lifetime (a UUID). */
  readonly memberId: string;
}

type State =
  /** Before join(), or between a failed join() and its retry. */
  | "idle"
  /** Epoch-0 heartbeat sent (first join, or rejoin after being fenced). */
  | "joining"
  | "joined"
  | "left"
  | "failed";

/** One consumer's membership, under the consumer group protocol. */
export class ConsumerMembership {
  readonly #transport: HeartbeatTransport;
  readonly #settings: ConsumerMembershipSettings;
  readonly #loop: HeartbeatLoop;
  readonly #reconciler: Reconciler;
  #state: State = "idle";
  #epoch: number = MemberEpoch.JOIN;
  #topics: readonly string[] = [];
  #events: GroupEvents | undefined;
  /** Consecutive failed heartbeats. */
  #failures = 0;
  /** The pending join() call, settled by the first answer of its epoch-0 heartbeat. */
  #joining: { resolve: () => void; reject: (error: Error) => void } | undefined;
  /** After being fenced: the old membership must leave before the member rejoins under its id. */
  #leaveFirst = false;

  constructor(transport: HeartbeatTransport, settings: ConsumerMembershipSettings) {
    this.#transport = transport;
    this.#settings = settings;
    this.#loop = new HeartbeatLoop(transport, settings.clock, {
      request: () => this.#request(),
      answered: (response) => {
        if (this.#state !== "joining" && this.#state !== "joined") return;
        this.#failures = 0;
        this.#epoch = response.memberEpoch;
        const joining = this.#state === "joining";
        this.#state = "joined";
        // The first answer of a join always carries an assignment (maybe empty).
        if (response.assignment !== null) this.#reconciler.assign(response.assignment);
        else if (joining) this.#reconciler.assign([]);
      },
      refused: (error) => this.#refused(error),
    });
    this.#reconciler = new Reconciler({
      revoking: (partitions) => this.#events!.revoking(partitions),
      owned: (partitions, first) => {
        this.#events!.joined({
          generation: this.#epoch,
          memberId: this.#settings.memberId,
          partitions,
          protocol: "consumer",
        });
        if (first) this.#settleJoin();
      },
      changed: () => this.#loop.now(),
    });
  }

  get memberId(): string {
    return this.#settings.memberId;
  }

  /** The member epoch commits carry. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Whether a commit for `partition` may go out: the member owns it, or is still releasing it. */
  holds({ topic, partition }: TopicPartition): boolean {
    return this.#state === "joined" && this.#reconciler.holds(topic, partition);
  }

  /**
   * Resolves when no heartbeat is in flight: its answer may move the member epoch, and a commit
   * sent meanwhile with the old epoch would be refused (STALE_MEMBER_EPOCH).
   */
  async settled(): Promise<void> {
    for (let inFlight = this.#loop.inFlight; inFlight !== undefined; inFlight = this.#loop.inFlight) {
      await inFlight;
    }
  }

  /**
   * Joins with `topics`; resolves once the first assignment went to `events.joined`, rejects when
   * the coordinator refused (retriable where a later join can succeed).
   */
  join(topics: readonly string[], events: GroupEvents): Promise<void> {
    if (this.#state === "left") return Promise.reject(new Error("the consumer left the group"));
    if (this.#state === "joined" || this.#state === "joining") {
      return Promise.reject(new Error("the member is already in the group"));
    }
    this.#topics = [...topics];
    this.#events = events;
    const joined = new Promise<void>((resolve, reject) => (this.#joining = { resolve, reject }));
    this.#rejoin();
    return joined;
  }

  /** Leaves the group (epoch -1, or -2 for a static member); failures are ignored. */
  async leave(): Promise<void> {
    const wasIn = this.#state === "joined" || this.#state === "joining";
    this.#state = "left";
    this.#loop.stop();
    this.#reconciler.reset();
    this.#joining?.reject(new Error("the consumer left the group while joining"));
    this.#joining = undefined;
    if (!wasIn) return;
    await this.#loop.inFlight;
    const { instanceId } = this.#settings;
    try {
      await this.#transport.heartbeat(
        this.#requestWith(instanceId === null ? MemberEpoch.LEAVE : MemberEpoch.LEAVE_STATIC, []),
      );
    } catch {
      // Leaving is best effort: the session timeout removes a member that could not say goodbye.
    }
  }

  #request(): HeartbeatRequest | undefined {
    if (this.#state !== "joining" && this.#state !== "joined") return undefined;
    return this.#requestWith(this.#epoch, this.#reconciler.owned);
  }

  #requestWith(memberEpoch: number, ownedPartitions: readonly TopicPartition[]): HeartbeatRequest {
    return {
      memberId: this.#settings.memberId,
      memberEpoch,
      instanceId: this.#settings.instanceId,
      rebalanceTimeoutMs: this.#settings.rebalanceTimeoutMs,
      subscribedTopicNames: this.#topics,
      ownedPartitions,
    };
  }

  /** Sends the epoch-0 heartbeat (after leaving the old membership, when it was fenced). */
  #rejoin(): void {
    this.#state = "joining";
    this.#epoch = MemberEpoch.JOIN;
    this.#loop.restart();
    if (!this.#leaveFirst) return this.#loop.now();
    this.#leaveFirst = false;
    // FENCED_MEMBER_EPOCH leaves the member in the group, where an epoch-0 heartbeat under its id
    // is fenced again: it leaves first (UNKNOWN_MEMBER_ID when it is gone already is fine).
    void this.#transport.heartbeat(this.#requestWith(MemberEpoch.LEAVE, [])).catch(() => {}).then(() => {
      if (this.#state === "joining") this.#loop.now();
    });
  }

  #refused(error: unknown): void {
    if (this.#state !== "joining" && this.#state !== "joined") return;
    const failure = this.#transport.failureOf(error);
    if (failure === "fatal") return this.#fail(error);
    if (failure === "replaced") {
      // Another member owns these partitions now: nothing of theirs is committed.
      this.#reconciler.reset();
      if (this.#joining === undefined) this.#events!.lost();
      return this.#fail(instanceTaken(this.#settings.instanceId, error));
    }
    const joining = this.#joining;
    if (this.#state === "joining" && joining !== undefined) {
      // The first join is join()'s to retry (it knows the deadline).
      this.#state = "idle";
      this.#loop.stop();
      this.#joining = undefined;
      if (failure === "fenced") this.#leaveFirst = true;
      joining.reject(failure === "retriable" || failure === "fenced" ? retriable(toError(error)) : toError(error));
      return;
    }
    if (failure === "fenced") {
      // Another member may own and commit these partitions already: nothing of theirs is committed.
      this.#reconciler.reset();
      this.#events!.lost();
      this.#leaveFirst = true;
      this.#failures = 0;
      return this.#rejoin();
    }
    this.#failures++;
    this.#loop.retry(this.#failures);
  }

  #fail(error: unknown): void {
    const failure: ClientError = toError(error);
    this.#state = "failed";
    this.#loop.stop();
    this.#reconciler.reset();
    const joining = this.#joining;
    this.#joining = undefined;
    if (joining !== undefined) joining.reject(failure);
    else this.#events!.failed(failure);
  }

  #settleJoin(): void {
    const joining = this.#joining;
    this.#joining = undefined;
    joining?.resolve();
  }
}
