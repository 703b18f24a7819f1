import { InvalidOptionsError, TablecacheError, UnknownIndexError } from '../errors/errors.js';
import { mergeIntervals } from '../interval/interval.js';
import { assertKey, compareKeys, type HashKey, hashKey, type Key } from '../key/key.js';
import {
  PRIMARY_KEY_INDEX,
  type ScratchSpace,
  type StorageIndexDefinition,
  type StorageLayout,
  type StorageRecordsSpec,
  type StorageTable,
} from '../storage/storage-table.js';

/**
 * A storage for engine tests that is naive on purpose: records in one `Map`, and every
 * secondary-index read a scan. Being this simple, it is an oracle as much as a storage; real
 * storages (`@tablecache/local`, shared memory) pass the same conformance suite.
 */
export class MapStorageTable<R> implements StorageTable<R> {
  readonly name: string;
  readonly #layout: StorageLayout<R>;
  /** Primary hash key → record; a unique index keeps the record put last under a key. */
  readonly #records = new Map<HashKey, R>();
  readonly #putOrder = new Map<HashKey, number>();
  /** The layout's secondary indexes and those added since. */
  readonly #storageIndexes: Record<string, StorageIndexDefinition<R>>;
  #puts = 0;

  constructor(layout: StorageLayout<R>, options: { readonly name?: string } = {}) {
    this.#layout = layout;
    this.#storageIndexes = { ...layout.storageIndexes };
    this.name = options.name ?? 'table';
  }

  addIndex(name: string, definition: StorageIndexDefinition<R>): void {
    if (name === PRIMARY_KEY_INDEX || Object.hasOwn(this.#storageIndexes, name))
      throw new InvalidOptionsError(`'${this.name}' already has an index named '${name}'`);
    for (const record of this.#records.values()) assertKey(definition.key(record), `key of index '${name}' of a record`);
    this.#storageIndexes[name] = definition;
  }

  get size(): number {
    return this.#records.size;
  }

  get(primaryKey: Key): R | undefined {
    return this.#records.get(hashKey(primaryKey));
  }

  getRecords(spec: StorageRecordsSpec<R>): R[] {
    const keep = spec.filter ?? (() => true);
    if (spec.kind === 'all') return [...this.#records.values()].filter(keep);
    if (spec.index === PRIMARY_KEY_INDEX) {
      if (spec.kind === 'range') throw new TablecacheError('the primary-key index is read by keys, not intervals');
      const wanted = [...new Set(spec.keys.map(hashKey))];
      return wanted.flatMap((h) => this.#records.get(h) ?? []).filter(keep);
    }
    const definition = Object.hasOwn(this.#storageIndexes, spec.index) ? this.#storageIndexes[spec.index] : undefined;
    if (definition === undefined) throw new UnknownIndexError(spec.index, [PRIMARY_KEY_INDEX, ...Object.keys(this.#storageIndexes)]);
    if ((spec.kind === 'range') !== (definition.kind === 'range')) {
      throw new TablecacheError(`index '${spec.index}' is ${definition.kind === 'range' ? 'a range index' : 'not a range index'}`);
    }
    const entries = [...this.#records].map(([h, record]) => ({ h, record, key: definition.key(record) }));
    if (spec.kind === 'range') {
      const intervals = mergeIntervals(spec.intervals);
      return entries
        .filter(({ key }) => intervals.some((interval) => interval.contains(key)))
        .sort((a, b) => compareKeys(a.key, b.key) || compareKeys(this.#layout.primaryKey(a.record), this.#layout.primaryKey(b.record)))
        .map(({ record }) => record)
        .filter(keep);
    }
    return [...new Set(spec.keys.map(hashKey))].flatMap((wanted) => {
      const under = entries.filter(({ key }) => hashKey(key) === wanted);
      if (definition.kind !== 'unique') return under.map(({ record }) => record).filter(keep);
      const last = under.reduce<(typeof under)[number] | undefined>(
        (latest, entry) => (latest === undefined || this.#order(entry.h) > this.#order(latest.h) ? entry : latest),
        undefined,
      );
      return last === undefined ? [] : [last.record].filter(keep);
    });
  }

  put(record: R): boolean {
    this.#check(record);
    const h = hashKey(this.#layout.primaryKey(record));
    const held = this.#records.has(h);
    this.#records.set(h, record);
    this.#putOrder.set(h, this.#puts++);
    return held;
  }

  clear(): void {
    this.#records.clear();
    this.#putOrder.clear();
  }

  scratch(): ScratchSpace<R> {
    // The last write per key wins, as readers would see it after a commit.
    const writes = new Map<HashKey, { readonly record: R } | undefined>();
    let cleared = false;
    let committed = false;
    const open = () => {
      if (committed) throw new TablecacheError(`a scratch space of '${this.name}' was already committed`);
    };
    return {
      put: (record) => {
        open();
        this.#check(record);
        const h = hashKey(this.#layout.primaryKey(record));
        const previous = writes.get(h);
        writes.delete(h);
        writes.set(h, { record });
        return previous !== undefined;
      },
      delete: (primaryKey) => {
        open();
        writes.set(hashKey(primaryKey), undefined);
      },
      clear: () => {
        open();
        cleared = true;
        writes.clear();
      },
      commit: () => {
        open();
        committed = true;
        if (cleared) this.clear();
        for (const [h, write] of writes) {
          if (write !== undefined) this.put(write.record);
          else {
            this.#records.delete(h);
            this.#putOrder.delete(h);
          }
        }
      },
    };
  }

  #order(h: HashKey): number {
    return this.#putOrder.get(h) ?? -1;
  }

  /** Every key of the record is checked before anything is written, so a write cannot fail halfway. */
  #check(record: R): void {
    assertKey(this.#layout.primaryKey(record), `primary key of a record put into '${this.name}'`);
    for (const [name, definition] of Object.entries(this.#storageIndexes))
      assertKey(definition.key(record), `key of index '${name}' of a record`);
  }
}
