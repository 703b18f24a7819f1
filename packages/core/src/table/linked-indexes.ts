import type { DbAccess } from '../db-access/db-access.js';
import { TablecacheError } from '../errors/errors.js';
import type { Adjustment, Indexes, IndexSpec, PrimaryKeysSpec } from '../indexes/indexes.js';
import { type HashKey, hashKey, type Key, type KeyPart } from '../key/key.js';
import type { Query } from '../query/query.js';
import type { StorageIndexDefinition, StorageRecordsSpec } from '../storage/storage-table.js';

/**
 * The records whose link columns (the output columns that hold a source table's key, see
 * `RowPreciseSource.links`) hold one of `keys`: a value per column, in column order, as a change
 * carries them. Internal to a table: users never name these indexes.
 */
export interface LinkSpec {
  readonly index: string;
  readonly keys: readonly (readonly KeyPart[])[];
}

/** A storage index over link columns, with what a `LinkSpec` through it needs. */
interface Link {
  readonly columns: readonly string[];
  readonly source: Query;
}

/** Prefix of the storage indexes a table adds for `tables: 'auto'`; user index names may not start with it. */
export const LINK_INDEX_PREFIX = 'auto:';

/**
 * A table's indexes as its invalidation books and refresh engine see them: the user's, plus the
 * link indexes `tables: 'auto'` adds. A `LinkSpec` is found in storage through its link index
 * and reloaded from the database by the source query restricted to its keys
 * (`DbAccess.linkQuery`); every other spec goes to the user's indexes unchanged.
 */
export class LinkedIndexes<R, S extends IndexSpec, K extends Key> implements Indexes<R, S | LinkSpec, K> {
  readonly #inner: Indexes<R, S, K>;
  readonly #db: DbAccess;
  readonly #links = new Map<string, Link>();
  /** Set once a stored record lacked a link column: its changes cannot be matched (see `assertLinkable`). */
  #missingColumn: string | undefined;

  constructor(inner: Indexes<R, S, K>, db: DbAccess) {
    this.#inner = inner;
    this.#db = db;
  }

  get indexNames(): readonly string[] {
    return this.#inner.indexNames;
  }

  get storageIndexes(): Readonly<Record<string, StorageIndexDefinition<R>>> {
    return this.#inner.storageIndexes;
  }

  hasLink(name: string): boolean {
    return this.#links.has(name);
  }

  /** The storage index definition that files records by their values in `columns` (see `linkKey`). */
  linkIndexDefinition(columns: readonly string[]): StorageIndexDefinition<R> {
    return {
      kind: 'hash',
      key: (record) => {
        const values = columns.map((column) => {
          const value = (record as Record<string, unknown>)[column];
          // Absent, not null: the records are not the query's rows as named (a plugin renamed
          // them?). Remembered, so changes are not matched against an index that cannot hold them.
          if (value === undefined) this.#missingColumn ??= column;
          return value;
        });
        return linkKey(values);
      },
    };
  }

  /** Makes `name`, a storage index over `columns` (now in storage), a link index whose specs reload through `source`. */
  addLink(name: string, columns: readonly string[], source: Query): void {
    this.#links.set(name, { columns, source });
  }

  /** Throws when a stored record lacked a link column: its link index cannot find the records a change touches. */
  assertLinkable(): void {
    if (this.#missingColumn !== undefined) {
      throw new TablecacheError(
        `a cached record has no property '${this.#missingColumn}', an output column of the query that links it to source rows; changes cannot be matched to records`,
      );
    }
  }

  isLink(spec: IndexSpec): spec is LinkSpec {
    return this.#links.has(spec.index);
  }

  primaryKey(record: R): K {
    return this.#inner.primaryKey(record);
  }

  validateSpec(spec: unknown): asserts spec is S | LinkSpec | PrimaryKeysSpec<K> {
    if (typeof spec === 'object' && spec !== null && this.isLink(spec as IndexSpec)) {
      const { keys } = spec as { keys?: unknown };
      if (!Array.isArray(keys) || !keys.every(Array.isArray)) throw new TablecacheError('a link spec holds key tuples');
      return;
    }
    this.#inner.validateSpec(spec);
  }

  /** A link spec names records wherever they are: whatever of them is covered is in storage. */
  covers(spec: S | LinkSpec | PrimaryKeysSpec<K>): boolean {
    return this.isLink(spec) || this.#inner.covers(spec as S | PrimaryKeysSpec<K>);
  }

  coversRecord(record: R): boolean {
    return this.#inner.coversRecord(record);
  }

  storageRecordsSpec(spec: S | LinkSpec | PrimaryKeysSpec<K>): StorageRecordsSpec<R> {
    if (this.isLink(spec)) return { kind: 'keys', index: spec.index, keys: spec.keys.map(linkKey) };
    return this.#inner.storageRecordsSpec(spec as S | PrimaryKeysSpec<K>);
  }

  dbQuery(spec: S | LinkSpec | PrimaryKeysSpec<K>): Query<R> | undefined {
    if (!this.isLink(spec)) return this.#inner.dbQuery(spec as S | PrimaryKeysSpec<K>);
    const link = this.#links.get(spec.index) as Link;
    // The table checked at watch() that the access has linkQuery; undefined would reload everything anyway.
    return this.#db.linkQuery?.(link.source as Query<R>, link.columns, spec.keys);
  }

  /** The keys of each link index in one spec; the user's specs coalesced by the user's indexes. */
  coalesce(specs: readonly (S | LinkSpec)[]): (S | LinkSpec)[] {
    const links = new Map<string, Map<HashKey, readonly KeyPart[]>>();
    const others: S[] = [];
    for (const spec of specs) {
      if (!this.isLink(spec)) {
        others.push(spec as S);
        continue;
      }
      const keys = links.get(spec.index) ?? new Map<HashKey, readonly KeyPart[]>();
      for (const key of spec.keys) keys.set(hashKey(key), key);
      links.set(spec.index, keys);
    }
    return [
      ...(this.#inner.coalesce?.(others) ?? others),
      ...[...links].map(([index, keys]): LinkSpec => ({ index, keys: [...keys.values()] })),
    ];
  }

  loadedSpecs(): readonly S[] {
    return this.#inner.loadedSpecs();
  }

  prepareAdjustment(spec: S): Adjustment<R> {
    return this.#inner.prepareAdjustment(spec);
  }
}

/**
 * The key a record is filed under in a link index, and a change's key is looked up by: each
 * value as text, so the same value reaches the same key even where the record's column and the
 * changed table's key column differ in type (int4 joined to int8, which pg gives as `1` and
 * `'1'`). Values that differ but read alike (`1` and `'1'`) share a key, so a lookup finds a
 * superset of the records, which a refresh reloads correctly. A null (a LEFT JOIN without a
 * match) gets a key no change sends in practice; if one did, it would only widen the lookup.
 */
function linkKey(values: readonly unknown[]): Key {
  const parts = values.map(linkPart);
  return parts.length === 1 ? (parts[0] as string) : parts;
}

function linkPart(value: unknown): string {
  if (value === null || value === undefined) return '\u0000null';
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'bigint':
    case 'boolean':
      return String(value);
  }
  if (value instanceof Date) return `\u0001d${value.getTime()}`;
  if (value instanceof Uint8Array) return String(hashKey(value));
  return `\u0001o${JSON.stringify(value, (_, part: unknown) => (typeof part === 'bigint' ? part.toString() : part))}`;
}
