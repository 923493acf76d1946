/** Upper bounds in seconds: from sub-millisecond handlers to minute-long stalls. */
export const LATENCY_BUCKETS: readonly number[] = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
];

/** Upper bounds in messages, for batch sizes (`batch.maxMessages` is usually one of them). */
export const BATCH_SIZE_BUCKETS: readonly number[] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];

/** A histogram as Prometheus exposes it: cumulative counts per upper bound, plus sum and count. */
export interface HistogramSnapshot {
  /** Upper bounds (seconds, or messages for batch sizes), ascending; `+Inf` is implied by `count`. */
  readonly bounds: readonly number[];
  /** Observations at or below each bound (cumulative). */
  readonly cumulativeCounts: readonly number[];
  readonly sum: number;
  readonly count: number;
}

/** Fixed-bucket histogram: O(buckets) per observation, no allocation. */
export class Histogram {
  readonly #bounds: readonly number[];
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  constructor(bounds: readonly number[] = LATENCY_BUCKETS) {
    this.#bounds = bounds;
    this.#counts = new Array<number>(bounds.length).fill(0);
  }

  observe(value: number): void {
    this.#sum += value;
    this.#count++;
    for (let i = 0; i < this.#bounds.length; i++) {
      if (value <= this.#bounds[i]!) {
        this.#counts[i]!++;
        return;
      }
    }
  }

  snapshot(): HistogramSnapshot {
    let running = 0;
    return {
      bounds: this.#bounds,
      cumulativeCounts: this.#counts.map((count) => (running += count)),
      sum: this.#sum,
      count: this.#count,
    };
  }
}
