import { Interval, mergeIntervals } from '../interval/interval.js';
import { compareKeys, type Key } from '../key/key.js';

/** What `RangeMarks.toData` gives: plain values another thread can receive. */
export interface RangeMarksData {
  readonly points: readonly Key[];
  readonly intervals: readonly (readonly [Key, Key])[];
}

/**
 * What is invalid on one range index: scores of stale records (points) and intervals to reload.
 * Both are kept sorted (lazily, so a statement's worth of marks costs one sort), the intervals
 * merged into disjoint ones, so a read's interval is tested with two binary searches.
 */
export class RangeMarks {
  #points: Key[] = [];
  #pointsSorted = true;
  #intervals: Interval[] = [];
  #intervalsMerged = true;

  addPoint(score: Key): void {
    this.#points.push(score);
    this.#pointsSorted = false;
  }

  addInterval(interval: Interval): void {
    if (interval.isEmpty) return;
    this.#intervals.push(interval);
    this.#intervalsMerged = false;
  }

  absorb(other: RangeMarks): void {
    for (const point of other.#points) this.addPoint(point);
    for (const interval of other.#intervals) this.addInterval(interval);
  }

  /** How many points and intervals are marked (a snapshot's size). */
  get size(): number {
    return this.#points.length + this.#intervals.length;
  }

  /** The marks as data: points, and intervals as `[ge, lt]` pairs. */
  toData(): RangeMarksData {
    return { points: [...this.#points], intervals: this.#intervals.map((interval) => [interval.ge, interval.lt] as const) };
  }

  static fromData(data: RangeMarksData): RangeMarks {
    const marks = new RangeMarks();
    for (const point of data.points) marks.addPoint(point);
    for (const [ge, lt] of data.intervals) marks.addInterval(new Interval(ge, lt));
    return marks;
  }

  intersects(interval: Interval): boolean {
    if (interval.isEmpty) return false;
    return this.#hasPointIn(interval) || this.#hasIntervalOverlapping(interval);
  }

  #hasPointIn(interval: Interval): boolean {
    if (!this.#pointsSorted) {
      this.#points.sort(compareKeys);
      this.#pointsSorted = true;
    }
    const points = this.#points;
    let lo = 0;
    let hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(points[mid] as Key, interval.ge) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo < points.length && compareKeys(points[lo] as Key, interval.lt) < 0;
  }

  #hasIntervalOverlapping(interval: Interval): boolean {
    if (!this.#intervalsMerged) this.#merge();
    // Disjoint and sorted: the last interval starting before `lt` ends furthest right of those.
    const intervals = this.#intervals;
    let lo = 0;
    let hi = intervals.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys((intervals[mid] as Interval).ge, interval.lt) < 0) lo = mid + 1;
      else hi = mid;
    }
    const candidate = intervals[lo - 1];
    return candidate !== undefined && compareKeys(candidate.lt, interval.ge) > 0;
  }

  #merge(): void {
    this.#intervals = mergeIntervals(this.#intervals);
    this.#intervalsMerged = true;
  }
}
