import type { KafkaAdapter, PartitionError } from "../ports/kafka-adapter.ts";
import { type Clock, sleep } from "../clock.ts";
import { CommitFailedError } from "../errors.ts";
import { PartitionMap } from "../partition-map.ts";
import type { PartitionState, PreparedCommit } from "./partition-state.ts";
import type { Counts } from "./statistics.ts";

/**
 * Sends commits one request at a time, so an older position never lands after a newer one, and
 * counts them. A partition the broker refused stays pending (the next commit sends it again);
 * the others of the same request are acknowledged.
 */
export class Committer {
  readonly #adapter: KafkaAdapter;
  readonly #clock: Clock;
  readonly #onFailure: (error: CommitFailedError) => void;
  readonly #counts: Pick<Counts, "commits" | "commitFailures">;
  #running: Promise<void> | undefined;
  /** Why the last failed request failed. */
  #lastFailure: CommitFailedError | undefined;
  /** The last request failed (or refused a partition); cleared by one that went through whole. */
  #failing = false;

  constructor(
    adapter: KafkaAdapter,
    clock: Clock,
    counts: Pick<Counts, "commits" | "commitFailures">,
    onFailure: (error: CommitFailedError) => void,
  ) {
    this.#adapter = adapter;
    this.#counts = counts;
    this.#clock = clock;
    this.#onFailure = onFailure;
  }

  /** Commits the states whose position or offset map changed; returns those it tried. */
  async commit(states: Iterable<PartitionState>): Promise<PartitionState[]> {
    while (this.#running) await this.#running;
    return this.commitNow(states);
  }

  /**
   * Sends the commit in this tick, without waiting for one in flight (for a rebalance, where
   * every moment counts). Still ordered: the adapter sends both on one connection, and the
   * broker handles a connection's requests in order.
   */
  async commitNow(states: Iterable<PartitionState>): Promise<PartitionState[]> {
    const prepared: [PartitionState, PreparedCommit][] = [];
    for (const state of states) {
      const commit = state.prepareCommit();
      if (commit) prepared.push([state, commit]);
    }
    if (prepared.length === 0) return [];
    let request: Promise<readonly PartitionError[]>;
    try {
      request = this.#adapter.commit(prepared.map(([, commit]) => commit.offset));
    } catch (error) {
      request = Promise.reject(error);
    }
    const running = request.then(
      (refused) => {
        this.#counts.commits++;
        const refusedMap = new PartitionMap<true>();
        for (const { topic, partition } of refused) refusedMap.set(topic, partition, true);
        for (const [state, commit] of prepared) {
          if (!refusedMap.has(state.topic, state.partition)) state.acknowledge(commit);
        }
        if (refused.length > 0) {
          this.#failedWith(new CommitFailedError(refused));
        } else {
          this.#failing = false;
        }
      },
      (error: unknown) => this.#failedWith(new CommitFailedError([], { cause: error })),
    );
    this.#running = running;
    try {
      await running;
    } finally {
      if (this.#running === running) this.#running = undefined;
    }
    return prepared.map(([state]) => state);
  }

  /**
   * Whether commits are failing now (a coordinator loading or moving, a broker restarting): the
   * regular ticks retry them, and no tick is brought forward meanwhile, so a caught-up consumer
   * does not send (and report) a failing commit at every message it finishes.
   */
  get failing(): boolean {
    return this.#failing;
  }

  #failedWith(error: CommitFailedError): void {
    this.#failing = true;
    this.#counts.commitFailures++;
    this.#lastFailure = error;
    this.#onFailure(error);
  }

  /**
   * The last commit before leaving the group matters most: tries a few times, until one goes
   * through (or there is nothing left to commit). Resolves with what still failed: `undefined`
   * when everything was committed, else the error of the last attempt.
   */
  async commitUntilClean(
    states: () => Iterable<PartitionState>,
    attempts: number,
  ): Promise<CommitFailedError | undefined> {
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const failuresBefore = this.#counts.commitFailures;
      await this.commit(states());
      if (this.#counts.commitFailures === failuresBefore) return undefined;
      if (attempt < attempts) await sleep(this.#clock, 100 * attempt);
    }
    return this.#lastFailure;
  }
}
