import type { Interval } from '../interval/interval.js';
import type { Key } from '../key/key.js';

/** The name every table's primary-key index has (see `invalidateRecords`). */
export const PRIMARY_KEY_INDEX = 'primaryKey';

/**
 * How storage files a record under one secondary index: `unique` indexes map a key to one
 * record, `hash` indexes to any number of records, `range` indexes order records by their key
 * (a score) for reads of intervals.
 */
export interface StorageIndexDefinition<R> {
  readonly kind: 'unique' | 'hash' | 'range';
  readonly key: (record: R) => Key;
}

/** What storage must maintain for a table: the primary key and the secondary indexes by name. */
export interface StorageLayout<R> {
  primaryKey(record: R): Key;
  /** Secondary indexes; the primary-key index is implicit and named `primaryKey`. */
  readonly storageIndexes: Readonly<Record<string, StorageIndexDefinition<R>>>;
}

/** Which stored records a read, an expiry or an invalidation is about. */
export type StorageRecordsSpec<R> =
  | { readonly kind: 'all'; readonly filter?: (record: R) => boolean }
  | {
      readonly kind: 'keys';
      /** `primaryKey` or the name of a secondary index. */
      readonly index: string;
      readonly keys: readonly Key[];
      /** A recheck for indexes whose keys select a superset of what the spec means. */
      readonly filter?: (record: R) => boolean;
    }
  | {
      readonly kind: 'range';
      /** The name of a `range` index. */
      readonly index: string;
      /** Half-open intervals of scores; records come in score order, each once. */
      readonly intervals: readonly Interval[];
      readonly filter?: (record: R) => boolean;
    };

/**
 * Where a table keeps its records. Reads are synchronous (memory is the point); writes of a
 * refresh or adjust go through a `ScratchSpace` and become visible together.
 */
export interface StorageTable<R> {
  readonly name: string;
  /** Number of records held. */
  readonly size: number;
  /** The record with this primary key, if held. */
  get(primaryKey: Key): R | undefined;
  /**
   * The records matching the spec: for `keys`, in the order of the keys, each record once; for
   * `range`, in score order; for `all`, in storage order. The array is the caller's to keep:
   * later writes do not change it.
   */
  getRecords(spec: StorageRecordsSpec<R>): R[];
  /**
   * Inserts or replaces (by primary key) a record, visible at once. Used to fill an empty table.
   * Returns whether a record with that primary key was already held (a load uses it to refuse
   * a query that repeats a key).
   */
  put(record: R): boolean;
  /** Drops every record, at once. */
  clear(): void;
  /** A batch of writes that readers see either entirely or not at all. */
  scratch(): ScratchSpace<R>;
  /**
   * Optional: adds a secondary index beside the layout's, filled at once from what is stored and
   * maintained by every later write (a table indexes its records by the columns that link them
   * to changed source rows, see `watch(feed, { tables: 'auto' })`). Throws, changing nothing,
   * when the name is taken or a stored record's key is invalid. Call it while no scratch space is
   * open (a table does it through its write queue). Storage without it is still
   * complete; such a table invalidates whole where it would need the index.
   */
  addIndex?(name: string, definition: StorageIndexDefinition<R>): void;
  /**
   * Optional: the bytes the records take, for storage that knows exactly (shared memory). Tables
   * estimate it from sampled records otherwise.
   */
  memoryBytes?(): number;
}

/** Writes buffered apart from what readers see, in call order, until `commit`. */
export interface ScratchSpace<R> {
  /**
   * Buffers a record. Returns whether this scratch space's last write under that primary key,
   * since it was made or cleared, was a put (not a delete, and not what storage held before).
   */
  put(record: R): boolean;
  delete(primaryKey: Key): void;
  /** Drop everything currently stored (and everything put before) when committed. */
  clear(): void;
  /** Makes every buffered write visible in one synchronous step. A scratch space commits once. */
  commit(): void;
}
