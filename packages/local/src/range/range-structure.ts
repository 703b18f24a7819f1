import type { HashKey, Key } from '@tablecache/core';

/**
 * The ordered part of a range index: values (records) ordered by (score, primary key), so a
 * range read needs no lookup per record. Implementations are kept side by side to be compared
 * (see bench/range-structures.ts): `BTreeRange` for tables that change a lot,
 * `SortedArrayRange` for tables that are loaded in bulk and mostly read, and
 * `SortedBlocksRange`, which reads like the sorted array and updates like the tree.
 */
export interface RangeStructure<V> {
  readonly size: number;
  /** Adds a value, or replaces the value at the same score and primary key. */
  add(score: Key, primaryKey: HashKey, value: V): void;
  remove(score: Key, primaryKey: HashKey): void;
  /** The values with `ge <= score < lt`, in order, in a new array. */
  range(ge: Key, lt: Key): V[];
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
