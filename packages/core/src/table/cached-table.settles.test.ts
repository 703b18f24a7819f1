import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, test } from 'vitest';
import { DatabaseError, DuplicateKeyError, SyncTimeoutError, TableClosedError } from '../errors/errors.js';
import { MemoryFeed } from '../testing/index.js';
import { all, keys, user, usersTable } from './users.fixture.js';

async function loaded() {
  const context = usersTable();
  await context.table.load(all);
  context.db.queries.length = 0;
  return context;
}

const aborted = () => {
  const controller = new AbortController();
  controller.abort(new Error('the caller gave up'));
  return controller.signal;
};

describe('a closed table', () => {
  test('refreshInvalid rejects with TableClosedError', async () => {
    const { table } = await loaded();
    await table.close();
    await expect(table.refreshInvalid()).rejects.toThrow(TableClosedError);
  });

  test('loaded() rejects with TableClosedError, even after a load that succeeded', async () => {
    const { table } = await loaded();
    await table.close();
    await expect(table.loaded()).rejects.toThrow(TableClosedError);
  });

  test('sync, load, adjust, watch and peek reject with TableClosedError', async () => {
    const { table } = usersTable();
    await table.close();
    await expect(table.sync()).rejects.toThrow(TableClosedError);
    await expect(table.load(all)).rejects.toThrow(TableClosedError);
    await expect(table.adjust(keys(1))).rejects.toThrow(TableClosedError);
    await expect(table.watch(new MemoryFeed())).rejects.toThrow(TableClosedError);
    expect(() => table.peek(1)).toThrow(TableClosedError);
  });

  test('a sync waiting on its feed when the table closes rejects with TableClosedError', async () => {
    const { table } = await loaded();
    const feed = new MemoryFeed();
    await table.watch(feed);
    feed.holdSyncs();
    const syncing = table.sync();
    await table.close();
    await expect(syncing).rejects.toThrow(TableClosedError);
  });

  test('a read waiting for a refresh when the table closes rejects with TableClosedError', async () => {
    const { db, table } = await loaded();
    table.invalidateRecords([keys(1)]);
    const gate = db.pause();
    const reading = table.getRecords(keys(1));
    await gate.reached;
    await table.close();
    gate.release();
    await expect(reading).rejects.toThrow(TableClosedError);
  });
});

describe('waiting with a deadline or a signal', () => {
  test('sync rejects with SyncTimeoutError when its feed does not answer in time', async () => {
    const { table } = await loaded();
    const feed = new MemoryFeed();
    await table.watch(feed);
    feed.holdSyncs();
    await expect(table.sync({ timeoutMs: 20 })).rejects.toThrow(SyncTimeoutError);
  });

  test('the table’s syncTimeoutMs is the default deadline of sync', async () => {
    const { table } = usersTable(undefined, { syncTimeoutMs: 20 });
    const feed = new MemoryFeed();
    await table.watch(feed);
    feed.holdSyncs();
    await expect(table.sync()).rejects.toThrow('did not finish within 20 ms');
  });

  test('an aborted sync rejects with the signal’s reason', async () => {
    const { table } = await loaded();
    const feed = new MemoryFeed();
    await table.watch(feed);
    const release = feed.holdSyncs();
    const controller = new AbortController();
    const syncing = table.sync({ signal: controller.signal });
    controller.abort(new Error('stop'));
    await expect(syncing).rejects.toThrow('stop');
    release();
  });

  test('a load aborted while it streams rejects with the reason, keeps nothing, and can be retried', async () => {
    const { db, table } = usersTable();
    const gate = db.pause();
    const controller = new AbortController();
    const loading = table.load(all, { signal: controller.signal });
    await gate.reached;
    controller.abort(new Error('shutting down'));
    await expect(loading).rejects.toThrow('shutting down');
    await expect(table.loaded()).rejects.toThrow('shutting down');
    gate.release();
    await table.load(all);
    expect(await table.getRecords(all)).toHaveLength(3);
  });

  test('a read waiting for a refresh rejects with the reason when aborted, and the refresh still lands', async () => {
    const { db, table } = await loaded();
    db.set(user(1, 'changed'));
    table.invalidateRecords([keys(1)]);
    const gate = db.pause();
    const controller = new AbortController();
    const reading = table.getRecords(keys(1), { signal: controller.signal });
    await gate.reached;
    controller.abort(new Error('too slow'));
    await expect(reading).rejects.toThrow('too slow');
    gate.release();
    expect(await table.getRecords(keys(1))).toEqual([user(1, 'changed')]);
  });

  test('a read from the database rejects with the reason when aborted', async () => {
    const { db, table } = usersTable();
    const gate = db.pause();
    const controller = new AbortController();
    const reading = table.getFirstRecord(keys(1), { signal: controller.signal });
    await gate.reached;
    controller.abort(new Error('too slow'));
    await expect(reading).rejects.toThrow('too slow');
    gate.release();
  });

  test('calls given an aborted signal reject at once', async () => {
    const { table } = await loaded();
    await expect(table.getRecords(keys(1), { signal: aborted() })).resolves.toEqual([user(1)]); // answered from memory, nothing to wait for
    await expect(table.sync({ signal: aborted() })).rejects.toThrow('the caller gave up');
    await expect(table.watch(new MemoryFeed(), {}, { signal: aborted() })).rejects.toThrow('the caller gave up');
  });

  test('watch rejects with the reason when aborted while the feed gets ready, and leaves no listener', async () => {
    const { table } = usersTable();
    const feed = new MemoryFeed();
    let ready!: () => void;
    Object.assign(feed, { ready: () => new Promise<void>((resolve) => (ready = resolve)) });
    const controller = new AbortController();
    const watching = table.watch(feed, {}, { signal: controller.signal });
    controller.abort(new Error('gave up waiting'));
    await expect(watching).rejects.toThrow('gave up waiting');
    ready();
    expect(feed.listeners).toBe(0);
  });
});

describe('the database failing', () => {
  test('a read the database fails rejects with DatabaseError carrying the driver error as cause', async () => {
    const { db, table } = usersTable();
    const failure = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    db.failNext(failure);
    const reading = table.getRecords(keys(1));
    await expect(reading).rejects.toThrow(DatabaseError);
    await expect(reading).rejects.toMatchObject({ cause: failure, operation: 'read' });
    await expect(reading).rejects.toThrow("table 'users': the database failed a read: connect ECONNREFUSED 127.0.0.1:5432 (ECONNREFUSED)");
  });

  test('a failed load rejects with DatabaseError', async () => {
    const { db, table } = usersTable();
    db.failNext(new Error('down'));
    await expect(table.load(all)).rejects.toMatchObject({ name: 'DatabaseError', operation: 'load' });
  });
});

describe('a query that repeats a primary key', () => {
  test('a load of it rejects with DuplicateKeyError naming the key, and keeps nothing', async () => {
    const { db, table } = usersTable();
    db.repeatNext();
    const loading = table.load(all);
    await expect(loading).rejects.toThrow(DuplicateKeyError);
    await expect(loading).rejects.toThrow("table 'users': the query returned more than one row with primary key 1");
    expect(table.status.load).toBe('failed');
  });

  test('a refresh of it rejects with DuplicateKeyError and the previous state is served', async () => {
    const { db, table } = await loaded();
    db.set(user(1, 'changed'));
    table.invalidateRecords([keys(1, 2)]);
    db.repeatNext();
    await expect(table.refreshInvalid()).rejects.toThrow(DuplicateKeyError);
    expect(table.peek(3)).toEqual(user(3));
    expect(table.peek(1)).toBeUndefined(); // still invalid: the next read tries again
    expect(await table.getRecords(keys(1))).toEqual([user(1, 'changed')]);
  });

  test('an adjust that meets it rejects with DuplicateKeyError and changes nothing', async () => {
    const { db, table } = usersTable();
    await table.load(keys(1));
    db.repeatNext();
    await expect(table.adjust(keys(1, 2, 3))).rejects.toThrow(DuplicateKeyError);
    expect(table.getRecordsSync(keys(1))).toEqual([user(1)]);
    expect(table.getRecordsSync(keys(2))).toBeUndefined(); // not cached: the adjust changed nothing
  });
});

describe('waiting leaves nothing behind', () => {
  test('thousands of reads that wait for a refresh leave the heap where it was', async () => {
    // A collection on demand, as --expose-gc gives, without restarting the worker with it.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const { db, table } = await loaded();
    const waits = async (count: number) => {
      for (let i = 0; i < count; i++) {
        table.invalidateRecords([keys(1)]);
        await table.getRecords(keys(1)); // waits for the refresh it causes
        db.queries.length = 0; // the test database's own log of queries
      }
    };
    await waits(2000); // warm up
    gc();
    const before = process.memoryUsage().heapUsed;
    await waits(20_000);
    gc();
    // Each wait that stayed reachable would keep a few hundred bytes: 20,000 of them, megabytes.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(1_000_000);
  });
});
