/** Minimal typed event emitter: the core stays free of runtime-specific emitters. */
export class Emitter<Events extends { [Name in keyof Events]: (payload: never) => void }> {
  readonly #listeners = new Map<keyof Events, Set<Events[keyof Events]>>();
  readonly #listenerFailed: (error: unknown) => void;

  /** `listenerFailed` receives what a listener threw (default: thrown again in a microtask). */
  constructor(listenerFailed: (error: unknown) => void = rethrowLater) {
    this.#listenerFailed = listenerFailed;
  }

  on<Name extends keyof Events>(name: Name, listener: Events[Name]): () => void {
    let set = this.#listeners.get(name);
    if (!set) this.#listeners.set(name, set = new Set());
    set.add(listener);
    return () => set.delete(listener);
  }

  /**
   * Calls every listener of `name`; returns whether there was one. A listener that throws does not
   * stop the others nor the consumer's work that emitted (a commit, a retry): its error is thrown
   * again in a microtask, as an uncaught error of the listener, like `EventTarget` does.
   */
  emit<Name extends keyof Events>(name: Name, payload: Parameters<Events[Name]>[0]): boolean {
    const set = this.#listeners.get(name);
    if (!set || set.size === 0) return false;
    for (const listener of set) {
      try {
        (listener as (payload: Parameters<Events[Name]>[0]) => void)(payload);
      } catch (error) {
        this.#listenerFailed(error);
      }
    }
    return true;
  }
}

/** Reports a listener's error as uncaught, without unwinding the code that emitted. */
function rethrowLater(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}
