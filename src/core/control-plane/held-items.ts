/** An item that can be in one {@linkcode HeldItems} list: the list's links live on the item. */
export interface HeldLinks<T> {
  heldBefore: T | undefined;
  heldAfter: T | undefined;
}

/**
 * The messages a partition holds, in the order they were accepted (offset order), as a list whose
 * links are fields of the items. Every message enters and leaves it once: a map by offset cost
 * about a tenth of the consumer's allocations per message (its tables are rebuilt as offsets come
 * and go), this costs two fields.
 */
export class HeldItems<T extends HeldLinks<T>> {
  #first: T | undefined = undefined;
  #last: T | undefined = undefined;

  add(item: T): void {
    item.heldBefore = this.#last;
    item.heldAfter = undefined;
    if (this.#last === undefined) this.#first = item;
    else this.#last.heldAfter = item;
    this.#last = item;
  }

  /** Takes `item` out (nothing happens if it is not in the list). */
  remove(item: T): void {
    const { heldBefore, heldAfter } = item;
    if (heldBefore === undefined && this.#first !== item) return;
    if (heldBefore === undefined) this.#first = heldAfter;
    else heldBefore.heldAfter = heldAfter;
    if (heldAfter === undefined) this.#last = heldBefore;
    else heldAfter.heldBefore = heldBefore;
    item.heldBefore = item.heldAfter = undefined;
  }

  /** The first held item matching `predicate`. O(n): for rare paths only. */
  find(predicate: (item: T) => boolean): T | undefined {
    for (let item = this.#first; item !== undefined; item = item.heldAfter) if (predicate(item)) return item;
    return undefined;
  }

  /** Calls `action` for each held item, oldest first; `action` may remove the item it is given. */
  forEach(action: (item: T) => void): void {
    for (let item = this.#first; item !== undefined;) {
      const after: T | undefined = item.heldAfter;
      action(item);
      item = after;
    }
  }
}
