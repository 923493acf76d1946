// The shape matrix's cells: dimensions, presets and filters, the input topic of each cell, and the
// bounds each measured rate is divided by. No I/O here.
import { hotKeyShare, topicName, type TopicSpec } from "../harness/topics.ts";

export type KeyShape = "u100" | "u1000" | "z1000";

type Values = {
  values: readonly number[];
  batches: readonly number[];
  keys: readonly KeyShape[];
  partitions: readonly number[];
  handlers: readonly number[];
};

/** Every value of every dimension (the "full" preset is their cross product). */
export const DIMENSIONS: Values = {
  /** Value size, bytes. */
  values: [10, 100, 1000, 10000],
  /** Records per producer send(): the record batches the consumer fetches. */
  batches: [1, 500, 5000],
  /** Uniform over 100 or 1,000 keys, or Zipf (s = 1) over 1,000 keys. */
  keys: ["u100", "u1000", "z1000"],
  partitions: [1, 4, 12, 48],
  /** Handler time, ms (the handler awaits a timer). */
  handlers: [1, 5],
};

export type Dimension = keyof Values;

/** The centre of the "quick" preset: the issue's target case (100 keys, 4 partitions, 5 ms). */
export const BASE = { values: 100, batches: 500, keys: "u100" as KeyShape, partitions: 4, handlers: 5 };

/** The library's defaults, which every cell uses (and the peers' equivalents). */
export const WORKLOAD = { maxInFlight: 1000, concurrency: 100 } as const;

export interface Cell {
  /** e.g. "v100-b500-u100-p4-h5" */
  id: string;
  valueBytes: number;
  sendBatch: number;
  keys: KeyShape;
  partitions: number;
  handlerMs: number;
  topic: TopicSpec;
}

/**
 * Messages per topic. Uniform keys: 200,000 (40,000 of 10 KB: 400 MB), enough for about 2 s at the
 * 1 ms handler's bound of 100,000 msg/s. Zipf: 20,000, since those cells read the whole topic
 * (below) at ~7,500 (1 ms) or ~1,500 msg/s (5 ms).
 */
export function topicMessages(valueBytes: number, keys: KeyShape): number {
  if (keys === "z1000") return 20_000;
  return valueBytes >= 10_000 ? 40_000 : 200_000;
}

export function topicSpec(valueBytes: number, sendBatch: number, keys: KeyShape, partitions: number): TopicSpec {
  const base = {
    partitions,
    keys: keys === "u100" ? 100 : 1000,
    keyDistribution: keys === "z1000" ? "zipf" as const : "uniform" as const,
    slowKey: false,
    messages: topicMessages(valueBytes, keys),
    valueBytes,
    sendBatch,
  };
  return { ...base, name: topicName(base) };
}

export function cellId(v: number, b: number, k: KeyShape, p: number, h: number): string {
  return `v${v}-b${b}-${k}-p${p}-h${h}`;
}

function makeCell(v: number, b: number, k: KeyShape, p: number, h: number): Cell {
  return {
    id: cellId(v, b, k, p, h),
    valueBytes: v,
    sendBatch: b,
    keys: k,
    partitions: p,
    handlerMs: h,
    topic: topicSpec(v, b, k, p),
  };
}

function product(values: Values): Cell[] {
  const cells: Cell[] = [];
  for (const v of values.values) {
    for (const b of values.batches) {
      for (const k of values.keys) {
        for (const p of values.partitions) for (const h of values.handlers) cells.push(makeCell(v, b, k, p, h));
      }
    }
  }
  return cells;
}

/** The base cell's values, except every value of `dimension`. */
const only = (dimension: Dimension): Values => ({
  values: dimension === "values" ? DIMENSIONS.values : [BASE.values],
  batches: dimension === "batches" ? DIMENSIONS.batches : [BASE.batches],
  keys: dimension === "keys" ? DIMENSIONS.keys : [BASE.keys],
  partitions: dimension === "partitions" ? DIMENSIONS.partitions : [BASE.partitions],
  handlers: dimension === "handlers" ? DIMENSIONS.handlers : [BASE.handlers],
});

export const PRESETS = {
  /**
   * The base cell (100 B, 500 per send, 100 uniform keys, 4 partitions, 5 ms) and every other value
   * of one dimension at a time: 12 cells, a few minutes per runtime.
   */
  quick: (): Cell[] => dedupe((Object.keys(DIMENSIONS) as Dimension[]).flatMap((d) => product(only(d)))),
  /**
   * Two planes, both handlers: keys × partitions at 100 B / 500 per send, and values × send sizes at
   * 100 uniform keys / 4 partitions (46 cells).
   */
  issue: (): Cell[] =>
    dedupe([
      ...product({ ...DIMENSIONS, values: [BASE.values], batches: [BASE.batches] }),
      ...product({ ...DIMENSIONS, keys: [BASE.keys], partitions: [BASE.partitions] }),
    ]),
  /** The whole cross product: 288 cells over 144 topics. */
  full: (): Cell[] => product(DIMENSIONS),
} as const;

export type Preset = keyof typeof PRESETS;

function dedupe(cells: Cell[]): Cell[] {
  const seen = new Map<string, Cell>();
  for (const cell of cells) if (!seen.has(cell.id)) seen.set(cell.id, cell);
  return [...seen.values()];
}

export interface Filters {
  values?: number[];
  batches?: number[];
  keys?: string[];
  partitions?: number[];
  handlers?: number[];
  /** Exact cell ids. */
  cells?: string[];
}

/** The preset's cells that every given filter allows. */
export function selectCells(preset: Preset, filters: Filters): Cell[] {
  return PRESETS[preset]().filter((cell) =>
    (!filters.values || filters.values.includes(cell.valueBytes)) &&
    (!filters.batches || filters.batches.includes(cell.sendBatch)) &&
    (!filters.keys || filters.keys.includes(cell.keys)) &&
    (!filters.partitions || filters.partitions.includes(cell.partitions)) &&
    (!filters.handlers || filters.handlers.includes(cell.handlerMs)) &&
    (!filters.cells || filters.cells.includes(cell.id))
  );
}

// ---------------------------------------------------------------------------------------------
// Measurement and bounds

/**
 * Zipf cells read their whole topic, from the first handler call to the last completion: only over
 * the whole topic is the hottest key's bound a bound (a consumer may run ahead on the other keys
 * for a while). Uniform cells count `target` messages; see {@link cellTarget}.
 */
export const readsWholeTopic = (cell: Cell): boolean => cell.keys === "z1000";

const hotShares = new Map<string, number>();

/** Share of the topic's messages that carry its most frequent key: 1/100, 1/1000, or ~0.134 for Zipf. */
export function hotShare(topic: TopicSpec): number {
  let share = hotShares.get(topic.name);
  if (share === undefined) {
    share = topic.keyDistribution === "zipf" ? hotKeyShare(topic).share : 1 / topic.keys;
    hotShares.set(topic.name, share);
  }
  return share;
}

/**
 * Handlers that can run at once: at most `concurrency`, at most `maxInFlight`, and under key
 * ordering at most `1/p` on average, where p is the hottest key's share: its messages run one at a
 * time, so n messages take at least p·n·t, i.e. at most 1/(p·t) msg/s overall. For uniform keys
 * 1/p is the key count.
 */
export function slots(topic: TopicSpec, concurrency: number, maxInFlight: number = WORKLOAD.maxInFlight): number {
  return Math.min(concurrency, maxInFlight, 1 / hotShare(topic));
}

/** Little's law: slots / handler time (seconds). */
export function littleBound(topic: TopicSpec, handlerSeconds: number, concurrency: number): number {
  return slots(topic, concurrency) / handlerSeconds;
}

/**
 * Messages a uniform cell counts: enough for `windowSeconds` at its bound (nominal Little's bound
 * or the raw rate, the smaller), at most the whole topic. Zipf cells: the whole topic.
 */
export function cellTarget(cell: Cell, rawRate: number | undefined, windowSeconds: number): number {
  if (readsWholeTopic(cell)) return cell.topic.messages;
  const bound = Math.min(
    littleBound(cell.topic, cell.handlerMs / 1000, WORKLOAD.concurrency),
    rawRate && Number.isFinite(rawRate) ? rawRate : Infinity,
  );
  return Math.min(cell.topic.messages, Math.max(1000, Math.ceil(bound * windowSeconds)));
}

/**
 * The longest a uniform cell may run (from the first handler call): twice the window, so a consumer
 * far below its bound still ends; the rate then counts what completed by then.
 */
export const cellWindowCap = (cell: Cell, windowSeconds: number): number | undefined =>
  readsWholeTopic(cell) ? undefined : 2 * windowSeconds;
