/** What `track` found a fetched offset to be. */
export type TrackResult = "new" | "redelivery" | "done";

/**
 * Exact completion tracking for one partition.
 *
 * Kafka offsets are not contiguous (transaction markers, compaction, trimmed logs), so the tracker
 * only knows the offsets it was given, in fetch order. Holes between them were never delivered and
 * never block a commit. The commit position is the lowest fetched offset that is not done yet, or
 * one past the last fetched offset when everything is done.
 *
 * Cost: `track` is O(1); `complete` is O(log n) to find the offset plus amortised O(1) to move the
 * commit position. Nothing scans the whole window.
 *
 * Offsets are JavaScript numbers here: exact up to 2^53, far beyond any real partition.
 */
export class OffsetTracker {
  /** Fetched offsets not yet passed by the commit position, strictly increasing, from `#head`. */
  readonly #offsets: number[] = [];
  readonly #done: boolean[] = [];
  #head = 0;
  #doneInWindow = 0;
  #gapCount = 0;
  /** One past the last tracked offset; `undefined` until the first offset or seed. */
  #nextPosition: number | undefined;
  #blockingSinceMs = 0;
  /** Offsets above the seed position that a previous owner finished (from the offset map). */
  #alreadyDone: readonly number[] = [];
  #alreadyDoneNext = 0;
  #version = 0;
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /**
   * Sets the committed position fetching starts from, and the offsets above it that the commit's
   * offset map says are already done. Only before anything is tracked.
   */
  seed(position: number, alreadyDone: readonly number[] = []): void {
    if (this.#nextPosition !== undefined) return;
    this.#nextPosition = position;
    this.#alreadyDone = alreadyDone.filter((offset) => offset > position);
    this.#alreadyDoneNext = 0;
  }

  /**
   * Registers a fetched offset: `"new"` work to run, a `"redelivery"` below the fetch position
   * (after a rejoin) that must not run again, or `"done"`: finished before a restart or rebalance,
   * per the offset map, and counted as completed without running.
   */
  track(offset: number): TrackResult {
    if (this.#nextPosition !== undefined && offset < this.#nextPosition) return "redelivery";
    if (this.#head === this.#offsets.length) {
      this.#offsets.length = 0;
      this.#done.length = 0;
      this.#head = 0;
      this.#blockingSinceMs = this.#now();
    }
    this.#offsets.push(offset);
    this.#done.push(false);
    this.#nextPosition = offset + 1;
    if (this.#takeAlreadyDone(offset)) {
      this.complete(offset);
      return "done";
    }
    return "new";
  }

  /**
   * Moves the fetch position past offsets the client skipped without delivering them, such as
   * transaction markers at the end of a partition. Only valid when every message below
   * `position` has been delivered.
   */
  advanceTo(position: number): void {
    if (this.#nextPosition !== undefined && position > this.#nextPosition) this.#nextPosition = position;
  }

  /** Whether the offset map said `offset` is done; skips map entries the log no longer has. */
  #takeAlreadyDone(offset: number): boolean {
    const done = this.#alreadyDone;
    while (this.#alreadyDoneNext < done.length && done[this.#alreadyDoneNext]! < offset) this.#alreadyDoneNext++;
    if (done[this.#alreadyDoneNext] !== offset) return false;
    this.#alreadyDoneNext++;
    return true;
  }

  /**
   * Done offsets above the commit position, ascending: what the offset map must carry. Includes
   * map entries inherited at seed time that were not fetched yet.
   */
  doneAboveCommit(): number[] {
    const done: number[] = [];
    for (let i = this.#head; i < this.#offsets.length; i++) if (this.#done[i]) done.push(this.#offsets[i]!);
    for (let i = this.#alreadyDoneNext; i < this.#alreadyDone.length; i++) {
      // Below the fetch position and never fetched: the log no longer has it.
      if (this.#alreadyDone[i]! >= this.#nextPosition!) done.push(this.#alreadyDone[i]!);
    }
    return done;
  }

  /** Increases with every completion: a commit is needed when it moved since the last one. */
  get version(): number {
    return this.#version;
  }

  /**
   * Marks a tracked offset as done. Returns `true` when the commit position moved.
   * Unknown or already completed offsets are ignored.
   */
  complete(offset: number): boolean {
    const index = this.#indexOf(offset);
    if (index < 0 || this.#done[index]) return false;
    this.#done[index] = true;
    this.#doneInWindow++;
    this.#version++;
    const leftDone = index > this.#head && this.#done[index - 1] === true;
    const rightDone = index + 1 < this.#offsets.length && this.#done[index + 1] === true;
    // A new done range, an extended one, or two ranges joined into one.
    this.#gapCount += 1 - Number(leftDone) - Number(rightDone);
    if (index !== this.#head) return false;

    // The blocker finished: the done range starting at the head is now committable.
    this.#gapCount--;
    let next = this.#head;
    while (next < this.#offsets.length && this.#done[next]) next++;
    this.#doneInWindow -= next - this.#head;
    this.#head = next;
    this.#blockingSinceMs = this.#now();
    this.#compact();
    return true;
  }

  /** Offset the group may commit: everything fetched below it is done. */
  get commitPosition(): number | undefined {
    return this.#head < this.#offsets.length ? this.#offsets[this.#head] : this.#nextPosition;
  }

  /** Lowest fetched offset that is not done, or `null` when nothing is pending. */
  get blockingOffset(): number | null {
    return this.#head < this.#offsets.length ? this.#offsets[this.#head]! : null;
  }

  /** How long the current blocking offset has held the commit position back, in milliseconds. */
  blockingDurationMs(): number {
    return this.blockingOffset === null ? 0 : Math.max(0, this.#now() - this.#blockingSinceMs);
  }

  /** Last offset fetched (one below the seed before any fetch), or `undefined` before both. */
  get lastFetchedOffset(): number | undefined {
    return this.#nextPosition === undefined ? undefined : this.#nextPosition - 1;
  }

  /** Last fetched offset minus the highest contiguous completed offset. */
  get trueLag(): number {
    const commit = this.commitPosition;
    return commit === undefined || this.#nextPosition === undefined ? 0 : this.#nextPosition - commit;
  }

  /** Number of completed ranges above the commit position (separated by pending offsets). */
  get gapCount(): number {
    return this.#gapCount;
  }

  /** Number of tracked offsets that are not done. */
  get pendingCount(): number {
    return this.#offsets.length - this.#head - this.#doneInWindow;
  }

  #indexOf(offset: number): number {
    // Offsets are usually contiguous (compaction and transaction markers leave holes): guess first.
    const guess = this.#head + offset - this.#offsets[this.#head]!;
    if (this.#offsets[guess] === offset) return guess;
    let low = this.#head;
    let high = this.#offsets.length - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const value = this.#offsets[mid]!;
      if (value === offset) return mid;
      if (value < offset) low = mid + 1;
      else high = mid - 1;
    }
    return -1;
  }

  /** Drops the passed prefix once it is large, keeping memory proportional to the window. */
  #compact(): void {
    if (this.#head < 1024 || this.#head * 2 < this.#offsets.length) return;
    this.#offsets.splice(0, this.#head);
    this.#done.splice(0, this.#head);
    this.#head = 0;
  }
}
