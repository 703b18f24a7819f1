import type { HashKey, Key } from '@tablecache/core';

/**
 * The ordered part of a range index: primary keys ordered by (score, primary key). Two
 * implementations are kept side by side because neither wins every workload (see
 * bench/range-structures.ts): `BTreeRange` for tables that change a lot, `SortedArrayRange` for
 * tables that are loaded in bulk and mostly read.
 */
export interface RangeStructure {
  readonly size: number;
  add(score: Key, primaryKey: HashKey): void;
  remove(score: Key, primaryKey: HashKey): void;
  /** Visits the primary keys with `ge <= score < lt`, in order. */
  scan(ge: Key, lt: Key, visit: (primaryKey: HashKey) => void): void;
  clear(): void;
}

export interface RangeEntry {
  readonly score: Key;
  readonly primaryKey: HashKey;
}

/** Orders primary keys of one table (all of one type); only ties in score need it. */
export function comparePrimaryKeys(a: HashKey, b: HashKey): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
