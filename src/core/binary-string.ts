/** Bytes to a string of one char per byte: injective, and what `btoa` expects. */
export function bytesToBinaryString(bytes: Uint8Array): string {
  // apply() takes array-likes; chunks keep the argument count well below engine limits.
  if (bytes.length <= 4096) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  let text = "";
  for (let start = 0; start < bytes.length; start += 4096) {
    text += String.fromCharCode.apply(null, bytes.subarray(start, start + 4096) as unknown as number[]);
  }
  return text;
}
