import type { Key } from '../key/key.js';
import type { Query } from '../query/query.js';
import { NamedIndexes, type NamedIndexesSpec } from './named-indexes.js';

/** What a range index orders by. */
export type Score = number | bigint | Date;

/** `{ index: 'range', ge, lt }` (half-open) or primary keys. */
export type RangeIndexesSpec<K extends Key, S extends Score> = NamedIndexesSpec<K, Record<never, Key>, { range: S }, never>;

export interface RangeIndexesOptions<R, K extends Key, S extends Score> {
  readonly primaryKey: (record: R) => K;
  readonly score: (record: R) => S;
  /**
   * The rows with `ge <= score < lt`, ordered by score. The row type of the cache comes from it:
   * give `ge` and `lt` their types (`(ge: Date, lt: Date) => …`) so TypeScript reads it first.
   */
  readonly queryRange: (ge: S, lt: S) => Query<R>;
  /** The rows with these primary keys; without it, an invalidation by key reloads the window. */
  readonly querySome?: (keys: readonly K[]) => Query<R>;
}

/**
 * A table that caches a window of scores (a time range, say): `load` or `adjust` with
 * `{ index: 'range', ge, lt }`. Reads inside the window come from memory, reads outside it from
 * the database; `adjust` slides the window, expiring what leaves and querying only what enters.
 */
export class RangeIndexes<R, K extends Key, S extends Score> extends NamedIndexes<R, K, Record<never, Key>, { range: S }, never> {
  constructor(options: RangeIndexesOptions<R, K, S>) {
    super({
      primaryKey: options.primaryKey,
      ...(options.querySome !== undefined && { querySome: options.querySome }),
      range: { range: { score: options.score, query: options.queryRange } },
    });
  }
}
