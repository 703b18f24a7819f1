import {
  type HashKey,
  hashKey,
  type Interval,
  type Key,
  mergeIntervals,
  PRIMARY_KEY_INDEX,
  type StorageRecordsSpec,
  TablecacheError,
  UnknownIndexError,
} from '@tablecache/core';
import type { Allocator } from './allocator.js';
import { SharedShapeCatalog } from './codec/shape-catalog.js';
import { ValueDecoder } from './codec/value-decoder.js';
import { ValueEncoder } from './codec/value-encoder.js';
import { hashBytes } from './hash-bytes.js';
import { HashIndexStore } from './hash-index-store.js';
import type { PlacedIndex } from './indexed-layout.js';
import { MAX_SLOTS, PUBLISH_VERSION, SLOT_WORDS, SLOTS } from './memory-layout.js';
import { PrimaryKeyTable } from './primary-key-table.js';
import { RangeIndexStore } from './range-index-store.js';
import { keysOffset, RECORD_STAMP_WORD } from './record-layout.js';
import type { SharedMemory } from './shared-memory.js';

export type IndexStore = HashIndexStore | RangeIndexStore;

interface CachedRecord {
  readonly stamp: number;
  readonly record: unknown;
}

/**
 * Reads a table's records, indexes and published values from its buffer: the one reading code
 * for the owner (through its table) and for every view. It assumes nothing about the memory it
 * reads — a view may read while the owner writes — so every offset is checked and every loop
 * bounded; what a torn read raises, the view's seqlock loop turns into a retry.
 *
 * Given an allocator (the owner's), its stores can also write.
 */
export class TableReader<R> {
  readonly memory: SharedMemory;
  readonly shapes: SharedShapeCatalog;
  readonly decoder: ValueDecoder;
  readonly primary: PrimaryKeyTable;
  readonly indexes: readonly PlacedIndex<R>[];
  readonly stores: readonly IndexStore[];
  readonly #byName: ReadonlyMap<string, number>;
  readonly keyAt: number;
  readonly #rangeScores: number;
  readonly #keyEncoder = new ValueEncoder();
  /** Decoded records by ref, when the view keeps them; new entries wait in #staged until a read proves whole. */
  readonly #cache: Map<number, CachedRecord> | undefined;
  readonly #staged: [number, CachedRecord][] = [];
  readonly #published = new Map<string, { readonly version: number; readonly value: unknown }>();
  readonly #stagedPublished: [string, { readonly version: number; readonly value: unknown }][] = [];

  constructor(memory: SharedMemory, indexes: readonly PlacedIndex<R>[], options: { allocator?: Allocator; decodedCache?: boolean } = {}) {
    this.memory = memory;
    this.shapes = new SharedShapeCatalog(memory);
    this.decoder = new ValueDecoder(memory, this.shapes);
    this.indexes = indexes;
    const hashIndexes = indexes.filter((index) => index.kind !== 'range').length;
    this.#rangeScores = indexes.length - hashIndexes;
    this.keyAt = keysOffset(hashIndexes);
    this.primary = new PrimaryKeyTable(memory, this.decoder, this.keyAt, options.allocator);
    this.stores = indexes.map((index) =>
      index.kind === 'range'
        ? new RangeIndexStore(memory, this.decoder, index.position, this.keyAt, index.kindPosition, options.allocator)
        : new HashIndexStore(memory, index.position, index.kindPosition, index.kind === 'unique', options.allocator),
    );
    this.#byName = new Map(indexes.map((index) => [index.name, index.position]));
    this.#cache = options.decodedCache === true ? new Map() : undefined;
  }

  get size(): number {
    return this.primary.size;
  }

  /** The encoded form of a key (in a reused buffer) and its hash. */
  encodeKey(key: Key): { readonly bytes: Uint8Array; readonly n: number; readonly hash: number } {
    const bytes = this.#keyEncoder.encode(key, true);
    return { bytes: this.#keyEncoder.bytes, n: bytes.length, hash: hashBytes(bytes, 0, bytes.length) };
  }

  get(primaryKey: Key): R | undefined {
    const { bytes, n, hash } = this.encodeKey(primaryKey);
    const ref = this.primary.find(bytes, n, hash);
    return ref === 0 ? undefined : this.record(ref);
  }

  /** The record stored at `ref`, decoded (or from the cache, if the block still holds the same write). */
  record(ref: number): R {
    const memory = this.memory;
    const size = memory.word(memory.check(ref, 8) >>> 2);
    memory.check(ref, size);
    const cache = this.#cache;
    let stamp = 0;
    if (cache !== undefined) {
      stamp = memory.words[(ref >>> 2) + RECORD_STAMP_WORD] as number;
      const cached = cache.get(ref);
      if (cached !== undefined && cached.stamp === stamp) return cached.record as R;
    }
    const end = ref + size;
    const decoder = this.decoder;
    let at = decoder.skip(ref + this.keyAt, end);
    for (let i = 0; i < this.#rangeScores; i++) at = decoder.skip(at, end);
    const record = decoder.decode(at, end) as R;
    if (cache !== undefined) this.#staged.push([ref, { stamp, record }]);
    return record;
  }

  getRecords(spec: StorageRecordsSpec<R>): R[] {
    const filter = spec.filter;
    const records: R[] = [];
    const take =
      filter === undefined
        ? (ref: number) => void records.push(this.record(ref))
        : (ref: number) => {
            const record = this.record(ref);
            if (filter(record)) records.push(record);
          };
    if (spec.kind === 'all') {
      this.primary.forEach(take);
      return records;
    }
    if (spec.index === PRIMARY_KEY_INDEX) {
      if (spec.kind === 'range') throw new TablecacheError('the primary-key index is read by keys, not intervals');
      const seen = spec.keys.length === 1 ? undefined : new Set<HashKey>();
      for (const key of spec.keys) {
        if (seen !== undefined) {
          const h = hashKey(key);
          if (seen.has(h)) continue;
          seen.add(h);
        }
        const { bytes, n, hash } = this.encodeKey(key);
        const ref = this.primary.find(bytes, n, hash);
        if (ref !== 0) take(ref);
      }
      return records;
    }
    const position = this.#byName.get(spec.index);
    if (position === undefined) throw new UnknownIndexError(spec.index, [PRIMARY_KEY_INDEX, ...this.#byName.keys()]);
    const store = this.stores[position] as IndexStore;
    if (spec.kind === 'range' || store instanceof RangeIndexStore) {
      if (spec.kind !== 'range' || !(store instanceof RangeIndexStore)) {
        throw new TablecacheError(
          `index '${spec.index}' is ${store instanceof RangeIndexStore ? 'a range index: read it by intervals' : 'not a range index: read it by keys'}`,
        );
      }
      for (const interval of disjoint(spec.intervals)) store.forEachBetween(interval.ge, interval.lt, take);
      return records;
    }
    const seen = new Set<HashKey>();
    for (const key of spec.keys) {
      const h = hashKey(key);
      if (seen.has(h)) continue;
      seen.add(h);
      const { bytes, n, hash } = this.encodeKey(key);
      const node = store.findNode(bytes, n, hash);
      if (node !== 0) store.forEachRecord(node, take);
    }
    return records;
  }

  /** The slot's place among the published slots, or -1. */
  slotOf(slot: string): number {
    const memory = this.memory;
    for (let i = 0; i < MAX_SLOTS; i++) {
      const nameRef = memory.word(SLOTS + SLOT_WORDS * i);
      if (nameRef === 0) return -1;
      const size = memory.word(memory.check(nameRef, 8) >>> 2);
      if (this.decoder.decode(nameRef + 8, memory.check(nameRef, size) + size) === slot) return i;
    }
    return -1;
  }

  publishedVersion(slot: string): number {
    const i = this.slotOf(slot);
    return i < 0 ? 0 : this.memory.word(SLOTS + SLOT_WORDS * i + 2);
  }

  published(slot: string): unknown {
    const i = this.slotOf(slot);
    if (i < 0) return undefined;
    const memory = this.memory;
    const version = memory.word(SLOTS + SLOT_WORDS * i + 2);
    const cached = this.#published.get(slot);
    if (cached !== undefined && cached.version === version) return cached.value;
    const ref = memory.word(SLOTS + SLOT_WORDS * i + 1);
    const size = memory.word(memory.check(ref, 8) >>> 2);
    const value = this.decoder.decode(ref + 8, memory.check(ref, size) + size);
    this.#stagedPublished.push([slot, { version, value }]);
    return value;
  }

  /** The last version given to any published value. */
  get publishVersion(): number {
    return this.memory.word(PUBLISH_VERSION);
  }

  /** What was decoded in the read just finished came from whole memory: keep it. */
  settle(): void {
    this.shapes.settle();
    const cache = this.#cache;
    if (cache !== undefined) for (const [ref, entry] of this.#staged) cache.set(ref, entry);
    this.#staged.length = 0;
    for (const [slot, entry] of this.#stagedPublished) this.#published.set(slot, entry);
    this.#stagedPublished.length = 0;
  }

  /** The read just finished may have seen torn memory: forget what it decoded. */
  rollback(): void {
    this.shapes.rollback();
    this.#staged.length = 0;
    this.#stagedPublished.length = 0;
  }
}

/** The intervals as disjoint ones in order, so that each record comes once. */
function disjoint(intervals: readonly Interval[]): readonly Interval[] {
  if (intervals.length === 1) return (intervals[0] as Interval).isEmpty ? [] : intervals;
  return mergeIntervals(intervals);
}
