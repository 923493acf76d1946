// The CPU benchmark's unit of work: pure-JS integer mixing over a message's value bytes. The same
// code on every runtime and thread (no native call such as node:crypto, whose cost differs between
// runtimes and which scales poorly across threads), allocation-free (no garbage collector in the
// measurement), and a chain of data-dependent multiplications the JIT cannot skip or vectorise.

/**
 * `rounds` rounds of mixing over every byte of `value` (FNV-style multiply, then an xorshift per
 * round). Returns the 32-bit result: keep it observable (e.g. XOR it into a sink).
 */
export function mix(value: Uint8Array, rounds: number): number {
  let h = 0x811c9dc5 | 0;
  const length = value.length;
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < length; i++) h = Math.imul(h ^ value[i]!, 0x01000193);
    h ^= h << 13;
    h ^= h >>> 17;
    h ^= h << 5;
  }
  return h >>> 0;
}

/** Keeps results observable so that no JIT drops the work. */
let sink = 0;

/** The value calibration mixes (the benchmark's values are 32 bytes too). */
const probe = Uint8Array.from({ length: 32 }, (_, i) => (i * 2654435761) >>> 24);

function timeRounds(rounds: number): number {
  const started = performance.now();
  sink ^= mix(probe, rounds);
  return performance.now() - started;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[values.length >> 1]!;

/** Nanoseconds per round over a 32-byte value on this thread: warm, median of `samples` timings of ~20 ms each. */
export function nsPerRound(samples = 9): number {
  // Warm-up: every JIT tier gets to compile mix (≥ 200 ms of calls, short and long).
  let rounds = 1000;
  const warmUntil = performance.now() + 200;
  while (performance.now() < warmUntil) {
    const took = timeRounds(rounds);
    if (took < 5) rounds *= 2;
    for (let i = 0; i < 50; i++) sink ^= mix(probe, 10);
  }
  // One timing of about 20 ms: long enough for a coarse clock, short enough to dodge most preemption.
  const perRound = timeRounds(rounds) / rounds;
  const probeRounds = Math.max(1000, Math.round(20 / perRound));
  const timings = Array.from({ length: samples }, () => timeRounds(probeRounds));
  if (sink === -1) console.log(sink);
  return (median(timings) * 1e6) / probeRounds;
}

/**
 * Rounds of {@link mix} over a 32-byte value that take `ms` milliseconds on the calling thread of
 * this runtime (warm, median of several timings). Pass `perRoundNs` to reuse one calibration.
 */
export function roundsForMs(ms: number, perRoundNs: number = nsPerRound()): number {
  return Math.max(1, Math.round((ms * 1e6) / perRoundNs));
}
