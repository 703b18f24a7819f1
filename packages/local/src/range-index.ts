import { assertKey, mergeIntervals, type HashKey, type Interval, type Key, type StorageIndexDefinition } from '@tablecache/core';
import { BTreeRange } from './range/btree-range.js';
import type { RangeStructure } from './range/range-structure.js';
import { SortedArrayRange } from './range/sorted-array-range.js';

export type RangeStructureName = 'btree' | 'sorted-array';

/** A range index: primary keys ordered by the score of their record. */
export class RangeIndex<R> {
  readonly kind = 'range';
  readonly #name: string;
  readonly #definition: StorageIndexDefinition<R>;
  readonly #structure: RangeStructure;

  constructor(name: string, definition: StorageIndexDefinition<R>, structure: RangeStructureName) {
    this.#name = name;
    this.#definition = definition;
    this.#structure = structure === 'btree' ? new BTreeRange() : new SortedArrayRange();
  }

  keyOf(record: R): Key {
    const score = this.#definition.key(record);
    assertKey(score, `score of index '${this.#name}' of a record`);
    return score;
  }

  add(score: Key, primaryKey: HashKey): void {
    this.#structure.add(score, primaryKey);
  }

  remove(record: R, primaryKey: HashKey): void {
    this.#structure.remove(this.#definition.key(record), primaryKey);
  }

  /** Visits the primary keys in the intervals, in score order, each once (overlaps are merged). */
  scan(intervals: readonly Interval[], visit: (primaryKey: HashKey) => void): void {
    for (const interval of mergeIntervals(intervals)) this.#structure.scan(interval.ge, interval.lt, visit);
  }

  clear(): void {
    this.#structure.clear();
  }
}
