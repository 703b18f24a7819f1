import type { Key } from '../key/key.js';
import type { Query } from '../query/query.js';
import type { StorageLayout, StorageRecordsSpec } from '../storage/storage-table.js';

/** Every spec names the index it is for; the rest of its shape is up to that index. */
export interface IndexSpec {
  readonly index: string;
}

/** The spec every table accepts, at least in `invalidateRecords`: these primary keys. */
export interface PrimaryKeysSpec<K extends Key = Key> {
  readonly index: 'primaryKey';
  readonly keys: readonly K[];
}

/** A change of what is cached, prepared by the indexes and carried out by the table. */
export interface Adjustment<R> {
  /** Stored records that leave the cache; absent: none do. */
  readonly expire?: StorageRecordsSpec<R>;
  /** Queries whose rows enter (or are replaced in) the cache. */
  readonly load: readonly Query<R>[];
  /** Makes the new coverage current. The table calls it in the same tick as the storage commit. */
  commit(): void;
}

/**
 * The contract between a table, its storage and its indexes. An implementation knows which
 * specs exist (`S`, checked at compile time and again by `validateSpec` at run time), what is
 * loaded (coverage), how to find a spec's records in storage and in the database, and how to
 * move what is loaded. It holds no records itself.
 */
export interface Indexes<R, S extends IndexSpec, K extends Key = Key> extends StorageLayout<R> {
  /** Every index a spec may name, `primaryKey` included. */
  readonly indexNames: readonly string[];
  primaryKey(record: R): K;
  /**
   * Throws `UnknownIndexError`, `MalformedSpecError` or `InvalidKeyError` (with what is wrong)
   * unless `spec` is a spec of this table or a `PrimaryKeysSpec`.
   */
  validateSpec(spec: unknown): asserts spec is S | PrimaryKeysSpec<K>;
  /** Whether every record matching the spec is in storage (when nothing is invalid). */
  covers(spec: S | PrimaryKeysSpec<K>): boolean;
  /**
   * Optional: a spec that is not covered whole, cut into pieces, in read order, that together
   * select exactly its records; covered pieces are read from memory, the rest from the database.
   * Undefined (or no method): the whole spec goes to the database.
   */
  split?(spec: S | PrimaryKeysSpec<K>): readonly { readonly spec: S | PrimaryKeysSpec<K>; readonly covered: boolean }[] | undefined;
  /** Whether a record belongs in storage under the current coverage. */
  coversRecord(record: R): boolean;
  /** Where the spec's records are in storage; only asked for covered specs. */
  storageRecordsSpec(spec: S | PrimaryKeysSpec<K>): StorageRecordsSpec<R>;
  /**
   * The database query for the spec's records; undefined when the table has none (e.g. no
   * query by primary key was given): a read of it is refused, and an invalidation of it reloads
   * everything covered instead.
   */
  dbQuery(spec: S | PrimaryKeysSpec<K>): Query<R> | undefined;
  /**
   * Fewer specs that select the same records, so a refresh sends fewer queries (e.g. overlapping
   * ranges merged, keys of one index gathered). Optional: without it, each spec is one query.
   */
  coalesce?(specs: readonly S[]): S[];
  /**
   * Optional: the query whose rows are every record the table could hold, unrestricted (a
   * `NamedIndexes`' `queryAll`). `watch(feed, { tables: 'auto' })` asks the database how it
   * reads its source tables; undefined (or no method): `'auto'` is refused.
   */
  sourceQuery?(): Query<R> | undefined;
  /** Specs that together describe everything loaded; refreshing them refreshes the table. */
  loadedSpecs(): readonly S[];
  /**
   * Optional: makes what another copy of these indexes' `loadedSpecs()` returned the coverage,
   * loading and expiring nothing. A reader on another thread follows the owner's coverage this
   * way (coverage crosses threads as data, the specs); indexes without it cannot be read there.
   */
  restoreCoverage?(loaded: readonly S[]): void;
  /** Plans the move from the current coverage to `spec`'s; nothing changes until `commit`. */
  prepareAdjustment(spec: S): Adjustment<R>;
}
