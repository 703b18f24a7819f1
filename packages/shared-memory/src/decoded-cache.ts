/** How many records a view's cache holds at most: enough for a hot set, small enough to cost little memory. */
const ENTRIES = 1 << 14;
const MASK = ENTRIES - 1;

/**
 * A view's decoded records by the block they are stored in, direct-mapped: entry `(ref / 8) mod
 * ENTRIES` holds one block's ref, the write stamp its record had and the record. A lookup is two
 * compares and a store replaces what its entry held, so the cache never grows, evicts or
 * allocates (a Map of every record read cost more than decoding, and grew without bound).
 *
 * What a read stores is kept only if the read proves whole: entries stored since the last
 * `settle` are cleared by `rollback`.
 */
export class DecodedCache {
  readonly #refs = new Uint32Array(ENTRIES);
  readonly #stamps = new Uint32Array(ENTRIES);
  readonly #records: unknown[] = new Array<unknown>(ENTRIES).fill(undefined);
  /** The entries stored since the last settle; past ENTRIES of them, rollback clears all. */
  readonly #stored = new Uint32Array(ENTRIES);
  #storedCount = 0;

  /** The record stored at `ref` with this stamp, if kept; else undefined. */
  get(ref: number, stamp: number): unknown {
    const i = (ref >>> 3) & MASK;
    return this.#refs[i] === ref && this.#stamps[i] === stamp ? this.#records[i] : undefined;
  }

  set(ref: number, stamp: number, record: unknown): void {
    const i = (ref >>> 3) & MASK;
    this.#refs[i] = ref;
    this.#stamps[i] = stamp;
    this.#records[i] = record;
    if (this.#storedCount < ENTRIES) this.#stored[this.#storedCount] = i;
    this.#storedCount++;
  }

  /** The read that stored the latest entries was whole. */
  settle(): void {
    this.#storedCount = 0;
  }

  /** The read that stored the latest entries may have seen torn memory: clear them (refs are never 0). */
  rollback(): void {
    const count = this.#storedCount;
    if (count === 0) return;
    this.#storedCount = 0;
    if (count > ENTRIES) {
      this.#refs.fill(0);
      this.#records.fill(undefined);
      return;
    }
    for (let j = 0; j < count; j++) {
      const i = this.#stored[j] as number;
      this.#refs[i] = 0;
      this.#records[i] = undefined;
    }
  }
}
