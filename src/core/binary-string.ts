/** Most bytes turned into a string by one `String.fromCharCode` call: well below engines' argument limits. */
const CHUNK = 4096;

/** Bytes to a string of one char per byte: injective, and what `btoa` expects. */
export function bytesToBinaryString(bytes: Uint8Array): string {
  if (bytes.length <= CHUNK) return fromCodes(bytes);
  let text = "";
  for (let start = 0; start < bytes.length; start += CHUNK) text += fromCodes(bytes.subarray(start, start + CHUNK));
  return text;
}

/**
 * One flat string from the bytes. A per-message key goes through here, then into maps: appending
 * char by char builds a rope that each lookup flattens again, and `apply` reads a typed array's
 * elements slower than a plain array's (measured on Node, Deno and Bun: 12-byte keys 10–35%
 * cheaper this way, 36-byte ones up to 30% on Node and Deno, short ones the same).
 */
function fromCodes(bytes: Uint8Array): string {
  // Keys of up to 4 bytes (integers, short ids) without the array: a flat string either way.
  switch (bytes.length) {
    case 0:
      return "";
    case 1:
      return String.fromCharCode(bytes[0]!);
    case 2:
      return String.fromCharCode(bytes[0]!, bytes[1]!);
    case 3:
      return String.fromCharCode(bytes[0]!, bytes[1]!, bytes[2]!);
    case 4:
      return String.fromCharCode(bytes[0]!, bytes[1]!, bytes[2]!, bytes[3]!);
  }
  const codes = new Array<number>(bytes.length);
  for (let i = 0; i < bytes.length; i++) codes[i] = bytes[i]!;
  return String.fromCharCode.apply(null, codes);
}
