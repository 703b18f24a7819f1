/** Hashes have this many bits (see hashBytes). */
export const HASH_BITS = 30;
const HASH_MASK = 2 ** HASH_BITS - 1;

/**
 * A 30-bit hash of `n` bytes at `p` (FNV-1a with a final mix, so that every bit varies with every
 * byte). 30 bits, so that it is a small integer to V8: a 32-bit one is a heap number, allocated
 * whenever it is passed to a function not inlined.
 */
export function hashBytes(bytes: Uint8Array, p: number, n: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < n; i++) h = Math.imul(h ^ (bytes[p + i] as number), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) & HASH_MASK;
}

/** Whether the `n` bytes at `p` in `a` equal those of `key` (`a` is bounds-checked by the caller). */
export function bytesEqual(a: Uint8Array, p: number, key: Uint8Array, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[p + i] !== key[i]) return false;
  return true;
}
