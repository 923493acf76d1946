/** Bytes to a string of one char per byte: injective, and what `btoa` expects. */
export function bytesToBinaryString(bytes: Uint8Array): string {
  if (bytes.length <= 16) {
    // Short keys, the usual case: a loop beats apply's argument handling.
    let text = "";
    for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]!);
    return text;
  }
  // apply() takes array-likes; chunks keep the argument count well below engine limits.
  if (bytes.length <= 4096) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  let text = "";
  for (let start = 0; start < bytes.length; start += 4096) {
    text += String.fromCharCode.apply(null, bytes.subarray(start, start + 4096) as unknown as number[]);
  }
  return text;
}
