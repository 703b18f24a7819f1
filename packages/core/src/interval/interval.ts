import { compareKeys, type Key } from '../key/key.js';

/**
 * A half-open interval `[ge, lt)` of keys or scores, compared with `compareKeys`. `T` has no
 * constraint of its own so that `new Interval(1, 5)` is an `Interval<number>`, not of `1 | 5`;
 * the constructor still takes only keys.
 */
export class Interval<T = Key> {
  readonly ge: T & Key;
  readonly lt: T & Key;

  constructor(ge: T & Key, lt: T & Key) {
    this.ge = ge;
    this.lt = lt;
  }

  get isEmpty(): boolean {
    return compareKeys(this.ge, this.lt) >= 0;
  }

  contains(value: T & Key): boolean {
    return compareKeys(this.ge, value) <= 0 && compareKeys(value, this.lt) < 0;
  }

  intersects(other: Interval<T>): boolean {
    return !this.isEmpty && !other.isEmpty && compareKeys(this.ge, other.lt) < 0 && compareKeys(other.ge, this.lt) < 0;
  }

  covers(other: Interval<T>): boolean {
    return other.isEmpty || (compareKeys(this.ge, other.ge) <= 0 && compareKeys(other.lt, this.lt) <= 0);
  }

  toString(): string {
    return `[${String(this.ge)}, ${String(this.lt)})`;
  }
}

/** The intervals sorted, with empty ones dropped and overlapping or touching ones joined. */
export function mergeIntervals<T extends Key>(intervals: readonly Interval<T>[]): Interval<T>[] {
  const merged: Interval<T>[] = [];
  for (const next of intervals.filter((i) => !i.isEmpty).sort((a, b) => compareKeys(a.ge, b.ge))) {
    const last = merged[merged.length - 1];
    if (last !== undefined && compareKeys(next.ge, last.lt) <= 0) {
      if (compareKeys(next.lt, last.lt) > 0) merged[merged.length - 1] = new Interval<T>(last.ge, next.lt);
    } else merged.push(next);
  }
  return merged;
}
