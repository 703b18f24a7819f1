import { MalformedSpecError, UnknownIndexError } from '../errors/errors.js';
import { assertKey, hashKey, type HashKey, type Key } from '../key/key.js';
import type { Query } from '../query/query.js';
import {
  PRIMARY_KEY_INDEX,
  type StorageIndexDefinition,
  type StorageRecordsSpec,
} from '../storage/storage-table.js';
import type { Adjustment, Indexes, PrimaryKeysSpec } from './indexes.js';

/** Every record of the table. */
export interface AllRecordsSpec {
  readonly index: 'primaryKey';
  readonly all: true;
}

export type PrimaryKeySpec<K extends Key = Key> = AllRecordsSpec | PrimaryKeysSpec<K>;

export interface PrimaryKeyIndexesOptions<R, K extends Key> {
  /** The query for every record; the row type of the cache comes from it. */
  readonly queryAll: Query<R>;
  readonly primaryKey: (record: R) => K;
  /** The query for the records with these primary keys. */
  readonly querySome: (keys: readonly K[]) => Query<R>;
}

/** Coverage: nothing, everything, or the records with these primary keys. */
type Loaded<K> =
  | { readonly kind: 'none' }
  | { readonly kind: 'all' }
  | { readonly kind: 'keys'; readonly keys: ReadonlyMap<HashKey, K> };

/**
 * A table read by primary key only. Load `{ all: true }` and every key is answered from memory:
 * a key that is not stored is known not to exist. Load `{ keys }` to cache a fixed set.
 */
export class PrimaryKeyIndexes<R, K extends Key = Key> implements Indexes<R, PrimaryKeySpec<K>, K> {
  readonly indexNames = [PRIMARY_KEY_INDEX] as const;
  readonly storageIndexes: Readonly<Record<string, StorageIndexDefinition<R>>> = {};
  readonly #options: PrimaryKeyIndexesOptions<R, K>;
  #loaded: Loaded<K> = { kind: 'none' };

  constructor(options: PrimaryKeyIndexesOptions<R, K>) {
    this.#options = options;
  }

  primaryKey(record: R): K {
    const key = this.#options.primaryKey(record);
    assertKey(key, 'primaryKey() of a record');
    return key;
  }

  validateSpec(spec: unknown): asserts spec is PrimaryKeySpec<K> {
    if (typeof spec !== 'object' || spec === null) {
      throw new MalformedSpecError(spec, 'a spec is an object like { index: "primaryKey", keys: [...] }');
    }
    const { index } = spec as { index?: unknown };
    if (index !== PRIMARY_KEY_INDEX) throw new UnknownIndexError(index, this.indexNames);
    const fields = Object.keys(spec).filter((f) => f !== 'index');
    if ('all' in spec) {
      if (spec.all !== true || fields.length !== 1) {
        throw new MalformedSpecError(spec, 'the spec for every record is exactly { index: "primaryKey", all: true }');
      }
      return;
    }
    if (!('keys' in spec) || !Array.isArray(spec.keys) || fields.length !== 1) {
      throw new MalformedSpecError(spec, 'a primaryKey spec has either all: true or keys: an array of keys, and nothing else');
    }
    for (const [i, key] of (spec.keys as unknown[]).entries()) assertKey(key, `keys[${i}] of the spec`);
  }

  covers(spec: PrimaryKeySpec<K>): boolean {
    const loaded = this.#loaded;
    if (loaded.kind === 'all') return true;
    if ('all' in spec) return false;
    // No keys: nothing to read, and no database query (`IN ()` is not even valid SQL).
    if (spec.keys.length === 0) return true;
    if (loaded.kind === 'none') return false;
    return spec.keys.every((key) => loaded.keys.has(hashKey(key)));
  }

  coversRecord(record: R): boolean {
    const loaded = this.#loaded;
    if (loaded.kind !== 'keys') return loaded.kind === 'all';
    return loaded.keys.has(hashKey(this.primaryKey(record)));
  }

  storageRecordsSpec(spec: PrimaryKeySpec<K>): StorageRecordsSpec<R> {
    return 'all' in spec ? { kind: 'all' } : { kind: 'keys', index: PRIMARY_KEY_INDEX, keys: spec.keys };
  }

  dbQuery(spec: PrimaryKeySpec<K>): Query<R> {
    return 'all' in spec ? this.#options.queryAll : this.#options.querySome(spec.keys);
  }

  loadedSpecs(): readonly PrimaryKeySpec<K>[] {
    const loaded = this.#loaded;
    if (loaded.kind === 'all') return [{ index: PRIMARY_KEY_INDEX, all: true }];
    if (loaded.kind === 'keys') return [{ index: PRIMARY_KEY_INDEX, keys: [...loaded.keys.values()] }];
    return [];
  }

  prepareAdjustment(spec: PrimaryKeySpec<K>): Adjustment<R> {
    if ('all' in spec) {
      // Everything is reloaded, so nothing needs to expire: every stored key is replaced or,
      // when it no longer exists, dropped by the table's full replacement.
      return {
        expire: { kind: 'all' },
        load: [this.#options.queryAll],
        commit: () => {
          this.#loaded = { kind: 'all' };
        },
      };
    }
    const target = new Map<HashKey, K>(spec.keys.map((key) => [hashKey(key), key]));
    const loaded = this.#loaded;
    const entering = loaded.kind === 'keys' ? [...target].filter(([h]) => !loaded.keys.has(h)).map(([, k]) => k) : loaded.kind === 'none' ? [...target.values()] : [];
    return {
      ...(loaded.kind !== 'none' && {
        expire: {
          kind: 'all',
          filter: (record: R) => !target.has(hashKey(this.primaryKey(record))),
        },
      }),
      load: entering.length > 0 ? [this.#options.querySome(entering)] : [],
      commit: () => {
        this.#loaded = { kind: 'keys', keys: target };
      },
    };
  }
}
