import { expect, test } from 'vitest';
import { dueBy } from './pacing.js';

test('dueBy counts the operations whose time has come, the first at once and none past the count', () => {
  expect(dueBy(-1, 100, 10)).toBe(0);
  expect(dueBy(0, 100, 10)).toBe(1);
  expect(dueBy(9.99, 100, 10)).toBe(1);
  expect(dueBy(10, 100, 10)).toBe(2);
  expect(dueBy(1, 5000, 100)).toBe(6);
  expect(dueBy(60_000, 100, 10)).toBe(10);
});
