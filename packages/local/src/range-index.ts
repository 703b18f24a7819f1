import { assertKey, type HashKey, type Interval, type Key, mergeIntervals, type StorageIndexDefinition } from '@tablecache/core';
import type { RangeStructure } from './range/range-structure.js';
import { SortedBlocksRange } from './range/sorted-blocks-range.js';

/** A range index: primary keys ordered by the score of their record. */
export class RangeIndex<R> {
  readonly kind = 'range';
  readonly #name: string;
  readonly #definition: StorageIndexDefinition<R>;
  readonly #structure: RangeStructure<R>;

  constructor(name: string, definition: StorageIndexDefinition<R>) {
    this.#name = name;
    this.#definition = definition;
    this.#structure = new SortedBlocksRange();
  }

  keyOf(record: R): Key {
    const score = this.#definition.key(record);
    assertKey(score, `score of index '${this.#name}' of a record`);
    return score;
  }

  add(score: Key, primaryKey: HashKey, record: R): void {
    this.#structure.add(score, primaryKey, record);
  }

  remove(record: R, primaryKey: HashKey): void {
    this.#structure.remove(this.#definition.key(record), primaryKey);
  }

  /** The records in the intervals, in score order, each once (overlaps are merged). */
  records(intervals: readonly Interval[]): R[] {
    if (intervals.length === 1) {
      const [only] = intervals as [Interval];
      return only.isEmpty ? [] : this.#structure.range(only.ge, only.lt);
    }
    return mergeIntervals(intervals).flatMap((interval) => this.#structure.range(interval.ge, interval.lt));
  }

  clear(): void {
    this.#structure.clear();
  }
}
