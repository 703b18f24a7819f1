// Edges found in review, one test each: changes that could be lost, rejections nobody handles,
// waits that outlive close(), syncs that starve, repeated keys across queries.
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import type { Change, EncodedChange } from '../change-feed/change-feed.js';
import { DatabaseError, InvalidOptionsError, TableClosedError, TablecacheError } from '../errors/errors.js';
import { PrimaryKeyIndexes, type PrimaryKeySpec } from '../indexes/primary-key-indexes.js';
import { MapStorageTable, MemoryDatabase, MemoryFeed } from '../testing/index.js';
import { CachedTable } from './cached-table.js';
import type { WatchOptions } from './table-watcher.js';
import { all, keys, silent, type User, user, usersTable } from './users.fixture.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const updated = (table: string, id: number): Change => ({ op: 'update', schema: 'public', table, old: { id }, new: { id } });
const byId = (change: Change) => [keys((change.new ?? change.old)?.id as number)];
const encoded = (table: string, id: string): EncodedChange => ({
  op: 'update',
  schema: 'public',
  table,
  keyColumns: [{ name: 'id', typeId: 23 }],
  old: [id],
  new: [id],
});
const aborted = () => {
  const controller = new AbortController();
  controller.abort(new Error('the caller gave up'));
  return controller.signal;
};
/** How a promise stands after `ms`: its value, its error, or 'pending'. */
const after = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([
    promise.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    ),
    sleep(ms).then(() => 'pending' as const),
  ]);

async function loaded() {
  const context = usersTable();
  await context.table.load(all);
  context.db.queries.length = 0;
  return context;
}

async function watched(options: WatchOptions<PrimaryKeySpec<number>> = {}, feed = new MemoryFeed()) {
  const { db, table } = usersTable();
  const errors: unknown[] = [];
  const unwatch = await table.watch(feed, { onError: (error) => errors.push(error), ...options });
  await table.load(all);
  db.queries.length = 0;
  return { db, table, feed, errors, unwatch };
}

/** Rejections nobody handled while a test ran (vitest reports them as errors too). */
let unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeEach(() => {
  unhandled = [];
  process.on('unhandledRejection', onUnhandled);
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
});

describe('changes that are lost', () => {
  test('a synchronous mapping returning an undefined spec invalidates the table and is reported, without throwing into the feed', async () => {
    const { db, table, feed, errors } = await watched({ tables: { users: () => [undefined as unknown as PrimaryKeySpec<number>] } });
    // A second table on the same feed must get the event too.
    const other = usersTable();
    await other.table.watch(feed);
    await other.table.load(all);
    other.db.set(user(1, 'changed'));
    db.set(user(1, 'changed'));
    expect(() => feed.changes(updated('users', 1))).not.toThrow();
    expect(errors).toHaveLength(1);
    expect(await table.getRecords(keys(1))).toEqual([user(1, 'changed')]);
    expect(await other.table.getRecords(keys(1))).toEqual([user(1, 'changed')]);
  });

  test('a key of the wrong type that arrives while the load runs (before key types are learned) is not silently stale', async () => {
    const { db, table } = usersTable();
    const feed = new MemoryFeed(); // no decoder anywhere: encoded keys stay text
    const errors: unknown[] = [];
    await table.watch(feed, { tables: { users: byId }, onError: (error) => errors.push(error) });
    const gate = db.pause();
    const loading = table.load(all);
    await gate.reached; // the load's snapshot holds user 2 as it was
    db.set(user(2, 'changed'));
    feed.changes(encoded('users', '2')); // keys('2'): could never match the number keys the load brings
    gate.release();
    await loading;
    await table.sync();
    expect(await table.getRecords(keys(2))).toEqual([user(2, 'changed')]);
  });

  test('a feed whose prepare resolves no table for a mapped name makes watch refuse, naming it', async () => {
    const feed = new MemoryFeed();
    feed.prepare = async () => new Map(); // resolves nothing, says nothing is missing
    const { table } = usersTable();
    const watching = table.watch(feed, { tables: { users: byId } });
    await expect(watching).rejects.toThrow(TablecacheError);
    await expect(watching).rejects.toThrow("resolved no table for 'users'");
    expect(feed.listeners).toBe(0);
  });
});

describe('feeds without prepare', () => {
  test('a feed without prepare: a quoted mapped name matches the changes of that table', async () => {
    const feed = new MemoryFeed(); // no prepare: names are never resolved
    const { db, table } = usersTable();
    await table.watch(feed, { tables: { '"Sales"."Order Items"': byId } });
    await table.load(all);
    db.set(user(2, 'changed'));
    feed.changes({ op: 'update', schema: 'Sales', table: 'Order Items', old: { id: 2 }, new: { id: 2 } });
    await table.sync();
    expect(await table.getRecords(keys(2))).toEqual([user(2, 'changed')]);
  });

  test("a feed's decodeKeys written as a method (using this) decodes keys, as the table's own access's does", async () => {
    // A feed whose decoder is a method using its own state (called without its `this`, it throws).
    const feed = Object.assign(new MemoryFeed(), { radix: 10 });
    feed.decodeKeys = function (this: { radix: number }, _columns, rows) {
      return rows.map((row) => row.map((text) => Number.parseInt(text, this.radix)));
    };
    const { db, table, errors } = await watched({ tables: { users: byId } }, feed);
    db.set(user(2, 'changed'));
    feed.changes(encoded('users', '2'));
    expect(errors).toEqual([]);
    expect(await table.getRecords(keys(2))).toEqual([user(2, 'changed')]);
    expect(db.queries).toEqual([db.querySome([2])]); // the key, not the whole table
  });
});

describe('unhandled rejections', () => {
  test('a read given an aborted signal that has to wait for a failing refresh leaves no unhandled rejection', async () => {
    const { db, table } = await loaded();
    table.invalidateRecords([keys(1)]);
    db.failNext(new Error('database down'));
    await expect(table.getRecords(keys(1), { signal: aborted() })).rejects.toThrow('the caller gave up');
    await sleep(30); // the refresh the read started fails meanwhile
    expect(unhandled).toEqual([]);
  });

  test('a stream aborted between records, whose next database batch then fails, leaves no unhandled rejection', async () => {
    const { db, table } = usersTable(); // not loaded: the stream reads the database
    db.failNext(new Error('connection reset'), 2);
    const controller = new AbortController();
    const streaming = (async () => {
      for await (const record of table.streamRecords(all, { signal: controller.signal })) {
        if (record.id === 2) controller.abort(new Error('enough'));
      }
    })();
    await expect(streaming).rejects.toThrow('enough');
    await sleep(30);
    expect(unhandled).toEqual([]);
  });

  test('watch aborted while the feed gets ready: prepare is not asked afterwards, and nothing is left unhandled', async () => {
    const { table } = usersTable();
    const feed = new MemoryFeed();
    let ready!: () => void;
    Object.assign(feed, { ready: () => new Promise<void>((resolve) => (ready = resolve)) });
    let prepared = 0;
    feed.prepare = async (request) => {
      prepared++;
      request.signal?.throwIfAborted(); // a feed that honours the signal
      return new Map();
    };
    const controller = new AbortController();
    const watching = table.watch(feed, { tables: { users: byId }, install: true }, { signal: controller.signal });
    controller.abort(new Error('gave up waiting'));
    await expect(watching).rejects.toThrow('gave up waiting');
    ready();
    await sleep(30);
    expect(unhandled).toEqual([]);
    expect(prepared).toBe(0); // with install: true, triggers would be installed for a caller that gave up
  });
});

describe('waits that outlive close()', () => {
  test('a read waiting for the load rejects with TableClosedError when the table closes, not when the database answers', async () => {
    const { db, table } = usersTable();
    const gate = db.pause();
    const loading = table.load(all).catch(() => undefined);
    await gate.reached;
    const reading = table.getRecords(keys(1));
    await table.close();
    const outcome = await after(reading, 50);
    gate.release();
    await loading;
    expect(outcome).toEqual({ error: expect.any(TableClosedError) });
  });

  test('an adjust queued behind a refresh rejects with TableClosedError when the table closes', async () => {
    const { db, table } = await loaded();
    table.invalidateRecords([keys(1)]);
    const gate = db.pause();
    const refreshing = table.refreshInvalid().catch(() => undefined);
    await gate.reached;
    const adjusting = table.adjust(keys(1, 2));
    await table.close();
    const outcome = await after(adjusting, 50);
    gate.release();
    await refreshing;
    expect(outcome).toEqual({ error: expect.any(TableClosedError) });
  });
});

describe('sync', () => {
  test('sync is not starved by async mappings of changes that arrive after it was called', async () => {
    const slow = async (change: Change) => {
      await sleep(20);
      return byId(change);
    };
    const { table, feed } = await watched({ tables: { users: slow } });
    let streaming = true;
    const stream = (async () => {
      while (streaming) {
        feed.changes(updated('users', 1));
        await sleep(5);
      }
    })();
    try {
      const outcome = await after(table.sync({ timeoutMs: 400 }), 500);
      expect(outcome).toEqual({ value: undefined });
    } finally {
      streaming = false;
      await stream;
    }
  });

  test('eager mode: a sync whose refresh fails does not cancel the background retry', async () => {
    const { db, table, feed } = await watched({
      tables: { users: byId },
      refresh: 'eager',
      debounceMs: 1000,
      retryDelayMs: { initial: 5, max: 20 },
    });
    db.set(user(2, 'changed'));
    feed.changes(updated('users', 2)); // a refresh is scheduled in 1000 ms
    db.failNext(new Error('database down'));
    await expect(table.sync()).rejects.toThrow(DatabaseError); // sync cancels that timer and refreshes itself
    await vi.waitFor(() => expect(table.status.invalid).toBe(false), { timeout: 500 });
    expect(table.peek(2)).toEqual(user(2, 'changed'));
  });

  test('a syncTimeoutMs beyond what a timer can wait (about 25 days) is refused with InvalidOptionsError, not turned into 1 ms', () => {
    expect(() => usersTable(undefined, { syncTimeoutMs: 2 ** 31 })).toThrow(InvalidOptionsError);
  });

  test('a sync timeoutMs that is not a positive number of milliseconds is refused with InvalidOptionsError', async () => {
    const { table } = await loaded();
    await table.watch(new MemoryFeed());
    await expect(table.sync({ timeoutMs: -1 })).rejects.toThrow(InvalidOptionsError);
  });
});

describe('duplicate keys', () => {
  test('a load of several queries checks each query apart: a row that moved between their snapshots is not a DuplicateKeyError', async () => {
    const db = new MemoryDatabase<User>((u) => u.id);
    db.set(user(1), user(2), user(3));
    // Custom indexes that load everything in two queries (two windows, say); user 2 moved from
    // the first to the second between their snapshots, so both return it.
    class TwoQueries extends PrimaryKeyIndexes<User, number> {
      override prepareAdjustment(spec: PrimaryKeySpec<number>) {
        const adjustment = super.prepareAdjustment(spec);
        return {
          ...adjustment,
          load: [db.where('first window', (u) => u.id <= 2), db.where('second window', (u) => u.id >= 2)],
        };
      }
    }
    const indexes = new TwoQueries({ primaryKey: (u) => u.id, queryAll: db.queryAll, querySome: db.querySome });
    const table = new CachedTable(indexes, db, new MapStorageTable(indexes), { logger: silent });
    await table.load(all);
    expect(await table.getRecords(all)).toEqual([user(1), user(2), user(3)]);
  });
});
