import { describe, expect, test, vi } from 'vitest';
import type { Change, EncodedChange, KeyDecoder, PrepareRequest } from '../change-feed/change-feed.js';
import { FeedDisconnectedError, InvalidOptionsError, MalformedSpecError, UnmatchableChangeError } from '../errors/errors.js';
import { NamedIndexes } from '../indexes/named-indexes.js';
import type { PrimaryKeySpec } from '../indexes/primary-key-indexes.js';
import { MapStorageTable, MemoryDatabase, MemoryFeed } from '../testing/index.js';
import { CachedTable } from './cached-table.js';
import type { WatchOptions } from './table-watcher.js';
import { all, keys, silent, type User, user, usersTable } from './users.fixture.js';

const updated = (table: string, id: number): Change => ({ op: 'update', schema: 'public', table, old: { id }, new: { id } });
const byId = (change: Change) => [keys((change.new ?? change.old)?.id as number)];

async function watched(
  options: WatchOptions<PrimaryKeySpec<number>> = {},
  access: { decodeKeys?: KeyDecoder } = {},
  feed = new MemoryFeed(),
) {
  const { db, table } = usersTable();
  if (access.decodeKeys !== undefined) db.decodeKeys = access.decodeKeys;
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

  test('a failed background refresh is reported with the database error as its cause', async () => {
    const { db, feed, errors } = await watched({ tables: { users: byId }, refresh: 'eager' });
    const failure = new Error('database down');
    db.failNext(failure);
    feed.changes(updated('users', 2));
    await vi.waitFor(() => expect(errors[0]).toMatchObject({ name: 'DatabaseError', cause: failure }));
  });

  test('a failed background refresh is retried by itself, with no change or read to prompt it', async () => {
    const { db, table, feed, errors } = await watched({ tables: { users: byId }, refresh: 'eager', retryDelayMs: { initial: 5, max: 20 } });
    db.set(user(2, 'changed'));
    db.failNext(new Error('database down'));
    db.failNext(new Error('database still down'));
    feed.changes(updated('users', 2));
    await vi.waitFor(() => expect(table.status.invalid).toBe(false));
    expect(errors).toHaveLength(2);
    expect(table.peek(2)).toEqual(user(2, 'changed'));
  });
});

const encoded = (table: string, id: string, op: 'update' | 'delete' = 'update'): EncodedChange => ({
  op,
  schema: 'public',
  table,
  keyColumns: [{ name: 'id', typeId: 23 }],
  old: [id],
  ...(op === 'update' && { new: [id] }),
});
const asNumbers: KeyDecoder = (_columns, rows) => rows.map((row) => row.map(Number));

describe('changes whose keys come as text', () => {
  test("keys are decoded by the table's own access, so they match its records", async () => {
    const { db, table, feed } = await watched({ tables: { users: byId } }, { decodeKeys: asNumbers });
    db.set(user(2, 'changed'));
    feed.changes(encoded('users', '2'));
    expect(await table.getRecords(keys(2))).toEqual([user(2, 'changed')]);
    expect(db.queries).toEqual([db.querySome([2])]);
  });

  test("the feed's decoder is used when the access has none", async () => {
    const feed = new MemoryFeed();
    feed.decodeKeys = asNumbers;
    const { db, table } = await watched({ tables: { users: byId } }, {}, feed);
    db.set(user(2, 'changed'));
    feed.changes(encoded('users', '2'));
    expect(await table.getRecords(keys(2))).toEqual([user(2, 'changed')]);
  });

  test('all keys of a batch are decoded in one call', async () => {
    let calls = 0;
    const { db, table, feed } = await watched(
      { tables: { users: byId } },
      {
        decodeKeys: (columns, rows) => {
          calls++;
          return asNumbers(columns, rows);
        },
      },
    );
    feed.changes(encoded('users', '1'), encoded('users', '2'), encoded('users', '3', 'delete'));
    await table.getRecords(all);
    expect(calls).toBe(1);
    expect(db.queries).toEqual([db.querySome([1, 2, 3])]);
  });

  test('sync waits for keys decoded asynchronously', async () => {
    const slow: KeyDecoder = async (columns, rows) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      return asNumbers(columns, rows);
    };
    const { db, table, feed } = await watched({ tables: { users: byId } }, { decodeKeys: slow });
    db.set(user(2, 'changed'));
    feed.changes(encoded('users', '2'));
    await table.sync();
    expect(table.peek(2)).toBeUndefined(); // invalid, to be refreshed by the next read
    expect(await table.getRecords(keys(2))).toEqual([user(2, 'changed')]);
  });

  test('keys that cannot match the table (text where the keys are numbers) invalidate it whole and name the source table and column', async () => {
    const { db, table, feed, errors } = await watched({ tables: { users: byId } });
    db.set(user(1, 'changed'));
    feed.changes(encoded('users', '2'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(UnmatchableChangeError);
    expect(String(errors[0])).toContain('a change to public.users (column id) cannot be matched');
    expect(await table.getRecords(keys(1))).toEqual([user(1, 'changed')]);
    expect(db.queries).toEqual([db.queryAll]);
  });

  test('a decoder that fails invalidates the table whole and reports it', async () => {
    const failing: KeyDecoder = () => {
      throw new Error('invalid input syntax for type integer');
    };
    const { db, table, feed, errors } = await watched({ tables: { users: byId } }, { decodeKeys: failing });
    feed.changes(encoded('users', 'x'));
    expect(errors[0]).toBeInstanceOf(UnmatchableChangeError);
    await table.getRecords(keys(1));
    expect(db.queries).toEqual([db.queryAll]);
  });

  test('a decoder that rejects (the database it asks is down) invalidates the table whole, and sync waits for it', async () => {
    const rejecting: KeyDecoder = async () => Promise.reject(new Error('connect ECONNREFUSED'));
    const { db, table, feed, errors } = await watched({ tables: { users: byId } }, { decodeKeys: rejecting });
    feed.changes(encoded('users', '2'));
    await table.sync();
    expect(errors[0]).toBeInstanceOf(UnmatchableChangeError);
    expect(table.peek(1)).toBeUndefined();
    await table.getRecords(keys(1));
    expect(db.queries).toEqual([db.queryAll]);
  });

  test('sync waits for an async mapping that an async decode starts', async () => {
    const slow: KeyDecoder = async (columns, rows) => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      return asNumbers(columns, rows);
    };
    const lookup = async (change: Change) => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      return byId(change);
    };
    const { db, table, feed } = await watched({ tables: { users: lookup } }, { decodeKeys: slow });
    db.set(user(2, 'changed'));
    feed.changes(encoded('users', '2'));
    await table.sync();
    expect(table.peek(2)).toBeUndefined(); // invalidated by the time sync resolved
    expect(await table.getRecords(keys(2))).toEqual([user(2, 'changed')]);
  });

  test('without a mapping for the table, encoded changes invalidate it whole without decoding', async () => {
    const { db, table, feed } = await watched({}, { decodeKeys: () => Promise.reject(new Error('not called')) });
    feed.changes(encoded('anything', '1'));
    await table.getRecords(keys(1));
    expect(db.queries).toEqual([db.queryAll]);
  });
});

describe('a feed that loses its connection', () => {
  test('the table stops serving memory at once: peek gives undefined and reads go to the database', async () => {
    const { db, table, feed } = await watched({ tables: { users: byId } });
    feed.emit({ type: 'lost', reason: 'connection reset' });
    expect(table.status.feed).toBe('disconnected');
    expect(table.peek(1)).toBeUndefined();
    db.set(user(1, 'changed while disconnected'));
    expect(await table.getRecords(keys(1))).toEqual([user(1, 'changed while disconnected')]);
    expect(db.queries).toEqual([db.querySome([1])]);
    expect(table.stats.readsFromDatabase).toBe(1);
  });

  test('when the feed is back (a gap), the table is refreshed and served from memory again', async () => {
    const { db, table, feed } = await watched({ tables: { users: byId } });
    feed.emit({ type: 'lost', reason: 'connection reset' });
    db.set(user(2, 'changed meanwhile'));
    feed.emit({ type: 'gap', reason: 'reconnected' });
    expect(table.status.feed).toBe('live');
    expect(await table.getRecords(keys(2))).toEqual([user(2, 'changed meanwhile')]);
    expect(table.peek(2)).toEqual(user(2, 'changed meanwhile'));
  });

  test('unwatching a feed that is disconnected leaves the table invalid, not trusted with what it may have missed', async () => {
    const { db, table, feed, unwatch } = await watched({ tables: { users: byId } });
    feed.emit({ type: 'lost', reason: 'connection reset' });
    await table.refreshInvalid(); // memory refreshed while the feed was away
    db.set(user(1, 'changed after that refresh'));
    await unwatch();
    expect(table.status.feed).toBe('unwatched');
    expect(table.peek(1)).toBeUndefined();
    expect(await table.getRecords(keys(1))).toEqual([user(1, 'changed after that refresh')]);
  });

  test('with a grace period, memory is served until it ends, and status says so', async () => {
    const { db, table, feed } = await watched({ tables: { users: byId }, disconnectedGraceMs: 30 });
    feed.emit({ type: 'lost', reason: 'connection reset' });
    expect(table.status.feed).toBe('grace');
    expect(table.peek(1)).toEqual(user(1));
    await vi.waitFor(() => expect(table.status.feed).toBe('disconnected'));
    expect(table.peek(1)).toBeUndefined();
    expect(db.queries).toEqual([]);
  });

  test('a read memory cannot be trusted with and the database cannot answer rejects with FeedDisconnectedError', async () => {
    const db = new MemoryDatabase<User>((u) => u.id);
    db.set(user(1));
    const indexes = new NamedIndexes({ primaryKey: (u: User) => u.id, queryAll: db.queryAll }); // no querySome
    const table = new CachedTable(indexes, db, new MapStorageTable(indexes), { logger: silent });
    const feed = new MemoryFeed();
    await table.watch(feed);
    await table.load(all);
    feed.emit({ type: 'lost', reason: 'connection reset' });
    await expect(table.getRecords(keys(1))).rejects.toThrow(FeedDisconnectedError);
    expect(await table.getRecords(all)).toEqual([user(1)]); // everything has a query
  });

  test('a feed that resumed within the grace period missed nothing: memory stays served and only its replayed changes refresh', async () => {
    const { db, table, feed } = await watched({ tables: { users: byId }, disconnectedGraceMs: 10_000 });
    feed.emit({ type: 'lost', reason: 'connection reset' });
    db.set(user(2, 'changed meanwhile'));
    feed.emit({ type: 'resumed' });
    feed.changes(updated('users', 2));
    expect(table.status.feed).toBe('live');
    expect(table.peek(1)).toEqual(user(1));
    expect(await table.getRecords(keys(2))).toEqual([user(2, 'changed meanwhile')]);
    expect(db.queries).toEqual([db.querySome([2])]);
  });

  test('a feed that resumed after the grace period ended refreshes what was invalidated while it was away', async () => {
    const { db, table, feed } = await watched({ tables: { users: byId } });
    feed.emit({ type: 'lost', reason: 'connection reset' });
    db.set(user(1, 'changed meanwhile'));
    feed.emit({ type: 'resumed' });
    expect(table.status.feed).toBe('live');
    expect(table.peek(1)).toBeUndefined();
    expect(await table.getRecords(keys(1))).toEqual([user(1, 'changed meanwhile')]);
  });

  test('eager mode does not refresh while the feed is disconnected, and refreshes when it is back', async () => {
    const { db, table, feed } = await watched({ tables: { users: byId }, refresh: 'eager' });
    feed.emit({ type: 'lost', reason: 'connection reset' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(db.queries).toEqual([]);
    feed.emit({ type: 'gap', reason: 'reconnected' });
    await vi.waitFor(() => expect(table.status.invalid).toBe(false));
    expect(db.queries).toEqual([db.queryAll]);
  });
});

describe('acknowledging what was applied', () => {
  test("a change's event settles at once when its mapping invalidated synchronously", async () => {
    const { feed, table } = await watched({ tables: { users: byId } });
    await feed.emit({ type: 'changes', changes: [updated('users', 1)] });
    expect(table.peek(1)).toBeUndefined();
  });

  test("a change's event settles only once its async mapping has invalidated", async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const mapping = async (change: Change) => {
      await released;
      return byId(change);
    };
    const { feed, table } = await watched({ tables: { users: mapping } });
    let applied = false;
    const acknowledged = feed.emit({ type: 'changes', changes: [updated('users', 1)] }).then(() => (applied = true));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(applied).toBe(false);
    release();
    await acknowledged;
    expect(table.peek(1)).toBeUndefined();
  });
});

describe('checking the wiring', () => {
  test("watch asks the feed to check the mapped tables, with the install option, and fails with the feed's error", async () => {
    const feed = new MemoryFeed();
    const requests: PrepareRequest[] = [];
    feed.prepare = async (request) => {
      requests.push(request);
      throw new Error('no triggers on public.users');
    };
    const { table } = usersTable();
    await expect(table.watch(feed, { tables: { users: byId, '"Sales"."Order Items"': true }, install: true })).rejects.toThrow(
      'no triggers',
    );
    expect(requests).toEqual([{ tables: ['users', '"Sales"."Order Items"'], install: true }]);
    expect(feed.listeners).toBe(0);
  });

  test('changes are matched to mappings by the tables the feed resolved the names to', async () => {
    const feed = new MemoryFeed();
    feed.prepare = async () => new Map([['"Sales"."Order Items"', { schema: 'Sales', table: 'Order Items' }]]);
    const { db, table } = await watched({ tables: { '"Sales"."Order Items"': byId } }, {}, feed);
    db.set(user(2, 'changed'));
    feed.changes({ op: 'update', schema: 'Sales', table: 'Order Items', old: { id: 2 }, new: { id: 2 } });
    feed.changes({ op: 'update', schema: 'other', table: 'Order Items', old: { id: 3 }, new: { id: 3 } });
    expect(await table.getRecords(all)).toEqual([user(1), user(2, 'changed'), user(3)]);
    expect(db.queries).toEqual([db.querySome([2])]);
  });
});

describe('reporting', () => {
  test('without onError, an error with no caller is one line on the logger, and repeats are held back', async () => {
    const lines: string[] = [];
    const logger = { error: (line: string) => lines.push(line), warn: () => {}, info: () => {}, debug: () => {} };
    const { table } = usersTable(undefined, { logger });
    const feed = new MemoryFeed();
    await table.watch(feed, {
      tables: {
        users: () => {
          throw Object.assign(new Error('mapping bug'), { code: 'E_BUG' });
        },
      },
    });
    feed.changes(updated('users', 1));
    feed.changes(updated('users', 2));
    expect(lines).toEqual(["table 'users': a change could not be applied; the whole table was invalidated: mapping bug (E_BUG)"]);
  });
});
