import { describe, expect, test } from 'vitest';
import { Interval } from './interval.js';

describe('Interval', () => {
  test('contains its lower bound and not its upper bound', () => {
    const interval = new Interval(1, 5);
    expect(interval.contains(1)).toBe(true);
    expect(interval.contains(4.999)).toBe(true);
    expect(interval.contains(5)).toBe(false);
  });

  test('intervals that only touch do not intersect', () => {
    expect(new Interval(1, 5).intersects(new Interval(5, 9))).toBe(false);
    expect(new Interval(1, 5).intersects(new Interval(4, 9))).toBe(true);
  });

  test('an empty interval intersects nothing and is covered by anything', () => {
    expect(new Interval(3, 3).isEmpty).toBe(true);
    expect(new Interval(3, 3).intersects(new Interval(0, 9))).toBe(false);
    expect(new Interval(7, 8).covers(new Interval(3, 3))).toBe(true);
  });

  test('works on dates and tuples', () => {
    expect(new Interval(new Date(0), new Date(10)).contains(new Date(9))).toBe(true);
    expect(new Interval<[number, number]>([1, 0], [1, 10]).contains([1, 5])).toBe(true);
    expect(new Interval<[number, number]>([1, 0], [1, 10]).contains([2, 0])).toBe(false);
  });
});

test('an interval of numbers is typed by the type of its bounds, not their values', () => {
  const interval: Interval<number> = new Interval(1, 5);
  expect(interval.intersects(new Interval(2, 3))).toBe(true);
  // @ts-expect-error: bounds must be keys
  void (() => new Interval({}, {}));
});
