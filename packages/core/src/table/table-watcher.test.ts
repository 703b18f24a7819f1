import { describe, expect, test, vi } from 'vitest';
import type { Change } from '../change-feed/change-feed.js';
import { InvalidOptionsError, MalformedSpecError } from '../errors/errors.js';
import type { PrimaryKeySpec } from '../indexes/primary-key-indexes.js';
import { MemoryFeed } from '../testing/index.js';
import type { WatchOptions } from './table-watcher.js';
import { all, keys, user, usersTable } from './users.fixture.js';

const updated = (table: string, id: number): Change => ({ op: 'update', schema: 'public', table, old: { id }, new: { id } });
const byId = (change: Change) => [keys((change.new ?? change.old)?.id as number)];

async function watched(options: WatchOptions<PrimaryKeySpec<number>> = {}) {
  const { db, table } = usersTable();
  const feed = new MemoryFeed();
  const errors: unknown[] = [];
  const unwatch = await table.watch(feed, { onError: (error) => errors.push(error), ...options });
  await table.load(all);
  db.queries.length = 0;
  return { db, table, feed, errors, unwatch };
}

describe('watching a change feed', () => {
  test('without tables, any change invalidates the whole table', async () => {
    const { db, table, feed } = await watched();
    db.set(user(2, 'changed'));
    feed.changes(updated('anything', 2));
    expect(await table.getRecords(keys(1))).toEqual([user(1)]);
    expect(db.queries).toEqual([db.queryAll]);
    expect(await table.getRecords(keys(2))).toEqual([user(2, 'changed')]);
  });

  test('a mapped table invalidates the specs its mapping returns', async () => {
    const { db, table, feed } = await watched({ tables: { users: byId } });
    db.set(user(2, 'changed'));
    feed.changes(updated('users', 2));
    expect(await table.getRecords(keys(2))).toEqual([user(2, 'changed')]);
    expect(db.queries).toEqual([db.querySome([2])]);
  });

  test('a mapping may name the table with its schema', async () => {
    const { db, table, feed } = await watched({ tables: { 'public.users': byId } });
    db.set(user(2, 'changed'));
    feed.changes(updated('users', 2));
    expect(await table.getRecords(keys(2))).toEqual([user(2, 'changed')]);
  });

  test('changes to tables that are not listed are ignored', async () => {
    const { db, table, feed } = await watched({ tables: { users: byId } });
    feed.changes(updated('orders', 2));
    await table.getRecords(all);
    expect(db.queries).toEqual([]);
  });

  test('a source table named like an Object.prototype member is not taken for a listed one', async () => {
    const { db, table, feed, errors } = await watched({ tables: { users: byId } });
    feed.changes(updated('constructor', 1), updated('toString', 2));
    await table.getRecords(all);
    expect(db.queries).toEqual([]);
    expect(errors).toEqual([]);
  });

  test('a table mapped to true is invalidated whole by any of its changes', async () => {
    const { db, table, feed } = await watched({ tables: { cities: true } });
    feed.changes(updated('cities', 9));
    await table.getRecords(keys(1));
    expect(db.queries).toEqual([db.queryAll]);
  });

  test('all changes of one batch become one invalidation and one refresh query', async () => {
    const { db, table, feed } = await watched({ tables: { users: byId } });
    feed.changes(updated('users', 1), updated('users', 2), updated('users', 3));
    await table.getRecords(all);
    expect(db.queries).toEqual([db.querySome([1, 2, 3])]);
    expect(table.stats.refreshes).toBe(1);
  });

  test('a truncate invalidates the whole table without calling the mapping', async () => {
    const mapping = vi.fn(byId);
    const { db, table, feed } = await watched({ tables: { users: mapping } });
    feed.changes({ op: 'truncate', schema: 'public', table: 'users' });
    await table.getRecords(keys(1));
    expect(mapping).not.toHaveBeenCalled();
    expect(db.queries).toEqual([db.queryAll]);
  });

  test('a gap invalidates the whole table', async () => {
    const { db, table, feed } = await watched({ tables: { users: byId } });
    feed.emit({ type: 'gap', reason: 'reconnected' });
    await table.getRecords(keys(1));
    expect(db.queries).toEqual([db.queryAll]);
  });

  test('sync waits for async mappings', async () => {
    const { db, table, feed } = await watched({
      tables: {
        users: async (change) => {
          await new Promise((resolve) => setTimeout(resolve, 20));
          return byId(change);
        },
      },
    });
    db.set(user(2, 'changed'));
    feed.changes(updated('users', 2));
    await table.sync();
    expect(await table.getRecords(keys(2))).toEqual([user(2, 'changed')]);
    expect(feed.syncs).toBe(1);
  });

  test('a mapping that throws invalidates the whole table and reports the error', async () => {
    const { db, table, feed, errors } = await watched({
      tables: {
        users: () => {
          throw new Error('mapping bug');
        },
      },
    });
    feed.changes(updated('users', 2));
    await table.getRecords(keys(1));
    expect(db.queries).toEqual([db.queryAll]);
    expect(errors).toEqual([new Error('mapping bug')]);
  });

  test('a mapping that rejects invalidates the whole table and reports the error', async () => {
    const { db, table, feed, errors } = await watched({ tables: { users: async () => Promise.reject(new Error('lookup failed')) } });
    feed.changes(updated('users', 2));
    await table.sync();
    await table.getRecords(keys(1));
    expect(db.queries).toEqual([db.queryAll]);
    expect(errors).toEqual([new Error('lookup failed')]);
  });

  test('a mapping that returns a malformed spec invalidates the whole table and reports it', async () => {
    const { db, table, feed, errors } = await watched({ tables: { users: () => [{ index: 'primaryKey', keys: [Number.NaN] }] } });
    feed.changes(updated('users', 2));
    await table.getRecords(keys(1));
    expect(db.queries).toEqual([db.queryAll]);
    expect(errors).toHaveLength(1);
  });

  test('a mapping that returns a spec for an unknown index is reported', async () => {
    const { feed, errors } = await watched({ tables: { users: () => [{ index: 'nope' } as unknown as PrimaryKeySpec<number>] } });
    feed.changes(updated('users', 2));
    expect(errors[0]).toBeInstanceOf(Error);
    expect(errors[0]).not.toBeInstanceOf(MalformedSpecError);
  });

  test('watching a loaded table invalidates it whole once, since changes before the watch are unknown', async () => {
    const { db, table } = usersTable([user(1)]);
    await table.load(all);
    db.set(user(1, 'changed before watching'));
    await table.watch(new MemoryFeed());
    expect(await table.getRecords(keys(1))).toEqual([user(1, 'changed before watching')]);
  });

  test('several tables watch one feed, each with its own mapping', async () => {
    const feed = new MemoryFeed();
    const first = usersTable();
    const second = usersTable();
    await first.table.watch(feed, { tables: { users: byId } });
    await second.table.watch(feed, { tables: { users: true } });
    await first.table.load(all);
    await second.table.load(all);
    first.db.queries.length = 0;
    second.db.queries.length = 0;
    first.db.set(user(2, 'changed'));
    second.db.set(user(2, 'changed'));
    feed.changes(updated('users', 2));
    expect(await first.table.getRecords(keys(2))).toEqual([user(2, 'changed')]);
    expect(await second.table.getRecords(keys(2))).toEqual([user(2, 'changed')]);
    expect(first.db.queries).toEqual([first.db.querySome([2])]);
    expect(second.db.queries).toEqual([second.db.queryAll]);
  });

  test('after unwatch, changes are ignored', async () => {
    const { db, table, feed, unwatch } = await watched();
    await unwatch();
    feed.changes(updated('users', 1));
    await table.getRecords(keys(1));
    expect(db.queries).toEqual([]);
    expect(feed.listeners).toBe(0);
  });

  test('closing the table stops watching', async () => {
    const { table, feed } = await watched();
    await table.close();
    expect(feed.listeners).toBe(0);
  });

  test.each([
    ['an unknown refresh mode', { refresh: 'sometimes' }],
    ['a negative debounce', { debounceMs: -1 }],
    ['a mapping that is neither true nor a function', { tables: { users: 'yes' } }],
  ])('%s is rejected with InvalidOptionsError', async (_, options) => {
    const { table } = await watched();
    await expect(table.watch(new MemoryFeed(), options as WatchOptions<PrimaryKeySpec<number>>)).rejects.toThrow(InvalidOptionsError);
  });
});

describe('eager refresh', () => {
  test('a change is refreshed in the background, before any read', async () => {
    const { db, table, feed } = await watched({ tables: { users: byId }, refresh: 'eager' });
    db.set(user(2, 'changed'));
    feed.changes(updated('users', 2));
    await vi.waitFor(() => expect(table.stats.refreshes).toBe(1));
    expect(db.queries).toEqual([db.querySome([2])]);
    expect(await table.getRecords(keys(2))).toEqual([user(2, 'changed')]);
    expect(db.queries).toHaveLength(1);
  });

  test('changes within the debounce time are refreshed with one query', async () => {
    const { db, table, feed } = await watched({ tables: { users: byId }, refresh: 'eager', debounceMs: 30 });
    feed.changes(updated('users', 1));
    feed.changes(updated('users', 2));
    await new Promise((resolve) => setTimeout(resolve, 5));
    feed.changes(updated('users', 3));
    await vi.waitFor(() => expect(table.stats.refreshes).toBe(1));
    expect(db.queries).toEqual([db.querySome([1, 2, 3])]);
  });

  test('sync in eager mode returns with the change already refreshed', async () => {
    const { db, table, feed } = await watched({ tables: { users: byId }, refresh: 'eager', debounceMs: 1000 });
    db.set(user(3, 'changed'));
    feed.changes(updated('users', 3));
    await table.sync();
    expect(table.stats.refreshes).toBe(1);
    expect(await table.getRecords(keys(3))).toEqual([user(3, 'changed')]);
  });

  test('a failed background refresh is reported and the next read retries it', async () => {
    const { db, table, feed, errors } = await watched({ tables: { users: byId }, refresh: 'eager' });
    db.set(user(2, 'changed'));
    db.failNext(new Error('database down'));
    feed.changes(updated('users', 2));
    await vi.waitFor(() => expect(errors).toEqual([new Error('database down')]));
    expect(await table.getRecords(keys(2))).toEqual([user(2, 'changed')]);
  });
});
