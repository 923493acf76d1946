// Classic group membership through the library's Consumer: it joins, syncs and heartbeats on its
// own and rejoins on a rebalance (eager: no hook before it rejoins); this forwards those events in
// the port's terms and leaves on close. The consumer group protocol has its own membership
// (consumer-membership.ts).
import { findErrorBy } from "@platformatic/kafka";
import type { TopicPartition } from "../../core/message.ts";
import { type ClientError, type GroupEvents, instanceTaken, retriable } from "../group/kafka-client.ts";
import {
  CREATE_TOPIC_FIX,
  describeConnectionFailure,
  fixFor,
  isUnknownTopic,
  rootCauses,
} from "./connection-errors.ts";
import { markRetriable } from "./errors.ts";
import { type GroupConsumer, onHeartbeatFailure } from "./library.ts";
import { existingTopics } from "./metadata.ts";
import { toBroker } from "./options.ts";

/** Where the member joins: the bootstrap brokers (named in errors) and the group. */
export interface MembershipTarget {
  readonly bootstrapBrokers: readonly string[];
  readonly groupId: string;
  readonly groupInstanceId?: string | undefined;
}

/** One consumer's membership of its group, under the classic protocol. */
export class Membership {
  readonly #consumer: GroupConsumer;
  readonly #target: MembershipTarget;
  #events: GroupEvents | undefined;
  #stopWatching: (() => void) | undefined;
  #left = false;
  #replaced = false;
  /** A join went through: later ones are rejoins. */
  #joined = false;

  constructor(consumer: GroupConsumer, target: MembershipTarget) {
    this.#consumer = consumer;
    this.#target = target;
  }

  /**
   * Checks the connection, subscribes to `topics` and joins. Rejects with the failure's root causes
   * named, retriable unless the user has to fix something (credentials, certificates).
   */
  async join(topics: readonly string[], events: GroupEvents): Promise<void> {
    const consumer = this.#consumer;
    if (this.#events === undefined) this.#listen(events);
    const rejoining = this.#joined;
    try {
      await checkAccess(consumer, this.#target);
      // Exactly these: a rejoin leaves out a subscribed topic the cluster no longer has.
      for (const topic of [...consumer.topics.current]) if (!topics.includes(topic)) consumer.topics.untrack(topic);
      for (const topic of topics) consumer.topics.track(topic);
      await consumer.joinGroup({});
      this.#joined = true;
    } catch (error) {
      // A rejoin after a partition check: a topic deleted since the check fails the library's
      // join; the next check leaves it out. (At start, a missing topic is the user's to fix.)
      if (rejoining && rootCauses(error).some(isUnknownTopic)) throw retriable(joinFailure(error, this.#target));
      throw await joinFailureNamingTopics(consumer, topics, error, this.#target);
    }
  }

  /** Leaves the group and closes the consumer; failures of its closing are not reported as events. */
  leave(): Promise<void> {
    this.#left = true;
    this.#stopWatching?.();
    return this.#consumer.close();
  }

  /**
   * Acts on a failure of this member's requests (its heartbeats, its commits): when it says another
   * consumer took this one's `groupInstanceId` (FENCED_INSTANCE_ID), this member stops for good, as
   * Kafka's own clients do. The library would rejoin under the same id, take the place back, fence
   * the other in turn, and the two would take the partitions from each other, both running them.
   * So: the membership stops in this tick (before the library's rejoin), every partition is lost
   * (nothing of theirs is committed: the other consumer owns them), and the member fails.
   */
  failedWith(error: unknown): void {
    if (this.#replaced || this.#left || findErrorBy(error as Error, "fencedInstanceId", true) === null) return;
    this.#replaced = true;
    this.#stopWatching?.();
    void this.#consumer.leaveGroup().catch(() => {}); // refused or not, the place is the other's
    this.#events!.lost();
    this.#events!.failed(instanceTaken(this.#target.groupInstanceId, error));
  }

  /** Forwards the client's group events (once, however often join() is retried). */
  #listen(events: GroupEvents): void {
    this.#events = events;
    const consumer = this.#consumer;
    if (this.#target.groupInstanceId !== undefined) {
      this.#stopWatching = onHeartbeatFailure(consumer, (error) => this.failedWith(error));
    }
    consumer.on("consumer:group:join", ({ generationId, memberId, assignments }) => {
      const partitions: TopicPartition[] = [];
      for (const { topic, partitions: indexes } of assignments ?? []) {
        for (const partition of indexes) partitions.push({ topic, partition });
      }
      events.joined({ generation: generationId ?? -1, memberId, partitions });
    });
    consumer.on("consumer:group:rebalance", () => events.rebalancing());
    // Background group work (a rejoin) reports here; an unheard 'error' would end the process.
    consumer.on("error", (error: Error) => {
      if (!this.#left) events.failed(error);
    });
  }
}

/**
 * One connection attempt per bootstrap broker before joining: rejected credentials or an untrusted
 * certificate fail at once, where the client would retry them for 15–20 s. Other failures (a
 * broker still starting) are left to the join's retries.
 */
export async function checkAccess(consumer: GroupConsumer, target: MembershipTarget): Promise<void> {
  try {
    await consumer.connections.getFirstAvailable(target.bootstrapBrokers.map(toBroker));
  } catch (error) {
    if (rootCauses(error).some((cause) => fixFor(cause) !== undefined)) throw error;
  }
}

/**
 * A failed join, as {@linkcode joinFailure}; when it failed because the cluster lacks some of
 * `topics`, a final failure naming exactly those. The library's own error names a topic of its
 * metadata request by an index that is not always the missing one's (it named the topic that
 * exists in 3 of 4 tries).
 */
export async function joinFailureNamingTopics(
  consumer: GroupConsumer,
  topics: readonly string[],
  error: unknown,
  target: MembershipTarget,
): Promise<ClientError> {
  if (rootCauses(error).some(isUnknownTopic)) {
    const found = await existingTopics(consumer, topics, true).catch(() => undefined);
    const missing = found === undefined ? [] : topics.filter((topic) => !found.has(topic));
    if (missing.length > 0) {
      const named = missing.map((topic) => `"${topic}"`).join(", ");
      return new Error(
        `could not join group "${target.groupId}" on ${target.bootstrapBrokers.join(", ")}: ` +
          `the cluster has no topic ${named}: ${CREATE_TOPIC_FIX}`,
      );
    }
  }
  return joinFailure(error, target);
}

/**
 * A failed join, with its root causes named; retriable unless the user has to fix something
 * (credentials, certificates) or retrying cannot help.
 */
function joinFailure(error: unknown, { bootstrapBrokers, groupId }: MembershipTarget): ClientError {
  const failure: ClientError = new Error(
    `could not join group "${groupId}" on ${bootstrapBrokers.join(", ")}: ${describeConnectionFailure(error)}`,
    { cause: error },
  );
  // Credentials and certificates do not fix themselves; a coordinator that is moving does.
  if (markRetriable(error).retriable && !rootCauses(error).some((cause) => fixFor(cause) !== undefined)) {
    retriable(failure);
  }
  return failure;
}
