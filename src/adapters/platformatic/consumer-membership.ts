// Membership under the consumer group protocol (KIP-848): ours, on the library's wire API, not the
// library's own (`groupProtocol: "consumer"` in its Consumer), which acknowledges a revocation in
// its next heartbeat without waiting for anything: there the new owner may run a partition's
// in-flight work again. Ours holds a revoked partition until the control plane released it.
import { findErrorBy } from "@platformatic/kafka";
import type { Clock } from "../../core/clock.ts";
import type { EpochMember } from "../consumer-protocol/commit.ts";
import { ConsumerMembership } from "../consumer-protocol/membership.ts";
import type { ClientError, GroupEvents } from "../group/kafka-client.ts";
import { ConsumerHeartbeats } from "./consumer-heartbeat.ts";
import type { Coordinator } from "./coordinator.ts";
import type { GroupConsumer } from "./library.ts";
import { checkAccess, joinFailureNamingTopics, type MembershipTarget } from "./membership.ts";

/** What the consumer protocol's member needs besides where it joins. */
export interface ConsumerMembershipTarget extends MembershipTarget {
  readonly groupInstanceId?: string | undefined;
  readonly rebalanceTimeoutMs: number;
}

/** One consumer's membership of its group, under the consumer group protocol. */
export class ConsumerGroupMembership {
  readonly #consumer: GroupConsumer;
  readonly #target: ConsumerMembershipTarget;
  readonly #membership: ConsumerMembership;

  constructor(consumer: GroupConsumer, coordinator: Coordinator, target: ConsumerMembershipTarget, clock: Clock) {
    this.#consumer = consumer;
    this.#target = target;
    this.#membership = new ConsumerMembership(new ConsumerHeartbeats(consumer, coordinator), {
      instanceId: target.groupInstanceId ?? null,
      rebalanceTimeoutMs: target.rebalanceTimeoutMs,
      clock,
      memberId: crypto.randomUUID(),
    });
  }

  /** The member commits go out as. */
  get member(): EpochMember {
    return this.#membership;
  }

  /**
   * Checks the connection and joins with `topics`. Rejects with the failure's root causes named,
   * retriable unless the user has to fix something.
   */
  async join(topics: readonly string[], events: GroupEvents): Promise<void> {
    try {
      await checkAccess(this.#consumer, this.#target);
      await this.#membership.join(topics, events);
    } catch (error) {
      const failure: ClientError = await joinFailureNamingTopics(this.#consumer, topics, error, this.#target);
      if (findErrorBy(error as Error, "apiId", "UNSUPPORTED_VERSION")) {
        failure.message +=
          ' (the broker does not serve the consumer group protocol: set kafka.groupProtocol to "classic")';
      }
      throw failure;
    }
  }

  /** Leaves the group, then closes the library's consumer (its connections). */
  async leave(): Promise<void> {
    try {
      await this.#membership.leave();
    } finally {
      await this.#consumer.close();
    }
  }
}
