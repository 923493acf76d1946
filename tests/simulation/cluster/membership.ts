// The group side of one member's client: its member id and generation as the client knows them,
// group events delivered in order after seeded delays, and what the client does when its
// heartbeat finds it fenced (forget the member id, rejoin as a new member).
import type { GroupAssignment, GroupEvents } from "../../../src/adapters/group/kafka-client.ts";
import type { Timer } from "../../../src/core/clock.ts";
import type { ClusterContext } from "./context.ts";
import type { GroupMemberClient } from "./group.ts";

/** One client's membership in the cluster's group. */
export class Membership {
  readonly #name: string;
  readonly #ctx: ClusterContext;
  readonly #member: GroupMemberClient;
  #ended = false;
  /** Membership failed for good (`events.failed`): no heartbeat rejoins. */
  #failed = false;
  #memberId: string | null = null;
  #generation = -1;
  #topics: readonly string[] = [];
  #events: GroupEvents | undefined;
  /** Whether the last group event scheduled for this member was `joined`. */
  #stable = false;
  #joinWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  /** Group events are delivered in order: none before the time of the previous one. */
  #eventsAt = 0;
  readonly #eventTimers = new Set<Timer>();
  #heartbeat: Timer | undefined;

  constructor(name: string, ctx: ClusterContext) {
    this.#name = name;
    this.#ctx = ctx;
    this.#member = {
      name,
      rebalanceStarted: () => this.#rebalanceStarted(),
      joinedGeneration: (generation) => {
        this.#generation = generation;
      },
      assigned: (assignment) => this.#assigned(assignment),
    };
  }

  /** The member id the client sends, or `null` when it has none. */
  get memberId(): string | null {
    return this.#memberId;
  }

  /** The generation the client sends with commits (-1 before its first join response). */
  get generation(): number {
    return this.#generation;
  }

  /** Joins (or, as a current member, rejoins); resolves once `events.joined` was called. */
  join(topics: readonly string[], events: GroupEvents): Promise<void> {
    const { group, history } = this.#ctx;
    this.#events = events;
    this.#topics = [...topics];
    this.#failed = false;
    const joined = new Promise<void>((resolve, reject) => this.#joinWaiters.push({ resolve, reject }));
    history.log(() => `${this.#name}: join ${this.#topics.join(",")}`);
    if (group.has(this.#memberId)) group.rejoin(this.#memberId!, this.#topics);
    else this.#memberId = group.join(this.#member, this.#topics);
    return joined;
  }

  /** The client closes: leave the group, deliver nothing more, reject a pending join. */
  leave(error: Error): void {
    const { clock, group, history } = this.#ctx;
    this.#ended = true;
    clock.clearTimeout(this.#heartbeat);
    for (const timer of this.#eventTimers) clock.clearTimeout(timer);
    this.#eventTimers.clear();
    this.#rejectJoins(error);
    history.release(this.#name);
    if (group.has(this.#memberId)) group.remove(this.#memberId!, "left");
  }

  /** The coordinator drops this member (session timeout); the client notices at its next heartbeat. */
  fenced(): void {
    const { group, history } = this.#ctx;
    if (this.#ended || !group.has(this.#memberId)) return;
    history.dropped(this.#name);
    group.remove(this.#memberId!, "fenced");
    this.#scheduleHeartbeat();
  }

  /** Membership fails for good: the member leaves the group and hears `events.failed`. */
  failed(error: Error): void {
    const { clock, group, history } = this.#ctx;
    if (this.#ended || this.#failed) return;
    this.#failed = true;
    this.#stable = false;
    clock.clearTimeout(this.#heartbeat);
    if (group.has(this.#memberId)) {
      history.dropped(this.#name);
      group.remove(this.#memberId!, "failed");
    }
    this.#emit(this.#ctx.delay(this.#ctx.timings.latencyMs), () => {
      history.release(this.#name);
      history.log(() => `${this.#name}: failed ${error.message}`);
      this.#rejectJoins(error);
      this.#events?.failed(error);
    });
  }

  #scheduleHeartbeat(): void {
    const ctx = this.#ctx;
    ctx.clock.clearTimeout(this.#heartbeat);
    this.#heartbeat = ctx.clock.setTimeout(() => {
      this.#heartbeat = undefined;
      if (this.#ended || this.#failed || ctx.group.has(this.#memberId)) return;
      if (ctx.faults.coordinatorDownUntil > ctx.clock.now()) return this.#scheduleHeartbeat();
      // The heartbeat got UNKNOWN_MEMBER_ID: the client forgets its member id and rejoins as a new member.
      ctx.history.log(() => `${this.#name}: heartbeat found ${this.#memberId} fenced`);
      this.#memberId = null;
      const rejoin = () => {
        if (this.#ended || this.#failed || this.#memberId !== null) return;
        this.#memberId = ctx.group.join(this.#member, this.#topics);
      };
      if (!this.#stable) return rejoin();
      this.#stable = false;
      this.#emit(ctx.delay(ctx.timings.rebalancingDelayMs), () => {
        ctx.history.release(this.#name);
        ctx.history.log(() => `${this.#name}: rebalancing (fenced)`);
        this.#events?.rebalancing();
        rejoin();
      });
    }, ctx.delay(ctx.timings.heartbeatMs));
  }

  #rebalanceStarted(): number {
    const ctx = this.#ctx;
    if (!this.#stable) return ctx.clock.now();
    this.#stable = false;
    return this.#emit(ctx.delay(ctx.timings.rebalancingDelayMs), () => {
      ctx.history.release(this.#name);
      ctx.history.log(() => `${this.#name}: rebalancing`);
      this.#events?.rebalancing();
    });
  }

  #assigned(assignment: GroupAssignment): void {
    const ctx = this.#ctx;
    this.#stable = true;
    this.#emit(ctx.delay(ctx.timings.latencyMs), () => {
      ctx.history.own(this.#name, assignment.memberId, assignment.generation, assignment.partitions);
      // A SyncGroup answer still in flight when the member was fenced: it owns as a zombie.
      if (!ctx.group.has(assignment.memberId)) ctx.history.dropped(this.#name);
      ctx.history.log(() =>
        `${this.#name}: joined ${assignment.memberId} generation ${assignment.generation} ` +
        assignment.partitions.map((tp) => `${tp.topic}-${tp.partition}`).join(",")
      );
      this.#events?.joined(assignment);
      if (this.#joinWaiters.length === 0) return;
      // No draw when the answer is never late: seeds without it keep their scenario.
      const late = ctx.timings.joinAnswerMs[1] === 0 ? 0 : ctx.delay(ctx.timings.joinAnswerMs);
      if (late === 0) this.#answerJoins();
      else this.#after(late, () => this.#answerJoins());
    });
  }

  #answerJoins(): void {
    const waiters = this.#joinWaiters;
    this.#joinWaiters = [];
    for (const waiter of waiters) waiter.resolve();
  }

  /** Schedules a group event after `delay` but not before the previous one; returns its time. */
  #emit(delay: number, deliver: () => void): number {
    const { clock } = this.#ctx;
    const at = Math.max(this.#eventsAt, clock.now() + delay);
    this.#eventsAt = at;
    this.#after(at - clock.now(), deliver);
    return at;
  }

  /** Runs `callback` in `ms`, unless the member leaves first. */
  #after(ms: number, callback: () => void): void {
    const timer = this.#ctx.clock.setTimeout(() => {
      this.#eventTimers.delete(timer);
      callback();
    }, ms);
    this.#eventTimers.add(timer);
  }

  #rejectJoins(error: Error): void {
    const waiters = this.#joinWaiters;
    this.#joinWaiters = [];
    for (const waiter of waiters) waiter.reject(error);
  }
}
