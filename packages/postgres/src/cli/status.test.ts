import { describe, expect, test } from 'vitest';
import { statusWarnings } from './status.js';

describe('the warnings of tablecache status', () => {
  test('more than half of the notification queue in use is a warning', () => {
    expect(statusWarnings([], 0.62)).toEqual([expect.stringMatching(/^the notification queue is 62\.0% full: /)]);
  });

  test('half of the notification queue in use or less is no warning', () => {
    expect(statusWarnings([], 0.5)).toEqual([]);
  });
});
