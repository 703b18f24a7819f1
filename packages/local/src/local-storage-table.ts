import {
  assertKey,
  type HashKey,
  hashKey,
  InvalidOptionsError,
  type Key,
  PRIMARY_KEY_INDEX,
  type ScratchSpace,
  type StorageIndexDefinition,
  type StorageLayout,
  type StorageRecordsSpec,
  type StorageTable,
  TablecacheError,
  UnknownIndexError,
} from '@tablecache/core';
import { HashIndex } from './hash-index.js';
import { RangeIndex } from './range-index.js';

export interface LocalStorageTableOptions {
  readonly name?: string;
}

type SecondaryIndex<R> = HashIndex<R> | RangeIndex<R>;

/**
 * Storage in the process's own heap: a `Map` from primary key to record, and per secondary index
 * a `HashIndex` or `RangeIndex` of primary keys. Records are stored as given, never copied.
 */
export class LocalStorageTable<R> implements StorageTable<R> {
  readonly name: string;
  readonly #layout: StorageLayout<R>;
  readonly #records = new Map<HashKey, R>();
  readonly #indexes: Map<string, SecondaryIndex<R>>;
  /** The same indexes in a list, for the write path (no iterator per record). */
  #indexList: readonly SecondaryIndex<R>[];

  constructor(layout: StorageLayout<R>, options: LocalStorageTableOptions = {}) {
    for (const option of Object.keys(options)) {
      // rangeStructure chose between structures that sorted blocks have replaced.
      if (option !== 'name') throw new InvalidOptionsError(`LocalStorageTable has no option '${option}' (its only option is name)`);
    }
    if (options.name !== undefined && typeof options.name !== 'string')
      throw new InvalidOptionsError(`name must be a string; got ${typeof options.name}`);
    this.#layout = layout;
    this.name = options.name ?? 'table';
    this.#indexes = new Map(
      Object.entries(layout.storageIndexes).map(([name, definition]: [string, StorageIndexDefinition<R>]): [string, SecondaryIndex<R>] => [
        name,
        secondaryIndex(name, definition),
      ]),
    );
    this.#indexList = [...this.#indexes.values()];
  }

  addIndex(name: string, definition: StorageIndexDefinition<R>): void {
    if (name === PRIMARY_KEY_INDEX || this.#indexes.has(name))
      throw new InvalidOptionsError(`'${this.name}' already has an index named '${name}'`);
    const index = secondaryIndex(name, definition);
    // Every key is computed (and checked) before the index is filled: a bad one changes nothing.
    const entries = [...this.#records].map(([h, record]) => [h, record, index.keyOf(record)] as const);
    for (const [h, record, key] of entries) {
      if (index.kind === 'range') index.add(key as Key, h, record);
      else index.add(key as HashKey, h);
    }
    this.#indexes.set(name, index);
    this.#indexList = [...this.#indexes.values()];
  }

  get size(): number {
    return this.#records.size;
  }

  get(primaryKey: Key): R | undefined {
    return this.#records.get(hashKey(primaryKey));
  }

  getRecords(spec: StorageRecordsSpec<R>): R[] {
    const filter = spec.filter;
    if (spec.kind === 'all') {
      const all = [...this.#records.values()];
      return filter === undefined ? all : all.filter(filter);
    }
    if (spec.index === PRIMARY_KEY_INDEX) {
      if (spec.kind === 'range') throw new TablecacheError('the primary-key index is read by keys, not intervals');
      if (spec.keys.length === 1) {
        // The hot path, one key: no set to dedupe with.
        const record = this.#records.get(hashKey(spec.keys[0] as Key));
        return record !== undefined && (filter === undefined || filter(record)) ? [record] : [];
      }
      const records: R[] = [];
      const seen = new Set<HashKey>();
      for (const key of spec.keys) {
        const h = hashKey(key);
        if (seen.has(h)) continue;
        seen.add(h);
        const record = this.#records.get(h);
        if (record !== undefined && (filter === undefined || filter(record))) records.push(record);
      }
      return records;
    }
    const index = this.#indexes.get(spec.index);
    if (index === undefined) throw new UnknownIndexError(spec.index, [PRIMARY_KEY_INDEX, ...this.#indexes.keys()]);
    const records: R[] = [];
    if (spec.kind === 'range' || index.kind === 'range') {
      if (spec.kind !== 'range' || index.kind !== 'range') {
        throw new TablecacheError(
          `index '${spec.index}' is ${index.kind === 'range' ? 'a range index: read it by intervals' : 'not a range index: read it by keys'}`,
        );
      }
      const found = index.records(spec.intervals);
      return filter === undefined ? found : found.filter(filter);
    }
    const seen = new Set<HashKey>();
    for (const key of spec.keys) {
      const h = hashKey(key);
      if (seen.has(h)) continue;
      seen.add(h);
      for (const primaryKey of index.primaryKeys(h)) {
        const record = this.#records.get(primaryKey) as R;
        if (filter === undefined || filter(record)) records.push(record);
      }
    }
    return records;
  }

  put(record: R): boolean {
    return this.#store(this.#primaryHash(record), record, this.#keysOf(record));
  }

  clear(): void {
    this.#records.clear();
    for (const index of this.#indexes.values()) index.clear();
  }

  scratch(): ScratchSpace<R> {
    return new LocalScratchSpace(this, (record) => this.#prepare(record), {
      put: ({ h, record, keys }) => this.#store(h, record, keys),
      delete: (h) => this.#deleteHashed(h),
    });
  }

  #primaryHash(record: R): HashKey {
    const key = this.#layout.primaryKey(record);
    assertKey(key, `primary key of a record put into '${this.name}'`);
    return hashKey(key);
  }

  /**
   * Every key of a record, computed and checked before anything changes: a bad key throws here,
   * so a write (and a scratch space's commit) that gets past this cannot fail halfway.
   */
  #prepare(record: R): Prepared<R> {
    return { h: this.#primaryHash(record), record, keys: this.#keysOf(record) };
  }

  /** The record's key in each secondary index, in index order (checked: a bad key throws). */
  #keysOf(record: R): Prepared<R>['keys'] {
    const list = this.#indexList;
    return list.length === 0 ? NO_KEYS : list.map((index) => index.keyOf(record));
  }

  /** Stores a record; returns whether one was held under its primary key. */
  #store(h: HashKey, record: R, keys: Prepared<R>['keys']): boolean {
    const list = this.#indexList;
    if (list.length === 0) {
      // The size tells a replacement without a second lookup.
      const size = this.#records.size;
      this.#records.set(h, record);
      return this.#records.size === size;
    }
    const previous = this.#records.get(h);
    if (previous !== undefined) for (const index of list) index.remove(previous, h);
    this.#records.set(h, record);
    let i = 0;
    for (const index of list) {
      const key = keys[i++];
      if (index.kind === 'range') index.add(key as Key, h, record);
      else index.add(key as HashKey, h);
    }
    return previous !== undefined;
  }

  #deleteHashed(h: HashKey): void {
    const previous = this.#records.get(h);
    if (previous === undefined) return;
    for (const index of this.#indexList) index.remove(previous, h);
    this.#records.delete(h);
  }
}

function secondaryIndex<R>(name: string, definition: StorageIndexDefinition<R>): SecondaryIndex<R> {
  return definition.kind === 'range' ? new RangeIndex(name, definition) : new HashIndex(name, definition);
}

const DELETED = Symbol('deleted');
const NO_KEYS: readonly never[] = [];

/** A record with its primary hash key and its key in each secondary index, in index order. */
interface Prepared<R> {
  readonly h: HashKey;
  readonly record: R;
  readonly keys: readonly (HashKey | Key)[];
}

interface Apply<R> {
  put(prepared: Prepared<R>): unknown;
  delete(h: HashKey): void;
}

/**
 * Keeps only the last write per primary key, in a `Map`, with every key already checked;
 * `commit` replays them synchronously and cannot fail, so no reader on this thread can see part
 * of a batch.
 */
class LocalScratchSpace<R> implements ScratchSpace<R> {
  readonly #table: StorageTable<R>;
  readonly #prepare: (record: R) => Prepared<R>;
  readonly #apply: Apply<R>;
  readonly #writes = new Map<HashKey, Prepared<R> | typeof DELETED>();
  #cleared = false;
  #committed = false;

  constructor(table: StorageTable<R>, prepare: (record: R) => Prepared<R>, apply: Apply<R>) {
    this.#table = table;
    this.#prepare = prepare;
    this.#apply = apply;
  }

  put(record: R): boolean {
    this.#assertOpen();
    const prepared = this.#prepare(record); // throws for a bad key, before anything is buffered
    const previous = this.#writes.get(prepared.h);
    if (previous !== undefined) this.#writes.delete(prepared.h); // a later write moves to the end: storage order follows write order
    this.#writes.set(prepared.h, prepared);
    return previous !== undefined && previous !== DELETED;
  }

  delete(primaryKey: Key): void {
    this.#assertOpen();
    this.#writes.set(hashKey(primaryKey), DELETED);
  }

  clear(): void {
    this.#assertOpen();
    this.#cleared = true;
    this.#writes.clear();
  }

  commit(): void {
    this.#assertOpen();
    this.#committed = true;
    if (this.#cleared) this.#table.clear();
    for (const [h, write] of this.#writes) {
      if (write === DELETED) this.#apply.delete(h);
      else this.#apply.put(write);
    }
  }

  #assertOpen(): void {
    if (this.#committed) throw new TablecacheError(`a scratch space of '${this.#table.name}' was already committed`);
  }
}
