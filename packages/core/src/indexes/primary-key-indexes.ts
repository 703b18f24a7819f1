import type { Key } from '../key/key.js';
import type { Query } from '../query/query.js';
import { NamedIndexes, type NamedIndexesSpec } from './named-indexes.js';

export type PrimaryKeySpec<K extends Key = Key> = NamedIndexesSpec<K, Record<never, Key>, Record<never, Key>>;

export interface PrimaryKeyIndexesOptions<R, K extends Key> {
  /** The query for every record; the row type of the cache comes from it. */
  readonly queryAll: Query<R>;
  readonly primaryKey: (record: R) => K;
  /** The query for the records with these primary keys. */
  readonly querySome: (keys: readonly K[]) => Query<R>;
}

/**
 * A table read by primary key only. Load `{ all: true }` and every key is answered from memory:
 * a key that is not stored is known not to exist. Load `{ keys }` to cache a fixed set.
 */
export class PrimaryKeyIndexes<R, K extends Key = Key> extends NamedIndexes<R, K> {
  constructor(options: PrimaryKeyIndexesOptions<R, K>) {
    super(options);
  }
}
