// Reading the headers of a record to publish (a list, where a name may repeat) in assertions.
import type { MessageHeader } from "../../src/core/message.ts";

/** The last value of header `name` (as `Map#get` would keep it), or `undefined` when there is none. */
export function headerValue(
  headers: readonly MessageHeader[] | undefined,
  name: string,
): Uint8Array | null | undefined {
  let found: Uint8Array | null | undefined;
  for (const [each, value] of headers ?? []) if (each === name) found = value;
  return found;
}
