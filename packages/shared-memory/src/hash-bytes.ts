/** A 32-bit hash of `n` bytes at `p` (FNV-1a with a final mix, so that low bits vary with every byte). */
export function hashBytes(bytes: Uint8Array, p: number, n: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < n; i++) h = Math.imul(h ^ (bytes[p + i] as number), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Whether the `n` bytes at `p` in `a` equal those of `key` (`a` is bounds-checked by the caller). */
export function bytesEqual(a: Uint8Array, p: number, key: Uint8Array, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[p + i] !== key[i]) return false;
  return true;
}
