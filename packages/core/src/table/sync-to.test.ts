import { describe, expect, test } from 'vitest';
import { InvalidOptionsError } from '../errors/errors.js';
import { MemoryFeed } from '../testing/index.js';
import { all, keys, user, usersTable } from './users.fixture.js';

describe('syncTo, read-your-writes to a feed position', () => {
  test('a feed with positions is asked for the position, and the change it delivers is then visible', async () => {
    const { db, table } = usersTable();
    const feed = new MemoryFeed();
    const asked: string[] = [];
    feed.syncTo = async (position) => {
      asked.push(position);
      db.set(user(1, 'renamed'));
      feed.changes({ op: 'update', schema: 'public', table: 'users', old: { id: 1 }, new: { id: 1 } });
    };
    await table.watch(feed, { tables: { users: (change) => [keys(change.new?.id as number)] } });
    await table.load(all);
    await table.syncTo('0/16B3748');
    expect(asked).toEqual(['0/16B3748']);
    expect(feed.syncs).toBe(0);
    expect(table.peek(1)).toBeUndefined(); // invalid until the next read refreshes it
    expect(await table.getFirstRecord(keys(1))).toEqual(user(1, 'renamed'));
  });

  test('a feed without positions falls back to sync, which covers every commit before the call', async () => {
    const { table } = usersTable();
    const feed = new MemoryFeed();
    await table.watch(feed);
    await table.load(all);
    await table.syncTo('0/16B3748');
    expect(feed.syncs).toBe(1);
  });

  test('a position that is not a non-empty string is refused with InvalidOptionsError', async () => {
    const { table } = usersTable();
    await expect(table.syncTo('')).rejects.toThrow(InvalidOptionsError);
    await expect(table.syncTo(42 as unknown as string)).rejects.toThrow(InvalidOptionsError);
  });
});
