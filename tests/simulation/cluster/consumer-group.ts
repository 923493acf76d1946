// The group coordinator of a consumer group under KIP-848's protocol, as Kafka 4.1 runs it: a
// target assignment recomputed on every membership change (sticky and balanced, as the uniform
// assignor), members reconciled one heartbeat at a time (GroupMetadataManager and
// CurrentAssignmentBuilder), member epochs, and the OffsetCommit validation by member epoch.
//
// The revoke barrier lives here: a member that must give partitions up keeps its epoch and gets
// an assignment without them; it acknowledges by no longer listing them as owned; only then may
// another member get them ("unreleased" partitions are held back from the new owner until then).
// A member that takes longer than its rebalance timeout is fenced; one silent for the session
// timeout is removed.
import type { Clock, Timer } from "../../../src/core/clock.ts";
import type { TopicPartition } from "../../../src/core/message.ts";
import type { Random } from "../random.ts";
import {
  coordinatorNotAvailable,
  fencedMemberEpoch,
  type SimulatedKafkaError,
  staleMemberEpoch,
  unknownMemberId,
} from "./errors.ts";
import type { History } from "./history.ts";
import type { DelayRange } from "./group.ts";

/** A ConsumerGroupHeartbeat as the coordinator receives it. */
export interface ConsumerHeartbeat {
  readonly memberId: string;
  readonly memberEpoch: number;
  readonly rebalanceTimeoutMs: number;
  readonly subscribedTopicNames: readonly string[];
  readonly ownedPartitions: readonly TopicPartition[];
}

/** Its answer. */
export interface ConsumerHeartbeatAnswer {
  readonly memberEpoch: number;
  readonly heartbeatIntervalMs: number;
  readonly assignment: readonly TopicPartition[] | null;
}

/** What the coordinator needs from its cluster. */
export interface ConsumerGroupSettings {
  readonly clock: Clock;
  readonly random: Random;
  readonly history: History;
  /** Each answer's `heartbeatIntervalMs` is drawn from this. */
  readonly heartbeatIntervalMs: DelayRange;
  /** A member silent for this long is removed. */
  readonly sessionTimeoutMs: number;
  /** Partition count of a topic, 0 when it does not exist. */
  partitionCount(topic: string): number;
  /** Virtual time the coordinator is available again (<= now when it is). */
  coordinatorBackAt(): number;
}

interface Member {
  readonly id: string;
  /** The client's name, for histories. */
  readonly name: string;
  topics: readonly string[];
  epoch: number;
  previousEpoch: number;
  /** Partitions the member owns from the coordinator's view (`topic:partition`). */
  assigned: Set<string>;
  /** Partitions it must give up: it keeps its epoch until it no longer lists them as owned. */
  pendingRevocation: Set<string>;
  rebalanceTimeoutMs: number;
  lastSeen: number;
  sessionTimer: Timer | undefined;
  revocationTimer: Timer | undefined;
}

const key = (topic: string, partition: number) => `${topic}:${partition}`;
const parse = (tp: string): TopicPartition => {
  const at = tp.lastIndexOf(":");
  return { topic: tp.slice(0, at), partition: Number(tp.slice(at + 1)) };
};
const byKey = (a: string, b: string) => {
  const x = parse(a);
  const y = parse(b);
  return x.topic < y.topic ? -1 : x.topic > y.topic ? 1 : x.partition - y.partition;
};

/** One consumer group under the consumer protocol. */
export class ConsumerGroupCoordinator {
  readonly #settings: ConsumerGroupSettings;
  readonly #members = new Map<string, Member>();
  /** Target assignment per member id, and the epoch it was computed for. */
  #target = new Map<string, Set<string>>();
  #groupEpoch = 0;
  /** Accepted commits from a member that did not own the partition (Kafka does not check; we do). */
  readonly foreignCommits: string[] = [];

  constructor(settings: ConsumerGroupSettings) {
    this.#settings = settings;
  }

  get groupEpoch(): number {
    return this.#groupEpoch;
  }

  /** Member ids, in join order. */
  get memberIds(): string[] {
    return [...this.#members.keys()];
  }

  has(memberId: string | null): boolean {
    return memberId !== null && this.#members.has(memberId);
  }

  /** Handles one heartbeat (its effect happens now); throws the error the coordinator answers with. */
  heartbeat(name: string, request: ConsumerHeartbeat): ConsumerHeartbeatAnswer {
    const { clock, history, random } = this.#settings;
    if (this.#settings.coordinatorBackAt() > clock.now()) throw coordinatorNotAvailable();
    const { memberId, memberEpoch } = request;
    if (memberEpoch < 0) {
      this.remove(memberId, "left");
      return { memberEpoch, heartbeatIntervalMs: 0, assignment: null };
    }
    let member = this.#members.get(memberId);
    if (memberEpoch === 0) {
      // Kafka 4.1: an epoch-0 heartbeat under the id of a current member is fenced.
      if (member !== undefined) throw fencedMemberEpoch(memberEpoch, member.epoch);
      member = {
        id: memberId,
        name,
        topics: [...request.subscribedTopicNames],
        epoch: 0,
        previousEpoch: -1,
        assigned: new Set(),
        pendingRevocation: new Set(),
        rebalanceTimeoutMs: request.rebalanceTimeoutMs,
        lastSeen: clock.now(),
        sessionTimer: undefined,
        revocationTimer: undefined,
      };
      this.#members.set(memberId, member);
      this.#computeTarget(`${memberId} joined`);
    } else {
      if (member === undefined) throw unknownMemberId(memberId);
      const owned = request.ownedPartitions.map(({ topic, partition }) => key(topic, partition));
      const lostAnswer = memberEpoch === member.previousEpoch && owned.every((tp) => member!.assigned.has(tp));
      if (memberEpoch > member.epoch || (memberEpoch < member.epoch && !lostAnswer)) {
        throw fencedMemberEpoch(memberEpoch, member.epoch);
      }
      member.rebalanceTimeoutMs = request.rebalanceTimeoutMs;
      if (request.subscribedTopicNames.join(",") !== member.topics.join(",")) {
        member.topics = [...request.subscribedTopicNames];
        this.#computeTarget(`${memberId} changed its subscription`);
      }
    }
    member.lastSeen = clock.now();
    this.#scheduleSession(member);
    this.#reconcile(member, new Set(request.ownedPartitions.map(({ topic, partition }) => key(topic, partition))));
    const assignment = [...member.assigned].sort(byKey).map(parse);
    history.log(() =>
      `consumer group: ${memberId} epoch ${memberEpoch} -> ${member!.epoch}, assigned [${[...member!.assigned]}]` +
      (member!.pendingRevocation.size > 0 ? ` revoking [${[...member!.pendingRevocation]}]` : "")
    );
    return {
      memberEpoch: member.epoch,
      heartbeatIntervalMs: random.int(...this.#settings.heartbeatIntervalMs),
      assignment,
    };
  }

  /** The member left, was fenced or failed: its partitions go to the others. */
  remove(memberId: string, reason: string): void {
    const member = this.#members.get(memberId);
    if (member === undefined) return;
    const { clock, history } = this.#settings;
    clock.clearTimeout(member.sessionTimer);
    clock.clearTimeout(member.revocationTimer);
    this.#members.delete(memberId);
    if (reason !== "left") history.dropped(member.name);
    this.#computeTarget(`${memberId} ${reason}`);
  }

  /** A topic appeared, grew or was deleted: the target assignment follows (revoking a deleted one's partitions). */
  topicChanged(topic: string): void {
    for (const member of this.#members.values()) {
      if (member.topics.includes(topic)) return this.#computeTarget(`${topic} changed`);
    }
  }

  /** Kafka's ConsumerGroup.validateOffsetCommit (4.1): the member's current epoch, exactly. */
  validateCommit(memberId: string | null, memberEpoch: number): SimulatedKafkaError | null {
    if (memberEpoch < 0 && this.#members.size === 0) return null;
    const member = memberId === null ? undefined : this.#members.get(memberId);
    if (member === undefined) return unknownMemberId(memberId ?? "");
    if (memberEpoch !== member.epoch) return staleMemberEpoch(memberEpoch, member.epoch);
    return null;
  }

  /** Whether a member owns a partition of `topic`, or is still giving one up. */
  assigns(topic: string): boolean {
    for (const member of this.#members.values()) {
      for (const tp of [...member.assigned, ...member.pendingRevocation]) if (parse(tp).topic === topic) return true;
    }
    return false;
  }

  /** Whether the member owns the partition or is still giving it up. */
  owns(memberId: string | null, topic: string, partition: number): boolean {
    const member = memberId === null ? undefined : this.#members.get(memberId);
    const tp = key(topic, partition);
    return member !== undefined && (member.assigned.has(tp) || member.pendingRevocation.has(tp));
  }

  /** CurrentAssignmentBuilder: one step towards the target, as far as the owned set allows. */
  #reconcile(member: Member, owned: ReadonlySet<string>): void {
    const { clock } = this.#settings;
    if (member.pendingRevocation.size > 0) {
      if ([...member.pendingRevocation].some((tp) => owned.has(tp))) return;
      // Acknowledged: the partitions are free for their new owners.
      member.pendingRevocation.clear();
      clock.clearTimeout(member.revocationTimer);
      member.revocationTimer = undefined;
    }
    const target = this.#target.get(member.id) ?? new Set<string>();
    const revoke = [...member.assigned].filter((tp) => !target.has(tp));
    if (revoke.length > 0) {
      for (const tp of revoke) {
        member.assigned.delete(tp);
        member.pendingRevocation.add(tp);
      }
      member.revocationTimer = clock.setTimeout(() => {
        member.revocationTimer = undefined;
        if (this.#members.get(member.id) === member && member.pendingRevocation.size > 0) {
          this.#settings.history.log(() => `consumer group: ${member.id} did not revoke in time`);
          this.remove(member.id, "fenced (revocation timed out)");
        }
      }, member.rebalanceTimeoutMs);
      return;
    }
    if (member.epoch !== this.#groupEpoch) {
      member.previousEpoch = member.epoch;
      member.epoch = this.#groupEpoch;
    }
    // Partitions still owned (or being given up) by another member come later.
    for (const tp of [...target].sort(byKey)) {
      if (!member.assigned.has(tp) && !this.#heldByOther(member, tp)) member.assigned.add(tp);
    }
  }

  #heldByOther(member: Member, tp: string): boolean {
    for (const other of this.#members.values()) {
      if (other !== member && (other.assigned.has(tp) || other.pendingRevocation.has(tp))) return true;
    }
    return false;
  }

  /** A new group epoch and target: each member keeps what it can within its share. */
  #computeTarget(reason: string): void {
    const { history } = this.#settings;
    this.#groupEpoch++;
    const members = [...this.#members.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const next = new Map<string, Set<string>>(members.map((member) => [member.id, new Set()]));
    const topics = [...new Set(members.flatMap((member) => member.topics))].sort();
    for (const topic of topics) {
      const eligible = members.filter((member) => member.topics.includes(topic));
      const count = this.#settings.partitionCount(topic);
      const base = Math.floor(count / eligible.length);
      const extra = count % eligible.length;
      const capacity = new Map(eligible.map((member, i) => [member.id, base + (i < extra ? 1 : 0)]));
      const free: string[] = [];
      for (let partition = 0; partition < count; partition++) {
        const tp = key(topic, partition);
        const keeper = eligible.find((member) => this.#target.get(member.id)?.has(tp));
        if (keeper !== undefined && this.#topicCount(next, keeper.id, topic) < capacity.get(keeper.id)!) {
          next.get(keeper.id)!.add(tp);
        } else {
          free.push(tp);
        }
      }
      for (const tp of free) {
        const taker = eligible.reduce((best, member) =>
          this.#topicCount(next, member.id, topic) - capacity.get(member.id)! <
              this.#topicCount(next, best.id, topic) - capacity.get(best.id)!
            ? member
            : best
        );
        next.get(taker.id)!.add(tp);
      }
    }
    this.#target = next;
    history.log(() =>
      `consumer group: epoch ${this.#groupEpoch} (${reason}) ${
        [...next].map(([id, tps]) => `${id}=[${[...tps].sort(byKey)}]`).join(" ")
      }`
    );
  }

  #topicCount(next: Map<string, Set<string>>, memberId: string, topic: string): number {
    let count = 0;
    for (const tp of next.get(memberId)!) if (parse(tp).topic === topic) count++;
    return count;
  }

  #scheduleSession(member: Member): void {
    const { clock } = this.#settings;
    clock.clearTimeout(member.sessionTimer);
    member.sessionTimer = clock.setTimeout(() => {
      member.sessionTimer = undefined;
      if (this.#members.get(member.id) !== member) return;
      // A coordinator that was down reloads the group with fresh sessions.
      const deadline = Math.max(member.lastSeen, this.#settings.coordinatorBackAt()) + this.#settings.sessionTimeoutMs;
      if (deadline > clock.now()) {
        member.lastSeen = Math.max(member.lastSeen, this.#settings.coordinatorBackAt());
        return this.#scheduleSession(member);
      }
      this.#settings.history.log(() => `consumer group: ${member.id} session expired`);
      this.remove(member.id, "fenced (session expired)");
    }, Math.max(0, member.lastSeen + this.#settings.sessionTimeoutMs - clock.now()));
  }
}
