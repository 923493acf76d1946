import type { KafkaAdapter } from "../adapters/adapter.ts";
import type { PartitionState, PreparedCommit } from "./partition-state.ts";

/**
 * Sends commits one request at a time, so an older position never lands after a newer one, and
 * counts them. A failed commit leaves its partitions pending: the next commit sends them again.
 */
export class Committer {
  readonly #adapter: KafkaAdapter;
  readonly #maxMetadataBytes: number;
  readonly #onFailure: (error: unknown) => void;
  #running: Promise<void> | undefined;
  committed = 0;
  failed = 0;

  constructor(adapter: KafkaAdapter, maxMetadataBytes: number, onFailure: (error: unknown) => void) {
    this.#adapter = adapter;
    this.#maxMetadataBytes = maxMetadataBytes;
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
      const commit = state.prepareCommit(this.#maxMetadataBytes);
      if (commit) prepared.push([state, commit]);
    }
    if (prepared.length === 0) return [];
    const running = this.#adapter.commit(prepared.map(([, commit]) => commit.offset)).then(
      () => {
        this.committed++;
        for (const [state, commit] of prepared) state.acknowledge(commit);
      },
      (error: unknown) => {
        this.failed++;
        this.#onFailure(error);
      },
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
   * The last commit before leaving the group matters most: tries a few times, until one goes
   * through (or there is nothing left to commit).
   */
  async commitUntilClean(states: () => Iterable<PartitionState>, attempts: number): Promise<boolean> {
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const failuresBefore = this.failed;
      await this.commit(states());
      if (this.failed === failuresBefore) return true;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
    return false;
  }
}
