/** Minimal typed event emitter: the core stays free of runtime-specific emitters. */
export class Emitter<Events extends { [Name in keyof Events]: (payload: never) => void }> {
  readonly #listeners = new Map<keyof Events, Set<Events[keyof Events]>>();

  on<Name extends keyof Events>(name: Name, listener: Events[Name]): () => void {
    let set = this.#listeners.get(name);
    if (!set) this.#listeners.set(name, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Calls every listener of `name`; returns whether there was one. Listener errors are not ours. */
  emit<Name extends keyof Events>(name: Name, payload: Parameters<Events[Name]>[0]): boolean {
    const set = this.#listeners.get(name);
    if (!set || set.size === 0) return false;
    for (const listener of set) (listener as (payload: Parameters<Events[Name]>[0]) => void)(payload);
    return true;
  }
}
