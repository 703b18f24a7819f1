import type { HashKey, Key } from '@tablecache/core';

/**
 * The ordered part of a range index: values (records) ordered by (score, primary key), so a
 * range read needs no lookup per record. `SortedBlocksRange` is the one in use: it reads like a
 * sorted array and updates like a B+ tree (bench/range-structures.ts compares it with both).
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
