/** How many records a view's cache holds at most: enough for a hot set, small enough to cost little memory. */
const ENTRY_BITS = 14;
const ENTRIES = 1 << ENTRY_BITS;

/** The entry of a block: refs step by block sizes (multiples of 8, often of 64), so they are spread by a multiplicative hash. */
function entryOf(ref: number): number {
  return Math.imul(ref, 0x9e3779b1) >>> (32 - ENTRY_BITS);
}

/**
 * A view's decoded records by the block they are stored in, direct-mapped: an entry holds one
 * block's ref, the write stamp its record had and the record. A lookup is two compares and a
 * store replaces what its entry held, so the cache never grows, evicts or allocates (a Map of
 * every record read cost more than decoding, and grew without bound). It saves the decode, not
 * the reads of the primary-key slot and the record's header, which a lookup still makes: it
 * helps when reads keep to a set of records that fits, and costs a little when they do not.
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
    const i = entryOf(ref);
    return this.#refs[i] === ref && this.#stamps[i] === stamp ? this.#records[i] : undefined;
  }

  set(ref: number, stamp: number, record: unknown): void {
    const i = entryOf(ref);
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
