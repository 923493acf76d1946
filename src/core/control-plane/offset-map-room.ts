import {
  type DoneRange,
  type EncodedOffsetMap,
  encodeOffsetMap,
  offsetMapBound,
  offsetMapPayloadBytes,
  offsetMapPayloadLimit,
} from "../offset-map.ts";
import type { OffsetTracker } from "../offset-tracker.ts";

/** Offset-map size in a commit above which a partition stops starting new work (share of the limit). */
const MAP_THROTTLE_AT = 0.9;
/** Offset-map size in a commit below which it starts new work again. */
const MAP_RESUME_AT = 0.5;
/**
 * Payload bytes of the map per finish before it is measured again at an unchanged commit position:
 * a partition working at its map's limit then pays at most about 8 range visits per finish
 * instead of a whole measure (thousands of ranges) for each.
 */
const MEASURE_EVERY_BYTES = 16;

/**
 * Keeps a partition's offset map within `maxCommitMetadataBytes`, at commits and between them.
 * - At a commit: a map above 90% of the limit (or cut short by it) stops new work until a commit's
 *   map is below 50% again.
 * - Between commits: work may start only while the map would still fit if every message started,
 *   and every one finished since the last measure, added a done range. Checked at commits alone, the
 *   map outgrew its limit in between (a commit interval of completions); the encoder then left the
 *   highest done offsets out, and after a graceful hand-over the next owner ran them again
 *   (simulation seed 34218).
 */
export class OffsetMapRoom {
  readonly #tracker: OffsetTracker;
  readonly #maxBytes: number;
  readonly #payloadLimit: number;
  /** Payload bytes of the map at its last measure, and the commit position it was measured at. */
  #measured = 0;
  #measuredAt = 0;
  /** Offsets finished since the last measure. */
  #finished = 0;
  /** Last offset an inherited map marks done (it may lie past the last one fetched). */
  #inheritedEnd = -1;
  /** A commit's map neared the limit (see MAP_THROTTLE_AT): no room until one is small again. */
  #nearFull = false;

  constructor(tracker: OffsetTracker, maxMetadataBytes: number) {
    this.#tracker = tracker;
    this.#maxBytes = maxMetadataBytes;
    this.#payloadLimit = offsetMapPayloadLimit(maxMetadataBytes);
  }

  /** The epoch starts at `position` with the done ranges a previous owner left: measured now. */
  inherit(position: number, done: readonly DoneRange[]): void {
    this.#inheritedEnd = done.length === 0 ? -1 : done[done.length - 1]![1];
    this.#measure(position);
  }

  /** The map to commit at `position` (the tracker's commit position); its size sets the pressure. */
  forCommit(position: number): EncodedOffsetMap {
    const encoded = encodeOffsetMap(position, this.#tracker.doneRanges(), this.#maxBytes);
    this.#measuredNow(position, encoded.payloadBytes);
    const length = encoded.metadata.length;
    if (!encoded.complete || length > this.#maxBytes * MAP_THROTTLE_AT) this.#nearFull = true;
    else if (length < this.#maxBytes * MAP_RESUME_AT) this.#nearFull = false;
    return encoded;
  }

  /** Measures the map at `position` (its size only: nothing is written). */
  #measure(position: number): void {
    this.#measuredNow(position, offsetMapPayloadBytes(position, this.#tracker.doneRanges(), this.#maxBytes));
  }

  /** The map at `position` has `payloadBytes`: estimates start again from there. */
  #measuredNow(position: number, payloadBytes: number): void {
    this.#measured = payloadBytes;
    this.#measuredAt = position;
    this.#finished = 0;
  }

  finished(): void {
    this.#finished++;
  }

  /**
   * Whether `inFlight` messages (started, or about to start, and not finished) may all finish,
   * each a new done range, with the map still within its limit; never while a commit's map neared
   * it. Measures the map again (bounded by the limit, not the window) when the estimate says no and
   * something finished since the last measure (enough of it, if the commit position did not move).
   */
  hasRoom(inFlight: number): boolean {
    if (this.#nearFull) return false;
    const position = this.#tracker.commitPosition;
    if (position === undefined) return true;
    if (this.#fits(position, inFlight)) return true;
    if (this.#finished === 0) return false;
    // At the same position, finishes only add done offsets or join two runs: a measure (up to one
    // range visited per two payload bytes) waits for a finish per MEASURE_EVERY_BYTES of the map,
    // or for as many finishes as are in flight (a partition with little in flight, such as one
    // behind a long-blocking offset, gets its room back as before).
    const few = this.#finished * MEASURE_EVERY_BYTES < this.#measured && this.#finished < inFlight;
    if (position === this.#measuredAt && few) return false;
    this.#measure(position);
    return this.#fits(position, inFlight);
  }

  #fits(position: number, inFlight: number): boolean {
    const highest = Math.max(this.#tracker.lastFetchedOffset ?? position, this.#inheritedEnd);
    const more = this.#finished + inFlight;
    return offsetMapBound(this.#measured, this.#measuredAt, position, highest, more) <= this.#payloadLimit;
  }
}
