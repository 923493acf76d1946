// Tests read offset maps as lists of done offsets (small maps only).
import { decodeOffsetMap } from "../../src/core/offset-map.ts";

/** The done offsets an offset map written for `position` lists, ascending. */
export function doneOffsets(metadata: string | null | undefined, position: number, maxSpan = 1_000_000): number[] {
  const offsets: number[] = [];
  for (const [first, last] of decodeOffsetMap(metadata, position, maxSpan)) {
    for (let offset = first; offset <= last; offset++) offsets.push(offset);
  }
  return offsets;
}
