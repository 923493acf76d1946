import type { DoneRange } from "./offset-map.ts";

/** What `track` found a fetched offset to be. */
export type TrackResult = "new" | "redelivery" | "done";

/** Smallest ring capacity. Every capacity is a power of two, so a slot index is a mask away. */
const MIN_CAPACITY = 64;
/**
 * A ring this large or smaller is kept when its window drains (48 KiB): a window that fills and
 * drains with every fetch would otherwise be copied into a smaller ring and back each time.
 */
const KEEP_CAPACITY = 4096;

/**
 * Exact completion tracking for one partition.
 *
 * Kafka offsets are not contiguous (transaction markers, compaction, trimmed logs), so the tracker
 * only knows the offsets it was given, in fetch order. Holes between them were never delivered and
 * never block a commit. The commit position is the lowest fetched offset that is not done yet, or
 * one past the last fetched offset when everything is done.
 *
 * The window (fetched offsets not yet passed by the commit position) lives in a ring of typed
 * arrays: 12 bytes per slot, at most twice the window or 4,096 slots (it grows and shrinks by
 * powers of two).
 * Each maximal run of done slots stores its length at both ends, so completing an offset joins
 * runs in O(1), the commit position jumps over a done run in O(1), and `doneRanges` yields a run
 * without visiting its offsets.
 *
 * Cost: `track` is amortised O(1); `complete` is O(1) for contiguous offsets (O(log n) to find an
 * offset after holes). Nothing scans the whole window.
 *
 * Offsets are JavaScript numbers here: exact up to 2^53, far beyond any real partition.
 */
export class OffsetTracker {
  /** Window offsets, strictly increasing from `#head` for `#size` slots (wrapping around). */
  #offsets = new Float64Array(MIN_CAPACITY);
  /**
   * 0 for a pending slot, non-zero for a done one. The first and last slots of each maximal run of
   * done slots hold the run's length, so either end finds the other in O(1); inner slots are stale.
   */
  #runs = new Int32Array(MIN_CAPACITY);
  #mask = MIN_CAPACITY - 1;
  /** Ring index of the window's first slot, which is pending whenever the window is not empty. */
  #head = 0;
  #size = 0;
  #doneInWindow = 0;
  #gapCount = 0;
  /** One past the last tracked offset; `undefined` until the first offset or seed. */
  #nextPosition: number | undefined;
  #blockingSinceMs = 0;
  /** Ranges above the seed position that a previous owner finished (from the offset map), merged. */
  #inherited: readonly DoneRange[] = [];
  /** First inherited range that may still hold an offset at or above the fetch position. */
  #inheritedNext = 0;
  #version = 0;
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /**
   * Sets the committed position fetching starts from, and the ranges above it that the commit's
   * offset map says are already done (ascending, as `decodeOffsetMap` returns them). Only before
   * anything is tracked.
   */
  seed(position: number, alreadyDone: readonly DoneRange[] = []): void {
    if (this.#nextPosition !== undefined) return;
    this.#nextPosition = position;
    this.#inherited = normalise(alreadyDone, position + 1);
    this.#inheritedNext = 0;
  }

  /**
   * Registers a fetched offset: `"new"` work to run, a `"redelivery"` below the fetch position
   * (after a rejoin) that must not run again, or `"done"`: finished before a restart or rebalance,
   * per the offset map, and counted as completed without running. `now`, when the caller read
   * the clock already, saves reading it again (this runs for every message).
   */
  track(offset: number, now?: number): TrackResult {
    if (this.#nextPosition !== undefined && offset < this.#nextPosition) return "redelivery";
    if (this.#size === 0) this.#blockingSinceMs = now ?? this.#now();
    if (this.#size === this.#offsets.length) this.#resize(this.#offsets.length * 2);
    const slot = this.#slot(this.#size);
    this.#offsets[slot] = offset;
    this.#runs[slot] = 0;
    this.#size++;
    this.#nextPosition = offset + 1;
    if (!this.#takeInherited(offset)) return "new";
    this.#completeAt(this.#size - 1, now);
    return "done";
  }

  /**
   * Moves the fetch position past offsets the client skipped without delivering them, such as
   * transaction markers at the end of a partition. Only valid when every message below
   * `position` has been delivered.
   */
  advanceTo(position: number): void {
    if (this.#nextPosition === undefined || position <= this.#nextPosition) return;
    this.#nextPosition = position;
    // Inherited ranges wholly below the fetch position can no longer match a fetched offset.
    const inherited = this.#inherited;
    while (this.#inheritedNext < inherited.length && inherited[this.#inheritedNext]![1] < position) {
      this.#inheritedNext++;
    }
  }

  /** Whether the offset map said `offset` is done; skips map ranges the log no longer has. */
  #takeInherited(offset: number): boolean {
    const inherited = this.#inherited;
    while (this.#inheritedNext < inherited.length && inherited[this.#inheritedNext]![1] < offset) {
      this.#inheritedNext++;
    }
    const range = inherited[this.#inheritedNext];
    return range !== undefined && range[0] <= offset;
  }

  /**
   * Done ranges above the commit position, ascending and merged where adjacent: what the offset map
   * must carry. Includes inherited ranges (from `seed`) not fetched yet. Lazy: O(1) per range plus
   * the pending offsets between ranges (not those after the last); do not track or complete while
   * iterating.
   *
   * A range spans from one done offset to the next with nothing pending between them in fetch
   * order, so it may include offsets that were never delivered. Those are real holes (transaction
   * markers, compacted or aborted records): fetches deliver every record in order, and the commit
   * position already steps over them once both neighbours are done. An offset above the last one
   * fetched is not a hole, only not fetched yet, so a tracked range never reaches past its last
   * tracked offset (an inherited range may, as the previous owner saw those offsets done).
   */
  *doneRanges(): Iterable<DoneRange> {
    if (this.#nextPosition === undefined) return;
    // Held back one step: an inherited range may continue the last tracked run.
    let held: DoneRange | undefined;
    let index = 0;
    // Done offsets not yielded yet: past the last done run only pending (often buffered) ones are
    // left, which need no visit.
    let done = this.#doneInWindow;
    while (done > 0) {
      const length = this.#runs[this.#slot(index)]!;
      if (length === 0) {
        index++; // pending between done runs
        continue;
      }
      if (held !== undefined) yield held;
      held = [this.#offsets[this.#slot(index)]!, this.#offsets[this.#slot(index + length - 1)]!];
      index += length;
      done -= length;
    }
    // With nothing pending the commit position is the fetch position itself: not "above" it.
    const from = this.#size > 0 ? this.#nextPosition : this.#nextPosition + 1;
    for (let i = this.#inheritedNext; i < this.#inherited.length; i++) {
      const [first, last] = this.#inherited[i]!;
      if (last < from) continue;
      const start = Math.max(first, from);
      if (held !== undefined && held[1] + 1 === start) {
        held = [held[0], last];
        continue;
      }
      if (held !== undefined) yield held;
      held = [start, last];
    }
    if (held !== undefined) yield held;
  }

  /** Increases with every completion: a commit is needed when it moved since the last one. */
  get version(): number {
    return this.#version;
  }

  /**
   * Marks a tracked offset as done. Returns `true` when the commit position moved.
   * Unknown or already completed offsets are ignored. `now` as in `track`.
   */
  complete(offset: number, now?: number): boolean {
    const index = this.#indexOf(offset);
    if (index < 0 || this.#runs[this.#slot(index)] !== 0) return false;
    return this.#completeAt(index, now);
  }

  /** Marks the pending slot `index` (from the head) done, joining its neighbours' runs. */
  #completeAt(index: number, now: number | undefined): boolean {
    const leftLength = index > 0 ? this.#runs[this.#slot(index - 1)]! : 0;
    const rightLength = index + 1 < this.#size ? this.#runs[this.#slot(index + 1)]! : 0;
    const length = leftLength + 1 + rightLength;
    this.#runs[this.#slot(index)] = length;
    this.#runs[this.#slot(index - leftLength)] = length;
    this.#runs[this.#slot(index + rightLength)] = length;
    this.#doneInWindow++;
    this.#version++;
    // A new done range, an extended one, or two ranges joined into one.
    this.#gapCount += 1 - Number(leftLength > 0) - Number(rightLength > 0);
    if (index !== 0) return false;

    // The blocker finished: the done run starting at the head is now committable.
    this.#gapCount--;
    this.#head = this.#slot(length);
    this.#size -= length;
    this.#doneInWindow -= length;
    this.#blockingSinceMs = now ?? this.#now();
    // Give memory back once a large window has drained, keeping room for twice what is left.
    if (this.#offsets.length > KEEP_CAPACITY && this.#size * 8 < this.#offsets.length) {
      this.#resize(Math.max(KEEP_CAPACITY, this.#offsets.length / 4));
    }
    return true;
  }

  /** Offset the group may commit: everything fetched below it is done. */
  get commitPosition(): number | undefined {
    return this.#size > 0 ? this.#offsets[this.#head] : this.#nextPosition;
  }

  /** Lowest fetched offset that is not done, or `null` when nothing is pending. */
  get blockingOffset(): number | null {
    return this.#size > 0 ? this.#offsets[this.#head]! : null;
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
    return this.#size - this.#doneInWindow;
  }

  /**
   * Tracked offsets at or above the commit position, done or not: the memory the tracker holds,
   * which the control plane bounds by pausing the partition's fetches.
   */
  get windowSize(): number {
    return this.#size;
  }

  /** Ring slot of the `index`-th window offset. */
  #slot(index: number): number {
    return (this.#head + index) & this.#mask;
  }

  /** Position of `offset` in the window (0 at the head), or -1. */
  #indexOf(offset: number): number {
    if (this.#size === 0) return -1;
    // Offsets are usually contiguous (compaction and transaction markers leave holes): guess first.
    const guess = offset - this.#offsets[this.#head]!;
    if (guess >= 0 && guess < this.#size && this.#offsets[this.#slot(guess)] === offset) return guess;
    let low = 0;
    let high = this.#size - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const value = this.#offsets[this.#slot(mid)]!;
      if (value === offset) return mid;
      if (value < offset) low = mid + 1;
      else high = mid - 1;
    }
    return -1;
  }

  /** Moves the window into fresh arrays of `capacity` slots (a power of two), starting at slot 0. */
  #resize(capacity: number): void {
    const offsets = new Float64Array(capacity);
    const runs = new Int32Array(capacity);
    const firstPart = Math.min(this.#size, this.#offsets.length - this.#head);
    offsets.set(this.#offsets.subarray(this.#head, this.#head + firstPart));
    offsets.set(this.#offsets.subarray(0, this.#size - firstPart), firstPart);
    runs.set(this.#runs.subarray(this.#head, this.#head + firstPart));
    runs.set(this.#runs.subarray(0, this.#size - firstPart), firstPart);
    this.#offsets = offsets;
    this.#runs = runs;
    this.#mask = capacity - 1;
    this.#head = 0;
  }
}

/** Ranges clipped to `low` and up, overlaps dropped and adjacent ones merged: one range per run. */
function normalise(ranges: readonly DoneRange[], low: number): DoneRange[] {
  const out: [number, number][] = [];
  for (const [rawFirst, last] of ranges) {
    const previous = out[out.length - 1];
    const first = Math.max(rawFirst, low, previous === undefined ? low : previous[1] + 1);
    if (first > last) continue;
    if (previous !== undefined && first === previous[1] + 1) previous[1] = last;
    else out.push([first, last]);
  }
  return out;
}
