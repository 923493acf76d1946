/** How long the cancellation test's stuck handler spins on Deno, whose terminate() cannot stop it. */
export const SPIN_ON_DENO_MS = 3_000;
