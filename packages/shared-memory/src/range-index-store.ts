import { compareKeys, type HashKey, hashKey, type Key } from '@tablecache/core';
import type { Allocator } from './allocator.js';
import type { ValueDecoder } from './codec/value-decoder.js';
import { TornReadError } from './errors.js';
import { INDEX_WORDS, INDEXES } from './memory-layout.js';
import type { SharedMemory } from './shared-memory.js';

/**
 * Entries per block at most; a block splits in halves when full, so blocks hold LOAD to
 * 2 × LOAD entries (less after removals, until a block joins a neighbour). An update moves at
 * most one block's entries, never the whole index.
 */
const BLOCK_CAPACITY = 1024;
const LOAD = BLOCK_CAPACITY / 2;
const BLOCK_BYTES = 8 + 4 * BLOCK_CAPACITY;
const INITIAL_DIRECTORY = 8;

/** An index's words in the header: its directory block, how many blocks it lists, and the directory's capacity. */
const DIRECTORY = 0;
const BLOCKS = 1;
const DIRECTORY_CAPACITY = 2;

/** Orders primary keys as the heap storage does (by their hash keys), for records of equal score. */
function comparePrimaryKeys(a: HashKey, b: HashKey): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A record's place in the order: its score, then its primary key (as a hash key). */
export interface RangePosition {
  readonly score: Key;
  readonly primaryKey: HashKey;
}

/**
 * A range index in shared memory: record refs ordered by (score, primary key) in sorted blocks,
 * listed in order by a directory of (block, count) pairs. Scores are not copied into the
 * index: each record stores its encoded score, which a search decodes (a number costs little).
 */
export class RangeIndexStore {
  readonly #memory: SharedMemory;
  readonly #decoder: ValueDecoder;
  readonly #header: number;
  /** Where a record's primary key starts, and how many scores precede this index's. */
  readonly #keyAt: number;
  readonly #scoresBefore: number;
  readonly #allocator: Allocator | undefined;

  constructor(memory: SharedMemory, decoder: ValueDecoder, position: number, keyAt: number, rangePosition: number, allocator?: Allocator) {
    this.#memory = memory;
    this.#decoder = decoder;
    this.#header = INDEXES + INDEX_WORDS * position;
    this.#keyAt = keyAt;
    this.#scoresBefore = rangePosition;
    this.#allocator = allocator;
  }

  /** The score record `ref` stores for this index. */
  scoreOf(ref: number): Key {
    const memory = this.#memory;
    const size = memory.word(memory.check(ref, 8) >>> 2);
    const end = ref + size;
    memory.check(ref, size);
    const decoder = this.#decoder;
    let at = decoder.skip(ref + this.#keyAt, end);
    for (let i = 0; i < this.#scoresBefore; i++) at = decoder.skip(at, end);
    return decoder.decode(at, end) as Key;
  }

  /** The record's place in the order. */
  positionOf(ref: number): RangePosition {
    const score = this.scoreOf(ref);
    const primaryKey = this.#decoder.decode(ref + this.#keyAt, ref + (this.#memory.words[ref >>> 2] as number)) as Key;
    return { score, primaryKey: hashKey(primaryKey) };
  }

  /** Calls `each` with the refs of records with ge <= score < lt, in order. */
  forEachBetween(ge: Key, lt: Key, each: (ref: number) => void): void {
    const memory = this.#memory;
    const words = memory.words;
    const blocks = memory.word(this.#header + BLOCKS);
    if (blocks === 0) return;
    const directory = memory.word(this.#header + DIRECTORY);
    if (blocks > memory.word(this.#header + DIRECTORY_CAPACITY)) throw new TornReadError('more blocks than the directory holds');
    memory.check(directory, 8 + 8 * blocks);
    const d = (directory >>> 2) + 2;
    const blockAt = (b: number) => memory.check(words[d + 2 * b] as number, BLOCK_BYTES);
    const countOf = (b: number) => {
      const count = words[d + 2 * b + 1] as number;
      if (count === 0 || count > BLOCK_CAPACITY) throw new TornReadError('a block count out of range');
      return count;
    };
    const scoreAt = (b: number, i: number) => this.scoreOf(words[(blockAt(b) >>> 2) + 2 + i] as number);
    // The first block whose last score is not below ge holds the first entry in range.
    let lo = 0;
    let hi = blocks;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(scoreAt(mid, countOf(mid) - 1), ge) < 0) lo = mid + 1;
      else hi = mid;
    }
    if (lo === blocks) return;
    let b = lo;
    let count = countOf(b);
    let low = 0;
    let high = count;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (compareKeys(scoreAt(b, mid), ge) < 0) low = mid + 1;
      else high = mid;
    }
    for (let i = low; b < blocks; b++, i = 0) {
      count = countOf(b);
      const base = (blockAt(b) >>> 2) + 2;
      // A block that ends below lt is taken whole, without decoding its scores.
      if (compareKeys(scoreAt(b, count - 1), lt) < 0) {
        for (; i < count; i++) each(words[base + i] as number);
        continue;
      }
      for (; i < count; i++) {
        const ref = words[base + i] as number;
        if (compareKeys(this.scoreOf(ref), lt) >= 0) return;
        each(ref);
      }
      return;
    }
  }

  // The owner's side.

  initialize(): void {
    const words = this.#memory.words;
    words[this.#header + DIRECTORY] = this.#owner().allocate(8 + 8 * INITIAL_DIRECTORY);
    words[this.#header + DIRECTORY_CAPACITY] = INITIAL_DIRECTORY;
    words[this.#header + BLOCKS] = 0;
  }

  /** Sizes of the blocks adding `added` entries could need at most (splits, a bigger directory). */
  growthBlocks(added: number): number[] {
    if (added === 0) return [];
    const words = this.#memory.words;
    const blocks = words[this.#header + BLOCKS] as number;
    // A block splits once full; after a split each half takes LOAD entries before it splits again.
    const splits = Math.min(added, blocks + Math.ceil(added / LOAD)) + 1;
    const sizes = new Array<number>(splits).fill(BLOCK_BYTES);
    let capacity = words[this.#header + DIRECTORY_CAPACITY] as number;
    while (blocks + splits > capacity) capacity *= 2;
    if (capacity !== words[this.#header + DIRECTORY_CAPACITY]) sizes.push(8 + 8 * capacity);
    return sizes;
  }

  add(ref: number, position: RangePosition): void {
    const words = this.#memory.words;
    const blocks = words[this.#header + BLOCKS] as number;
    let b = 0;
    if (blocks === 0) this.#insertBlock(0, this.#owner().allocate(BLOCK_BYTES), 0);
    else b = Math.min(this.#blockOf(position, blocks), blocks - 1);
    let count = this.#count(b);
    if (count === BLOCK_CAPACITY) {
      this.#split(b);
      if (this.#compareAt(b, this.#count(b) - 1, position) < 0) b++;
      count = this.#count(b);
    }
    const at = this.#lowerBound(b, count, position);
    const base = (this.#block(b) >>> 2) + 2;
    words.copyWithin(base + at + 1, base + at, base + count);
    words[base + at] = ref;
    this.#setCount(b, count + 1);
  }

  remove(ref: number, position: RangePosition): void {
    const words = this.#memory.words;
    const blocks = words[this.#header + BLOCKS] as number;
    const b = this.#blockOf(position, blocks);
    if (b === blocks) return;
    const count = this.#count(b);
    const at = this.#lowerBound(b, count, position);
    const base = (this.#block(b) >>> 2) + 2;
    if (at === count || words[base + at] !== ref) return;
    words.copyWithin(base + at, base + at + 1, base + count);
    this.#setCount(b, count - 1);
    this.#shrunk(b, blocks);
  }

  clear(): void {
    const allocator = this.#owner();
    const words = this.#memory.words;
    const blocks = words[this.#header + BLOCKS] as number;
    for (let b = 0; b < blocks; b++) allocator.free(this.#block(b));
    allocator.free(words[this.#header + DIRECTORY] as number);
    this.initialize();
  }

  #directory(): number {
    return ((this.#memory.words[this.#header + DIRECTORY] as number) >>> 2) + 2;
  }

  #block(b: number): number {
    return this.#memory.words[this.#directory() + 2 * b] as number;
  }

  #count(b: number): number {
    return this.#memory.words[this.#directory() + 2 * b + 1] as number;
  }

  #setCount(b: number, count: number): void {
    this.#memory.words[this.#directory() + 2 * b + 1] = count;
  }

  /** How the entry at place `i` of block `b` compares with `position`. */
  #compareAt(b: number, i: number, position: RangePosition): number {
    const ref = this.#memory.words[(this.#block(b) >>> 2) + 2 + i] as number;
    const score = compareKeys(this.scoreOf(ref), position.score);
    return score !== 0 ? score : comparePrimaryKeys(this.positionOf(ref).primaryKey, position.primaryKey);
  }

  /** The first block whose last entry is not below `position` (`blocks` if none). */
  #blockOf(position: RangePosition, blocks: number): number {
    // Entries usually come in order (a load sorted by score): try the last block first.
    if (blocks > 0 && this.#compareAt(blocks - 1, this.#count(blocks - 1) - 1, position) < 0) return blocks;
    let lo = 0;
    let hi = blocks;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#compareAt(mid, this.#count(mid) - 1, position) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #lowerBound(b: number, count: number, position: RangePosition): number {
    if (count > 0 && this.#compareAt(b, count - 1, position) < 0) return count;
    let lo = 0;
    let hi = count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#compareAt(b, mid, position) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Moves the upper half of full block `b` into a new block after it. */
  #split(b: number): void {
    const words = this.#memory.words;
    const block = this.#block(b);
    const moved = this.#owner().allocate(BLOCK_BYTES);
    const from = (block >>> 2) + 2;
    words.copyWithin((moved >>> 2) + 2, from + LOAD, from + BLOCK_CAPACITY);
    this.#setCount(b, LOAD);
    this.#insertBlock(b + 1, moved, BLOCK_CAPACITY - LOAD);
  }

  /** Lists `block` with `count` entries at place `b` of the directory, growing it when full. */
  #insertBlock(b: number, block: number, count: number): void {
    const words = this.#memory.words;
    const blocks = words[this.#header + BLOCKS] as number;
    const capacity = words[this.#header + DIRECTORY_CAPACITY] as number;
    if (blocks === capacity) {
      const old = words[this.#header + DIRECTORY] as number;
      const directory = this.#owner().allocate(8 + 16 * capacity);
      words.copyWithin((directory >>> 2) + 2, (old >>> 2) + 2, (old >>> 2) + 2 + 2 * blocks);
      words[this.#header + DIRECTORY] = directory;
      words[this.#header + DIRECTORY_CAPACITY] = 2 * capacity;
      this.#owner().free(old);
    }
    const d = this.#directory();
    words.copyWithin(d + 2 * b + 2, d + 2 * b, d + 2 * blocks);
    words[d + 2 * b] = block;
    words[d + 2 * b + 1] = count;
    words[this.#header + BLOCKS] = blocks + 1;
  }

  /** After a removal from block `b`: drops it when empty, or joins it with a neighbour when both fit in half a block. */
  #shrunk(b: number, blocks: number): void {
    const count = this.#count(b);
    if (count === 0) {
      this.#dropBlock(b, blocks);
      return;
    }
    if (count > LOAD / 2) return;
    for (const [into, from] of [
      [b - 1, b],
      [b, b + 1],
    ] as const) {
      if (into < 0 || from >= blocks) continue;
      const intoCount = this.#count(into);
      const fromCount = this.#count(from);
      if (intoCount + fromCount > LOAD) continue;
      const words = this.#memory.words;
      const source = (this.#block(from) >>> 2) + 2;
      words.copyWithin((this.#block(into) >>> 2) + 2 + intoCount, source, source + fromCount);
      this.#setCount(into, intoCount + fromCount);
      this.#dropBlock(from, blocks);
      return;
    }
  }

  #dropBlock(b: number, blocks: number): void {
    const words = this.#memory.words;
    this.#owner().free(this.#block(b));
    const d = this.#directory();
    words.copyWithin(d + 2 * b, d + 2 * b + 2, d + 2 * blocks);
    words[this.#header + BLOCKS] = blocks - 1;
  }

  #owner(): Allocator {
    if (this.#allocator === undefined) throw new Error('a reader does not write');
    return this.#allocator;
  }
}
