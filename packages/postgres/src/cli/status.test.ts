import { describe, expect, test } from 'vitest';
import { statusWarnings } from './status.js';

describe('the warnings of tablecache status', () => {
  test('more than half of the notification queue in use is a warning', () => {
    expect(statusWarnings([], 0.62)).toEqual([expect.stringMatching(/^the notification queue is 62\.0% full: /)]);
  });

  test('half of the notification queue in use or less is no warning', () => {
    expect(statusWarnings([], 0.5)).toEqual([]);
  });

  test('a durable slot no feed reads, keeping more than 64 MiB of WAL, is a warning naming how to drop it', () => {
    const idle = { slot: 'orders_cache', temporary: false, pid: null, lagBytes: 100 * 2 ** 20 };
    expect(statusWarnings([], 0, [idle])).toEqual([
      "slot 'orders_cache' is read by no feed and keeps 100.0 MiB of WAL, more every write: start its feed, or drop it (tablecache drop-slot orders_cache)",
    ]);
  });

  test('a slot a feed reads, or a temporary one, is no warning', () => {
    const read = { slot: 'a', temporary: false, pid: 42, lagBytes: 2 ** 30 };
    const temporary = { slot: 'b', temporary: true, pid: null, lagBytes: 2 ** 30 };
    expect(statusWarnings([], 0, [read, temporary])).toEqual([]);
  });
});
