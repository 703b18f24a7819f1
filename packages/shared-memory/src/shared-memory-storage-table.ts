import {
  assertKey,
  type HashKey,
  hashKey,
  InvalidOptionsError,
  type Key,
  type ScratchSpace,
  type SharedStorageTable,
  type StorageLayout,
  type StorageRecordsSpec,
  TablecacheError,
  type TableOwner,
} from '@tablecache/core';
import { Allocator } from './allocator.js';
import { ValueEncoder } from './codec/value-encoder.js';
import { hashBytes } from './hash-bytes.js';
import { HashIndexStore } from './hash-index-store.js';
import { placeIndexes } from './indexed-layout.js';
import {
  FORMAT,
  HEADER_BYTES,
  MAGIC,
  MAGIC_VALUE,
  MAX_SLOTS,
  PUBLISH_VERSION,
  SLOT_WORDS,
  SLOTS,
  STAMP,
  VERSION,
} from './memory-layout.js';
import { serveReaders } from './owner/serve-readers.js';
import { HEARTBEAT_SLOT } from './protocol/messages.js';
import type { RangePosition } from './range-index-store.js';
import { RECORD_STAMP_WORD } from './record-layout.js';
import { WriteSections } from './seqlock.js';
import { SharedShapeStore } from './shape-store.js';
import { growableBuffer, SharedMemory } from './shared-memory.js';
import type { SharedStorageHandle } from './shared-storage-handle.js';
import { TableReader } from './table-reader.js';

export interface SharedMemoryStorageTableOptions {
  readonly name?: string;
  /** The most shared memory the table may use (reserved address space, not memory, until used); 1 GiB by default. */
  readonly maxBytes?: number;
  /** The buffer's size to begin with; 1 MiB by default. */
  readonly initialBytes?: number;
}

/** The most bytes the first block of a table, an index or the shape registry takes. */
const EMPTY_TABLE_BYTES = 8 + 8 * 16;
const SHAPES_INITIAL_BYTES = 8 + 4 * 64;
const DEFAULT_MAX_BYTES = 2 ** 30;
const DEFAULT_INITIAL_BYTES = 2 ** 20;
/** The largest buffer refs (32-bit byte offsets) can address. */
const LARGEST_MAX_BYTES = 2 ** 32 - 8;

/** A string or a number other than NaN: the usual keys, valid without the general check. */
function assertKeyOf(value: unknown, where: string): asserts value is Key {
  if (typeof value === 'string' || (typeof value === 'number' && !Number.isNaN(value))) return;
  assertKey(value, where);
}

/** An encoded index key, as an index files it. */
interface EncodedKey {
  readonly key: Uint8Array;
  readonly n: number;
  readonly hash: number;
}

/** A record ready to store: checked keys, and its encoded primary key, scores and body. */
interface Prepared {
  readonly h: HashKey;
  /** The encoded primary key (from 0), the scores, then the record. */
  readonly bytes: Uint8Array;
  readonly keyLength: number;
  readonly keyHash: number;
  /** Per secondary index in order: the encoded key (hash and unique) or the position (range). */
  readonly keys: readonly (EncodedKey | RangePosition)[];
}

/** A buffered delete: the encoded primary key. */
interface Deletion extends EncodedKey {
  readonly deleted: true;
}

/**
 * A StorageTable whose records and indexes live in one growable SharedArrayBuffer, which other
 * threads read through a `SharedStorageView` (send them `handle()`). One thread writes: this
 * table's. Every write runs in a write section of a seqlock, so a reader sees all of a put, a
 * clear, a scratch commit or an `atomically` block, or none of it.
 *
 * Records are encoded (see ValueEncoder: what cannot come back exactly is refused with
 * UnstorableValueError); reads decode, so a record read is a copy, the caller's to keep. Reads
 * of `all` come in hash-table order, not in insertion order as the heap storage gives them.
 */
export class SharedMemoryStorageTable<R> implements SharedStorageTable<R> {
  readonly name: string;
  readonly #layout: StorageLayout<R>;
  readonly #memory: SharedMemory;
  readonly #allocator: Allocator;
  readonly #sections: WriteSections;
  readonly #reader: TableReader<R>;
  readonly #encoder: ValueEncoder;
  readonly #channel = crypto.randomUUID();

  constructor(layout: StorageLayout<R>, options: SharedMemoryStorageTableOptions = {}) {
    const { name, maxBytes, initialBytes } = checkOptions(options);
    this.#layout = layout;
    this.name = name;
    const buffer = growableBuffer(initialBytes, maxBytes);
    const memory = new SharedMemory(buffer);
    this.#memory = memory;
    this.#allocator = new Allocator(memory, maxBytes, name);
    this.#sections = new WriteSections(memory);
    const indexes = placeIndexes(layout, Object.keys(layout.storageIndexes));
    this.#reader = new TableReader(memory, indexes, { allocator: this.#allocator });
    const shapes = new SharedShapeStore(memory, this.#allocator, (write) => this.atomically(write));
    this.#encoder = new ValueEncoder(shapes);
    memory.words[MAGIC] = MAGIC_VALUE;
    this.#allocator.initialize();
    this.#allocator.reserve([SHAPES_INITIAL_BYTES, ...this.#emptyStructures()]);
    shapes.initialize();
    this.#reader.primary.initialize();
    for (const store of this.#reader.stores) store.initialize();
  }

  get size(): number {
    return this.#reader.size;
  }

  get(primaryKey: Key): R | undefined {
    return this.#reader.get(primaryKey);
  }

  getRecords(spec: StorageRecordsSpec<R>): R[] {
    return this.#reader.getRecords(spec);
  }

  put(record: R): boolean {
    const prepared = this.#prepare(record, false);
    const allocator = this.#allocator;
    const recordBytes = this.#reader.keyAt + prepared.bytes.length;
    const growth = this.#reader.primary.growthBytes(1);
    if (growth === 0 && this.#reader.stores.length === 0) allocator.reserveOne(recordBytes);
    else allocator.reserve(this.#blocksFor([prepared], [recordBytes]));
    return this.atomically(() => this.#store(prepared));
  }

  clear(): void {
    this.#allocator.reserve(this.#emptyStructures());
    this.atomically(() => this.#clearAll());
  }

  /** The blocks of an empty primary-key table and empty indexes (what a clear makes). */
  #emptyStructures(): number[] {
    return [EMPTY_TABLE_BYTES, ...this.#reader.stores.map(() => EMPTY_TABLE_BYTES)];
  }

  scratch(): ScratchSpace<R> {
    return new SharedScratchSpace(this.name, {
      prepare: (record) => this.#prepare(record, true),
      encodeKey: (primaryKey) => {
        const { bytes, n, hash } = this.#reader.encodeKey(primaryKey);
        return { key: bytes.slice(0, n), n, hash, deleted: true as const };
      },
      commit: (cleared, writes) => this.#commit(cleared, writes),
    });
  }

  /** Runs `write` so that readers on other threads see all of its effects or none (an inner section joins the outer one). */
  atomically<T>(write: () => T): T {
    return this.#sections.run(write);
  }

  /**
   * Stores `value` under a slot name for readers to read at the same commit as the records
   * (inside the current atomic section, or as one of its own). At most 16 slots.
   */
  publish(slot: string, value: unknown): void {
    if (typeof slot !== 'string') throw new InvalidOptionsError(`a slot name must be a string; got ${typeof slot}`);
    const reader = this.#reader;
    const words = this.#memory.words;
    let i = reader.slotOf(slot);
    let name: Uint8Array | undefined;
    if (i < 0) {
      i = 0;
      while (i < MAX_SLOTS && words[SLOTS + SLOT_WORDS * i] !== 0) i++;
      if (i === MAX_SLOTS) throw new TablecacheError(`table '${this.name}' has no room for slot '${slot}': it holds at most ${MAX_SLOTS}`);
      name = new ValueEncoder().encode(slot).slice();
    }
    const encoded = this.#encoder.encode(value);
    const allocator = this.#allocator;
    try {
      allocator.reserve(name === undefined ? [8 + encoded.length] : [8 + encoded.length, 8 + name.length]);
    } catch (error) {
      // What the slot said no longer holds, and its news does not fit: readers must not go on
      // reading the old value as current, so it is withdrawn (which needs no memory).
      if (name === undefined) this.#withdraw(i);
      throw error;
    }
    this.atomically(() => {
      const block = allocator.allocate(8 + encoded.length);
      this.#memory.bytes.set(encoded, block + 8);
      const at = SLOTS + SLOT_WORDS * i;
      if (name !== undefined) {
        const nameBlock = allocator.allocate(8 + name.length);
        this.#memory.bytes.set(name, nameBlock + 8);
        words[at] = nameBlock;
      }
      const old = words[at + 1] as number;
      words[at + 1] = block;
      const version = (words[PUBLISH_VERSION] as number) + 1;
      words[PUBLISH_VERSION] = version;
      words[at + 2] = version;
      if (old !== 0) allocator.free(old);
    });
  }

  /** Empties slot `i` under a new version: readers find nothing published there. */
  #withdraw(i: number): void {
    const words = this.#memory.words;
    this.atomically(() => {
      const at = SLOTS + SLOT_WORDS * i;
      const old = words[at + 1] as number;
      words[at + 1] = 0;
      const version = (words[PUBLISH_VERSION] as number) + 1;
      words[PUBLISH_VERSION] = version;
      words[at + 2] = version;
      if (old !== 0) this.#allocator.free(old);
    });
  }

  /**
   * Answers readers on other threads (`openSharedTable`) through the table that owns this
   * storage, and beats the heartbeat they watch; returns how to stop. A `CachedTable` calls it.
   */
  serve(owner: TableOwner<R>): () => void {
    let beats = 0;
    const beat = () => {
      try {
        this.publish(HEARTBEAT_SLOT, ++beats);
      } catch {
        // Memory is full. The owner is alive all the same, and the withdrawal moved the beat's version.
      }
    };
    beat();
    return serveReaders(this.#channel, owner, beat);
  }

  /** Shared memory in use, reserved (the buffer's current length) and at most. */
  get memory(): { readonly usedBytes: number; readonly reservedBytes: number; readonly maxBytes: number } {
    return { usedBytes: this.#allocator.usedBytes, reservedBytes: this.#memory.buffer.byteLength, maxBytes: this.#allocator.maxBytes };
  }

  /** The bytes in use: what a table's memory gauge reports. */
  memoryBytes(): number {
    return this.#allocator.usedBytes;
  }

  /** What a worker needs to open a view (structured-cloneable; the buffer is shared). */
  handle(): SharedStorageHandle {
    return {
      format: FORMAT,
      version: VERSION,
      name: this.name,
      channel: this.#channel,
      buffer: this.#memory.buffer,
      indexes: this.#reader.indexes.map(({ name, kind }) => ({ name, kind })),
    };
  }

  /**
   * Checks every key of a record and encodes it, before anything changes: a bad key or an
   * unstorable value throws here. `own` copies the bytes out of the reused encoder buffer.
   */
  #prepare(record: R, own: boolean): Prepared {
    const primaryKey = this.#layout.primaryKey(record);
    assertKeyOf(primaryKey, `primary key of a record put into '${this.name}'`);
    const indexes = this.#reader.indexes;
    const keys: (EncodedKey | RangePosition)[] = [];
    const scores: Key[] = [];
    for (const index of indexes) {
      const key = index.definition.key(record);
      if (index.kind === 'range') {
        assertKeyOf(key, `score of index '${index.name}' of a record`);
        scores.push(key);
        keys.push({ score: key, primaryKey: hashKey(primaryKey) });
      } else {
        assertKeyOf(key, `key of index '${index.name}' of a record`);
        const encoded = this.#reader.encodeKey(key);
        keys.push({ key: encoded.bytes.slice(0, encoded.n), n: encoded.n, hash: encoded.hash });
      }
    }
    const encoder = this.#encoder;
    encoder.position = 0;
    encoder.write(primaryKey, true, '');
    const keyLength = encoder.position;
    for (const score of scores) encoder.write(score, true, '');
    encoder.write(record, false, '');
    const bytes = own ? encoder.bytes.slice(0, encoder.position) : encoder.bytes.subarray(0, encoder.position);
    return { h: hashKey(primaryKey), bytes, keyLength, keyHash: hashBytes(bytes, 0, keyLength), keys };
  }

  /** The sizes of every block storing these records could need (records given), for a reservation. */
  #blocksFor(puts: readonly Prepared[], records: number[]): number[] {
    const reader = this.#reader;
    const growth = reader.primary.growthBytes(puts.length);
    if (growth !== 0) records.push(growth);
    reader.stores.forEach((store, i) => {
      if (store instanceof HashIndexStore) records.push(...store.growthBlocks(puts.map((put) => put.keys[i] as EncodedKey)));
      else records.push(...store.growthBlocks(puts.length));
    });
    return records;
  }

  /** Stores a record (in a write section, with its space reserved); returns whether one was held under its primary key. */
  #store(prepared: Prepared): boolean {
    const reader = this.#reader;
    const memory = this.#memory;
    const words = memory.words;
    const keyAt = reader.keyAt;
    const block = this.#allocator.allocate(keyAt + prepared.bytes.length);
    const w = block >>> 2;
    const stamp = ((words[STAMP] as number) + 1) >>> 0;
    words[STAMP] = stamp;
    words[w + RECORD_STAMP_WORD] = stamp;
    if (keyAt > 8) words.fill(0, w + 2, w + (keyAt >>> 2));
    memory.bytes.set(prepared.bytes, block + keyAt);
    const old = reader.primary.set(prepared.bytes, prepared.keyLength, prepared.keyHash, block);
    const stores = reader.stores;
    if (stores.length > 0) {
      if (old !== 0) this.#unindex(old);
      for (let i = 0; i < stores.length; i++) {
        const store = stores[i];
        const key = prepared.keys[i];
        if (store instanceof HashIndexStore) {
          const { key: bytes, n, hash } = key as EncodedKey;
          store.add(block, bytes, n, hash);
        } else store?.add(block, key as RangePosition);
      }
    }
    if (old !== 0) this.#allocator.free(old);
    return old !== 0;
  }

  /** Takes record `ref` out of every secondary index (its block still intact). */
  #unindex(ref: number): void {
    for (const store of this.#reader.stores) {
      if (store instanceof HashIndexStore) store.remove(ref);
      else store.remove(ref, store.positionOf(ref));
    }
  }

  #delete({ key, n, hash }: EncodedKey): void {
    const ref = this.#reader.primary.delete(key, n, hash);
    if (ref === 0) return;
    this.#unindex(ref);
    this.#allocator.free(ref);
  }

  #clearAll(): void {
    const reader = this.#reader;
    const allocator = this.#allocator;
    reader.primary.forEach((ref) => {
      allocator.free(ref);
    });
    reader.primary.clear();
    for (const store of reader.stores) store.clear();
  }

  /** Reserves what a scratch space's writes need, then applies them in one write section. */
  #commit(cleared: boolean, writes: readonly (Prepared | Deletion)[]): void {
    const puts: Prepared[] = [];
    const sizes: number[] = [];
    for (const write of writes) {
      if ('deleted' in write) continue;
      puts.push(write);
      sizes.push(this.#reader.keyAt + write.bytes.length);
    }
    if (cleared) sizes.push(...this.#emptyStructures());
    this.#allocator.reserve(this.#blocksFor(puts, sizes));
    this.atomically(() => {
      if (cleared) this.#clearAll();
      for (const write of writes) {
        if ('deleted' in write) this.#delete(write);
        else this.#store(write);
      }
    });
  }
}

function checkOptions(options: SharedMemoryStorageTableOptions): { name: string; maxBytes: number; initialBytes: number } {
  for (const option of Object.keys(options)) {
    if (option !== 'name' && option !== 'maxBytes' && option !== 'initialBytes') {
      throw new InvalidOptionsError(`SharedMemoryStorageTable has no option '${option}' (its options are name, maxBytes and initialBytes)`);
    }
  }
  if (options.name !== undefined && typeof options.name !== 'string')
    throw new InvalidOptionsError(`name must be a string; got ${typeof options.name}`);
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  if (!Number.isInteger(maxBytes) || maxBytes < HEADER_BYTES * 2 || maxBytes > LARGEST_MAX_BYTES) {
    throw new InvalidOptionsError(`maxBytes must be an integer from ${HEADER_BYTES * 2} to ${LARGEST_MAX_BYTES}; got ${String(maxBytes)}`);
  }
  const initialBytes = options.initialBytes ?? Math.min(DEFAULT_INITIAL_BYTES, maxBytes);
  if (!Number.isInteger(initialBytes) || initialBytes < HEADER_BYTES * 2 || initialBytes > maxBytes) {
    throw new InvalidOptionsError(
      `initialBytes must be an integer from ${HEADER_BYTES * 2} to maxBytes (${maxBytes}); got ${String(initialBytes)}`,
    );
  }
  return { name: options.name ?? 'table', maxBytes: maxBytes - (maxBytes % 8), initialBytes: initialBytes - (initialBytes % 8) };
}

/** What a scratch space needs of its table. */
interface ScratchTarget<R> {
  prepare(record: R): Prepared;
  encodeKey(primaryKey: Key): Deletion;
  commit(cleared: boolean, writes: readonly (Prepared | Deletion)[]): void;
}

/**
 * Keeps the last write per primary key (a put moves to the end, as in the heap storage), with
 * every key checked and every record encoded; `commit` reserves the memory all of them need
 * and then applies them in one write section, so it cannot fail halfway.
 */
class SharedScratchSpace<R> implements ScratchSpace<R> {
  readonly #table: string;
  readonly #apply: ScratchTarget<R>;
  readonly #writes = new Map<HashKey, Prepared | Deletion>();
  #cleared = false;
  #committed = false;

  constructor(table: string, apply: ScratchTarget<R>) {
    this.#table = table;
    this.#apply = apply;
  }

  put(record: R): boolean {
    this.#assertOpen();
    const prepared = this.#apply.prepare(record);
    const previous = this.#writes.get(prepared.h);
    if (previous !== undefined) this.#writes.delete(prepared.h);
    this.#writes.set(prepared.h, prepared);
    return previous !== undefined && !('deleted' in previous);
  }

  delete(primaryKey: Key): void {
    this.#assertOpen();
    this.#writes.set(hashKey(primaryKey), this.#apply.encodeKey(primaryKey));
  }

  clear(): void {
    this.#assertOpen();
    this.#cleared = true;
    this.#writes.clear();
  }

  commit(): void {
    this.#assertOpen();
    this.#apply.commit(this.#cleared, [...this.#writes.values()]);
    this.#committed = true;
  }

  #assertOpen(): void {
    if (this.#committed) throw new TablecacheError(`a scratch space of '${this.#table}' was already committed`);
  }
}
