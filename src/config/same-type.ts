// Type-level equality for the compile-time check that the schema and the option interfaces agree.

/** Every property required, all the way down (functions kept whole): optional keys then count too. */
export type DeepRequired<T> = T extends (...args: never[]) => unknown ? T
  : T extends object ? { [K in keyof T]-?: DeepRequired<T[K]> }
  : T;

/**
 * `true` when A and B have the same keys at every depth, with mutually assignable values; plain
 * assignability would let one side gain or lose an optional key unnoticed.
 */
export type Same<A, B> = [DeepRequired<A>] extends [DeepRequired<B>]
  ? [DeepRequired<B>] extends [DeepRequired<A>] ? true : false
  : false;

/** Compiles only when T is `true`. */
export type Expect<T extends true> = T;
