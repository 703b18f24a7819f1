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
import { DecodedCache } from './decoded-cache.js';
import { hashBytes } from './hash-bytes.js';
import { HashIndexStore } from './hash-index-store.js';
import type { PlacedIndex } from './indexed-layout.js';
import { MAX_SLOTS, PUBLISH_VERSION, SLOT_WORDS, SLOTS } from './memory-layout.js';
import { PrimaryKeyTable } from './primary-key-table.js';
import { RangeIndexStore } from './range-index-store.js';
import { keysOffset, RECORD_STAMP_WORD } from './record-layout.js';
import type { SharedMemory } from './shared-memory.js';

export type IndexStore = HashIndexStore | RangeIndexStore;

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
  /** The length of the encoded key #find looked up last (a record found by it need not skip its key). */
  #foundKeyLength = 0;
  /** Decoded records, when the view keeps them. */
  readonly #cache: DecodedCache | undefined;
  /**
   * What whole reads learned of the published slots, by place: the name (a slot keeps its place
   * for the buffer's life; a few names are found by comparing faster than by a Map), and the
   * version last decoded and its value (versions start at 1). What a read learns waits in the
   * staged lists until the read proves whole.
   */
  readonly #slotNames: (string | undefined)[] = new Array<string | undefined>(MAX_SLOTS).fill(undefined);
  /** Places below this may have a name in #slotNames. */
  #namedPlaces = 0;
  readonly #publishedVersions: number[] = new Array<number>(MAX_SLOTS).fill(0);
  readonly #publishedValues: unknown[] = new Array<unknown>(MAX_SLOTS).fill(undefined);
  readonly #stagedPlaces: [string, number][] = [];
  readonly #stagedPublished: [number, number, unknown][] = [];

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
    this.#cache = options.decodedCache === true ? new DecodedCache() : undefined;
  }

  get size(): number {
    return this.primary.size;
  }

  /** The encoded form of a key (in a reused buffer) and its hash. */
  encodeKey(key: Key): { readonly bytes: Uint8Array; readonly n: number; readonly hash: number } {
    const encoder = this.#keyEncoder;
    const n = encoder.encodeKey(key);
    return { bytes: encoder.bytes, n, hash: hashBytes(encoder.bytes, 0, n) };
  }

  get(primaryKey: Key): R | undefined {
    const ref = this.#find(primaryKey);
    return ref === 0 ? undefined : this.#record(ref, this.#foundKeyLength);
  }

  /** The ref of the record under `primaryKey`, or 0; sets #foundKeyLength. No object made: the path of every point read. */
  #find(primaryKey: Key): number {
    const encoder = this.#keyEncoder;
    const n = encoder.encodeKey(primaryKey);
    this.#foundKeyLength = n;
    return this.primary.find(encoder.bytes, n, hashBytes(encoder.bytes, 0, n));
  }

  /** The record stored at `ref`, decoded (or from the cache, if the block still holds the same write). */
  record(ref: number): R {
    return this.#record(ref, 0);
  }

  /** As `record`, given the length of the record's encoded primary key when a lookup matched it (0: skip the key). */
  #record(ref: number, keyLength: number): R {
    const memory = this.memory;
    const size = memory.word(memory.check(ref, 8) >>> 2);
    const end = memory.check(ref, size) + size;
    const cache = this.#cache;
    let stamp = 0;
    if (cache !== undefined) {
      stamp = memory.words[(ref >>> 2) + RECORD_STAMP_WORD] as number;
      const cached = cache.get(ref, stamp);
      if (cached !== undefined) return cached as R;
    }
    const decoder = this.decoder;
    // A key length matched at the block is checked by decode like any position: a torn size raises there.
    let at = keyLength === 0 ? decoder.skip(ref + this.keyAt, end) : ref + this.keyAt + keyLength;
    for (let i = 0; i < this.#rangeScores; i++) at = decoder.skip(at, end);
    const record = decoder.decode(at, end) as R;
    cache?.set(ref, stamp, record);
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
        const ref = this.#find(key);
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

  /** As slotOf, from what whole reads learned when they found the slot (a view's reads; the owner publishes by slotOf). */
  #place(slot: string): number {
    const names = this.#slotNames;
    for (let i = 0; i < this.#namedPlaces; i++) if (names[i] === slot) return i;
    const i = this.slotOf(slot);
    if (i >= 0) this.#stagedPlaces.push([slot, i]);
    return i;
  }

  publishedVersion(slot: string): number {
    const i = this.#place(slot);
    return i < 0 ? 0 : this.memory.word(SLOTS + SLOT_WORDS * i + 2);
  }

  published(slot: string): unknown {
    const i = this.#place(slot);
    if (i < 0) return undefined;
    const memory = this.memory;
    const version = memory.word(SLOTS + SLOT_WORDS * i + 2);
    if (this.#publishedVersions[i] === version) return this.#publishedValues[i];
    const ref = memory.word(SLOTS + SLOT_WORDS * i + 1);
    let value: unknown; // a withdrawn slot (ref 0) holds nothing
    if (ref !== 0) {
      const size = memory.word(memory.check(ref, 8) >>> 2);
      value = this.decoder.decode(ref + 8, memory.check(ref, size) + size);
    }
    this.#stagedPublished.push([i, version, value]);
    return value;
  }

  /** The last version given to any published value. */
  get publishVersion(): number {
    return this.memory.word(PUBLISH_VERSION);
  }

  /** What was decoded in the read just finished came from whole memory: keep it. */
  settle(): void {
    this.shapes.settle();
    this.#cache?.settle();
    if (this.#stagedPlaces.length > 0) {
      for (const [slot, i] of this.#stagedPlaces) {
        this.#slotNames[i] = slot;
        this.#namedPlaces = Math.max(this.#namedPlaces, i + 1);
      }
      this.#stagedPlaces.length = 0;
    }
    if (this.#stagedPublished.length > 0) {
      for (const [i, version, value] of this.#stagedPublished) {
        this.#publishedVersions[i] = version;
        this.#publishedValues[i] = value;
      }
      this.#stagedPublished.length = 0;
    }
  }

  /** The read just finished may have seen torn memory: forget what it decoded. */
  rollback(): void {
    this.shapes.rollback();
    this.#cache?.rollback();
    this.#stagedPlaces.length = 0;
    this.#stagedPublished.length = 0;
  }
}

/** The intervals as disjoint ones in order, so that each record comes once. */
function disjoint(intervals: readonly Interval[]): readonly Interval[] {
  if (intervals.length === 1) return (intervals[0] as Interval).isEmpty ? [] : intervals;
  return mergeIntervals(intervals);
}
