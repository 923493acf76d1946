// The group coordinator of a classic consumer group with eager rebalancing: membership, the
// Empty → PreparingRebalance → CompletingRebalance → Stable cycle, assignment, and the
// OffsetCommit validation of Kafka's ClassicGroup.validateOffsetCommit.
import type { GroupAssignment } from "../../../src/adapters/group/kafka-client.ts";
import type { Clock, Timer } from "../../../src/core/clock.ts";
import type { TopicPartition } from "../../../src/core/message.ts";
import type { Random } from "../random.ts";
import { illegalGeneration, rebalanceInProgress, type SimulatedKafkaError, unknownMemberId } from "./errors.ts";
import type { History } from "./history.ts";

/** The classic group states (Dead is never reached: the group lives as long as the cluster). */
export type GroupState = "Empty" | "PreparingRebalance" | "CompletingRebalance" | "Stable";

/** How partitions are spread over members. */
export type Assignor = "roundrobin" | "range";

/** An inclusive range of virtual milliseconds a delay is drawn from. */
export type DelayRange = readonly [min: number, max: number];

/** What the coordinator tells a member's client. */
export interface GroupMemberClient {
  readonly name: string;
  /** A rebalance started; returns the virtual time the member hears it (now when it will not). */
  rebalanceStarted(): number;
  /** The JoinGroup response: the generation the client sends from now on. */
  joinedGeneration(generation: number): void;
  /** The SyncGroup response: the member's assignment. */
  assigned(assignment: GroupAssignment): void;
}

/** What the coordinator needs from its cluster. */
export interface GroupSettings {
  readonly clock: Clock;
  readonly random: Random;
  readonly history: History;
  readonly assignor: Assignor;
  readonly rebalanceDelayMs: DelayRange;
  readonly syncDelayMs: DelayRange;
  /** Partition count of a topic, 0 when it does not exist. */
  partitionCount(topic: string): number;
  /** Virtual time the coordinator is available again (<= now when it is). */
  coordinatorBackAt(): number;
}

interface Member {
  readonly id: string;
  readonly client: GroupMemberClient;
  topics: readonly string[];
}

/** A committed offset and its metadata. */
export interface StoredOffset {
  readonly offset: bigint;
  readonly metadata: string;
}

/** One consumer group. */
export class GroupCoordinator {
  #state: GroupState = "Empty";
  #generation = 0;
  /** Members in join order. */
  readonly #members = new Map<string, Member>();
  readonly #offsets = new Map<string, StoredOffset>();
  /** The last generation's assignment. */
  #assignment = new Map<Member, TopicPartition[]>();
  readonly #settings: GroupSettings;
  #timer: Timer | undefined;
  /** When the join phase may end: after every member heard `rebalancing()`. */
  #completeAt = 0;
  #nextMember = 0;

  constructor(settings: GroupSettings) {
    this.#settings = settings;
  }

  get state(): GroupState {
    return this.#state;
  }

  get generation(): number {
    return this.#generation;
  }

  /** Member ids, in join order. */
  get memberIds(): string[] {
    return [...this.#members.keys()];
  }

  has(memberId: string | null): boolean {
    return memberId !== null && this.#members.has(memberId);
  }

  /** A new member joins (JoinGroup without a member id); returns its id. */
  join(client: GroupMemberClient, topics: readonly string[]): string {
    const id = `${client.name}-${++this.#nextMember}`;
    this.#members.set(id, { id, client, topics });
    this.#prepareRebalance(`${id} joined`);
    return id;
  }

  /** A current member joins again (e.g. with new topics). */
  rejoin(memberId: string, topics: readonly string[]): void {
    const member = this.#members.get(memberId);
    if (member === undefined) throw new Error(`${memberId} is not a member`);
    member.topics = topics;
    this.#prepareRebalance(`${memberId} rejoined`);
  }

  /** The member left, was fenced or failed: the others rebalance without it. */
  remove(memberId: string, reason: string): void {
    if (!this.#members.delete(memberId)) return;
    this.#prepareRebalance(`${memberId} ${reason}`);
  }

  /** Kafka's ClassicGroup.validateOffsetCommit; `null` when the commit may go ahead. */
  validateCommit(memberId: string | null, generation: number): SimulatedKafkaError | null {
    // A commit without group management (generation -1) is accepted while the group is empty.
    if (generation < 0 && this.#state === "Empty") return null;
    if (memberId === null || !this.#members.has(memberId)) return unknownMemberId(memberId ?? "");
    if (generation !== this.#generation) return illegalGeneration(generation, this.#generation);
    // The member knows the new generation from its JoinGroup response but has no assignment yet.
    if (this.#state === "CompletingRebalance") return rebalanceInProgress();
    return null;
  }

  store(topic: string, partition: number, offset: bigint, metadata: string): void {
    this.#offsets.set(`${topic}:${partition}`, { offset, metadata });
  }

  committed(topic: string, partition: number): StoredOffset | undefined {
    return this.#offsets.get(`${topic}:${partition}`);
  }

  /** Whether the last generation gave a partition of `topic` to a member still in the group. */
  assigns(topic: string): boolean {
    for (const [member, partitions] of this.#assignment) {
      if (this.#members.get(member.id) === member && partitions.some((tp) => tp.topic === topic)) return true;
    }
    return false;
  }

  /** The topic was deleted: Kafka deletes the group's committed offsets of it too. */
  deleteOffsets(topic: string): void {
    for (const key of [...this.#offsets.keys()]) {
      if (key.slice(0, key.lastIndexOf(":")) === topic) this.#offsets.delete(key);
    }
  }

  #prepareRebalance(reason: string): void {
    const { clock, history, random } = this.#settings;
    history.log(() => `group: rebalance (${reason})`);
    let heardAt = clock.now();
    for (const member of this.#members.values()) heardAt = Math.max(heardAt, member.client.rebalanceStarted());
    if (this.#members.size === 0) {
      clock.clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#state = "Empty";
      return;
    }
    if (this.#state !== "PreparingRebalance") {
      this.#state = "PreparingRebalance";
      this.#completeAt = clock.now() + random.int(...this.#settings.rebalanceDelayMs);
    }
    // A commit sent from `rebalancing()` must reach us before the generation moves on.
    this.#completeAt = Math.max(this.#completeAt, heardAt + 1);
    this.#schedule(this.#completeAt - clock.now(), () => this.#completeJoin());
  }

  #completeJoin(): void {
    const { clock, history, random } = this.#settings;
    const backAt = this.#settings.coordinatorBackAt();
    if (backAt > clock.now()) {
      // No member can rejoin while the coordinator is down.
      this.#schedule(backAt - clock.now() + random.int(...this.#settings.syncDelayMs), () => this.#completeJoin());
      return;
    }
    this.#generation++;
    this.#state = "CompletingRebalance";
    const generation = this.#generation;
    const assignment = this.#assign();
    this.#assignment = assignment;
    history.generations.push({
      generation,
      at: clock.now(),
      members: [...assignment].map(([member, partitions]) => ({
        member: member.client.name,
        memberId: member.id,
        partitions,
      })),
    });
    history.log(() =>
      `group: generation ${generation} ${[...assignment].map(([m, tps]) => `${m.id}=${describe(tps)}`).join(" ")}`
    );
    for (const member of this.#members.values()) member.client.joinedGeneration(generation);
    this.#schedule(random.int(...this.#settings.syncDelayMs), () => {
      this.#state = "Stable";
      for (const [member, partitions] of assignment) {
        member.client.assigned({ generation, memberId: member.id, partitions });
      }
    });
  }

  #schedule(ms: number, callback: () => void): void {
    const { clock } = this.#settings;
    clock.clearTimeout(this.#timer);
    this.#timer = clock.setTimeout(() => {
      this.#timer = undefined;
      callback();
    }, ms);
  }

  /** Every partition of the subscribed topics (a deleted one has none), spread over the members sorted by id. */
  #assign(): Map<Member, TopicPartition[]> {
    const members = [...this.#members.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const result = new Map<Member, TopicPartition[]>(members.map((member) => [member, []]));
    const topics = [...new Set(members.flatMap((member) => member.topics))].sort();
    let next = 0;
    for (const topic of topics) {
      const subscribed = members.filter((member) => member.topics.includes(topic));
      const count = this.#settings.partitionCount(topic);
      for (let partition = 0; partition < count; partition++) {
        let owner: Member;
        if (this.#settings.assignor === "range") {
          // Contiguous ranges; the first (count % members) members get one more.
          const per = Math.floor(count / subscribed.length);
          const extra = count % subscribed.length;
          const cut = extra * (per + 1);
          owner = subscribed[
            partition < cut ? Math.floor(partition / (per + 1)) : extra + Math.floor((partition - cut) / per)
          ]!;
        } else {
          // Round robin over all members, skipping those not subscribed to this topic.
          while (!members[next % members.length]!.topics.includes(topic)) next++;
          owner = members[next++ % members.length]!;
        }
        result.get(owner)!.push({ topic, partition });
      }
    }
    return result;
  }
}

function describe(partitions: readonly TopicPartition[]): string {
  return `[${partitions.map((tp) => `${tp.topic}-${tp.partition}`).join(",")}]`;
}
