import type { Allocator } from './allocator.js';
import type { ValueDecoder } from './codec/value-decoder.js';
import { bytesEqual, HASH_BITS, hashBytes } from './hash-bytes.js';
import { PK_CAPACITY, PK_TABLE, RECORD_COUNT } from './memory-layout.js';
import type { SharedMemory } from './shared-memory.js';

const INITIAL_CAPACITY = 16;
/** The table grows past this load; linear probing stays short below it. */
const MAX_LOAD = 0.75;

/**
 * Refs are 8-aligned, so a slot keeps the top 3 bits of the key's hash in the ref's low 3 bits:
 * a probe skips 7 in 8 records of other keys without reading them (each read of a record is a
 * cache miss in a large table). The top bits, since the low ones pick the home slot.
 */
const TAG_MASK = 7;
function tagOf(hash: number): number {
  return hash >>> (HASH_BITS - 3);
}
function refOf(entry: number): number {
  return entry - (entry & TAG_MASK);
}

/**
 * The primary-key index: an open-addressing hash table (linear probing) of record refs (tagged
 * with bits of their key's hash), keyed by the encoded primary key stored in each record. Keys
 * are encoded canonically (equal keys, as hashKey sees them, have equal bytes), so comparing
 * bytes compares keys exactly. Reads bound every probe sequence by the capacity and check every
 * ref, so torn memory cannot hang or crash a reader. Deletion shifts entries back (no
 * tombstones), so a table full of replacements never needs a rebuild.
 */
export class PrimaryKeyTable {
  readonly #memory: SharedMemory;
  readonly #decoder: ValueDecoder;
  /** Where the encoded primary key starts in a record. */
  readonly #keyAt: number;

  /** Only the owner's table has an allocator: a reader's never writes. */
  readonly #allocator: Allocator | undefined;

  constructor(memory: SharedMemory, decoder: ValueDecoder, keyAt: number, allocator?: Allocator) {
    this.#memory = memory;
    this.#decoder = decoder;
    this.#keyAt = keyAt;
    this.#allocator = allocator;
  }

  get size(): number {
    return this.#memory.word(RECORD_COUNT);
  }

  /** The ref of the record whose encoded primary key is `key[0, n)`, or 0. */
  find(key: Uint8Array, n: number, hash: number): number {
    const memory = this.#memory;
    const words = memory.words;
    const capacity = memory.word(PK_CAPACITY);
    const table = memory.word(PK_TABLE);
    if (capacity === 0) return 0;
    memory.check(table, 8 + 4 * capacity);
    const base = (table >>> 2) + 2;
    const mask = capacity - 1;
    const keyAt = this.#keyAt;
    const bytes = memory.bytes;
    const tag = tagOf(hash);
    for (let i = hash & mask, probes = 0; probes < capacity; i = (i + 1) & mask, probes++) {
      const entry = words[base + i] as number;
      if (entry === 0) return 0;
      if ((entry & TAG_MASK) !== tag) continue;
      const ref = refOf(entry);
      memory.check(ref, keyAt + n);
      if (bytesEqual(bytes, ref + keyAt, key, n)) return ref;
    }
    return 0;
  }

  /** Calls `each` with every record ref, in table order. */
  forEach(each: (ref: number) => void): void {
    const memory = this.#memory;
    const capacity = memory.word(PK_CAPACITY);
    if (capacity === 0) return;
    const table = memory.word(PK_TABLE);
    memory.check(table, 8 + 4 * capacity);
    const words = memory.words;
    const base = (table >>> 2) + 2;
    for (let i = 0; i < capacity; i++) {
      const entry = words[base + i] as number;
      if (entry !== 0) each(refOf(entry));
    }
  }

  // The owner's side.

  /** Sets up an empty table. */
  initialize(): void {
    const allocator = this.#owner();
    const words = this.#memory.words;
    words[PK_TABLE] = allocator.allocate(8 + 4 * INITIAL_CAPACITY);
    words[PK_CAPACITY] = INITIAL_CAPACITY;
    words[RECORD_COUNT] = 0;
    this.#clearSlots(words[PK_TABLE] as number, INITIAL_CAPACITY);
  }

  /** The size of the block a rebuild would need to hold `added` more records, or 0 if none is needed. */
  growthBytes(added: number): number {
    const capacity = this.#targetCapacity(this.size + added);
    return capacity === this.#memory.word(PK_CAPACITY) ? 0 : 8 + 4 * capacity;
  }

  /** Files `ref` under its key; returns the ref it replaces, or 0. Space for a rebuild must be reserved. */
  set(key: Uint8Array, n: number, hash: number, ref: number): number {
    const words = this.#memory.words;
    const capacity = this.#targetCapacity(this.size + 1);
    if (capacity !== words[PK_CAPACITY]) this.#rebuild(capacity);
    const base = ((words[PK_TABLE] as number) >>> 2) + 2;
    const mask = (words[PK_CAPACITY] as number) - 1;
    const bytes = this.#memory.bytes;
    const tag = tagOf(hash);
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const entry = words[base + i] as number;
      if (entry === 0) {
        words[base + i] = ref + tag;
        words[RECORD_COUNT] = (words[RECORD_COUNT] as number) + 1;
        return 0;
      }
      const held = refOf(entry);
      if ((entry & TAG_MASK) === tag && bytesEqual(bytes, held + this.#keyAt, key, n)) {
        words[base + i] = ref + tag;
        return held;
      }
    }
  }

  /** Removes the record filed under the key; returns its ref, or 0. */
  delete(key: Uint8Array, n: number, hash: number): number {
    const ref = this.find(key, n, hash);
    if (ref === 0) return 0;
    const words = this.#memory.words;
    const base = ((words[PK_TABLE] as number) >>> 2) + 2;
    const mask = (words[PK_CAPACITY] as number) - 1;
    const entry = ref + tagOf(hash);
    let hole = hash & mask;
    while (words[base + hole] !== entry) hole = (hole + 1) & mask;
    // Shift back every later entry of the run that may sit in the hole (its home is not between).
    for (let i = (hole + 1) & mask; ; i = (i + 1) & mask) {
      const held = words[base + i] as number;
      if (held === 0) break;
      const home = this.#hashOf(refOf(held)) & mask;
      const between = hole <= i ? hole < home && home <= i : hole < home || home <= i;
      if (!between) {
        words[base + hole] = held;
        hole = i;
      }
    }
    words[base + hole] = 0;
    words[RECORD_COUNT] = (words[RECORD_COUNT] as number) - 1;
    return ref;
  }

  /** Empties the table back to its initial size, giving the old block back. */
  clear(): void {
    this.#owner().free(this.#memory.word(PK_TABLE));
    this.initialize();
  }

  /** The hash of the primary key stored in record `ref`. */
  #hashOf(ref: number): number {
    const at = ref + this.#keyAt;
    const end = this.#decoder.skip(at, ref + (this.#memory.words[ref >>> 2] as number));
    return hashBytes(this.#memory.bytes, at, end - at);
  }

  #targetCapacity(count: number): number {
    let capacity = this.#memory.word(PK_CAPACITY);
    while (count > capacity * MAX_LOAD) capacity *= 2;
    return capacity;
  }

  #rebuild(capacity: number): void {
    const words = this.#memory.words;
    const old = words[PK_TABLE] as number;
    const oldCapacity = words[PK_CAPACITY] as number;
    const allocator = this.#owner();
    const table = allocator.allocate(8 + 4 * capacity);
    this.#clearSlots(table, capacity);
    const base = (table >>> 2) + 2;
    const mask = capacity - 1;
    for (let j = 0; j < oldCapacity; j++) {
      const entry = words[(old >>> 2) + 2 + j] as number;
      if (entry === 0) continue;
      let i = this.#hashOf(refOf(entry)) & mask;
      while (words[base + i] !== 0) i = (i + 1) & mask;
      words[base + i] = entry;
    }
    words[PK_TABLE] = table;
    words[PK_CAPACITY] = capacity;
    allocator.free(old);
  }

  #owner(): Allocator {
    if (this.#allocator === undefined) throw new Error('a reader does not write');
    return this.#allocator;
  }

  #clearSlots(table: number, capacity: number): void {
    this.#memory.words.fill(0, (table >>> 2) + 2, (table >>> 2) + 2 + capacity);
  }
}
