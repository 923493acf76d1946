/** Which in-flight limit stopped fetching. */
export type LimitReason = "maxInFlight" | "maxInFlightBytes";

/** Fetching resumes below this share of a limit, so it does not flap at the boundary. */
const LOW_WATER = 0.8;

/**
 * Counts what the consumer admitted (messages queued or processing, and their payload bytes) against
 * the configured limits, with hysteresis: pause at a limit, resume below 80% of every limit.
 */
export class InFlightBudget {
  readonly maxMessages: number;
  readonly maxBytes: number;
  messages = 0;
  bytes = 0;

  constructor(maxMessages: number, maxBytes: number) {
    this.maxMessages = maxMessages;
    this.maxBytes = maxBytes;
  }

  add(bytes: number): void {
    this.messages++;
    this.bytes += bytes;
  }

  remove(count: number, bytes: number): void {
    this.messages -= count;
    this.bytes -= bytes;
  }

  /** Whether another message may be admitted: both counts are below their limits. */
  get hasRoom(): boolean {
    return this.messages < this.maxMessages && this.bytes < this.maxBytes;
  }

  /** The limit reached now, if any. */
  get limitReached(): LimitReason | null {
    if (this.messages >= this.maxMessages) return "maxInFlight";
    if (this.bytes >= this.maxBytes) return "maxInFlightBytes";
    return null;
  }

  /** Whether both counts fell far enough below their limits to fetch again. */
  get belowLowWater(): boolean {
    return this.messages <= Math.floor(this.maxMessages * LOW_WATER) && this.bytes <= this.maxBytes * LOW_WATER;
  }
}
