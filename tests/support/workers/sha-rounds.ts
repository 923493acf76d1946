// `rounds` chained SHA-256 digests of `bytes` with WebCrypto (all three runtimes), as hex.
export async function shaRounds(bytes: Uint8Array, rounds: number): Promise<string> {
  let digest: ArrayBuffer = new Uint8Array(bytes).buffer;
  for (let round = 0; round < rounds; round++) digest = await crypto.subtle.digest("SHA-256", digest);
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}
