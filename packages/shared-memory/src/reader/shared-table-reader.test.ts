import { CachedTable, DatabaseError, KeyTypeError, RecordNotFoundError, TableClosedError } from '@tablecache/core';
import { MemoryDatabase, MemoryFeed } from '@tablecache/core/testing';
import { afterEach, describe, expect, test } from 'vitest';
import { OwnerUnavailableError, StorageFullError } from '../errors.js';
import { openSharedTable } from '../open-shared-table.js';
import { SharedMemoryStorageTable } from '../shared-memory-storage-table.js';
import { type Item, item, itemIndexes, itemsOwner, quiet } from './items.fixture.js';

const closing: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closing.splice(0)) await close();
});

/** An owner and a reader of its storage on this thread: the reader reads shared memory as a worker would. */
async function ownerAndReader(count = 20) {
  const owner = itemsOwner(count);
  const reader = await openSharedTable(owner.storage.handle(), itemIndexes(owner.db));
  closing.push(
    () => reader.close(),
    () => owner.table.close(),
  );
  return { ...owner, reader };
}

describe('a reader of a shared table', () => {
  test('serves a record the owner loaded from shared memory, without a query', async () => {
    const { table, reader } = await ownerAndReader();
    await table.load({ index: 'primaryKey', all: true });
    const queries = table.stats.queries;
    expect(reader.peek(3)).toEqual(item(3));
    expect(reader.getRecordsSync({ index: 'byGroup', keys: ['even'] })).toEqual(table.getRecordsSync({ index: 'byGroup', keys: ['even'] }));
    expect(await reader.getFirstRecord({ index: 'byRank', ge: 4, lt: 6 })).toEqual(item(4));
    expect(table.stats.queries).toBe(queries);
  });

  test('answers nothing from memory before the owner loads, and its reads wait for the load through the owner', async () => {
    const { table, reader } = await ownerAndReader();
    expect(reader.peek(1)).toBeUndefined();
    expect(reader.getRecordsSync({ index: 'primaryKey', keys: [1] })).toBeUndefined();
    const read = reader.getFirstRecord({ index: 'primaryKey', keys: [1] });
    await table.load({ index: 'primaryKey', all: true });
    expect(await read).toEqual(item(1));
  });

  test("sees the owner's invalidation at its next read, and a read through the owner refreshes memory", async () => {
    const { db, table, reader } = await ownerAndReader();
    await table.load({ index: 'primaryKey', all: true });
    db.set(item(1, 2));
    table.invalidateRecords([{ index: 'primaryKey', keys: [1] }]);
    expect(reader.peek(1)).toBeUndefined();
    expect(reader.peek(2)).toEqual(item(2)); // only what was invalidated misses
    expect(await reader.getFirstRecord({ index: 'primaryKey', keys: [1] })).toEqual(item(1, 2));
    expect(reader.peek(1)).toEqual(item(1, 2));
  });

  test("answers from memory exactly when the owner's table would, whatever index an invalidation came through", async () => {
    const { db, table, reader } = await ownerAndReader();
    await table.load({ index: 'primaryKey', all: true });
    const probes = [
      { index: 'primaryKey', keys: [1] },
      { index: 'primaryKey', keys: [2] },
      { index: 'byGroup', keys: ['odd'] },
      { index: 'byGroup', keys: ['even'] },
      { index: 'byRank', ge: 1, lt: 2 },
      { index: 'byRank', ge: 2, lt: 5 },
      { index: 'primaryKey', all: true },
    ] as const;
    const invalidations = [
      () => table.invalidateRecords([{ index: 'primaryKey', keys: [2] }]),
      () => table.invalidateRecords([{ index: 'byRank', ge: 4, lt: 6 }]),
      () => table.invalidateRecords([{ index: 'byGroup', keys: ['even'] }], [{ index: 'primaryKey', keys: [2, 4] }]),
      () => table.invalidateRecords([{ index: 'byGroup', keys: ['odd'] }]),
    ];
    for (const invalidate of invalidations) {
      db.set(item(2, 2));
      invalidate();
      for (const probe of probes) expect(reader.getRecordsSync(probe), JSON.stringify(probe)).toEqual(table.getRecordsSync(probe));
      await table.refreshInvalid();
      for (const probe of probes) expect(reader.getRecordsSync(probe), JSON.stringify(probe)).toEqual(table.getRecordsSync(probe));
    }
  });

  test("follows the owner's coverage: after an adjust it serves the new window from memory and asks the owner for the rest", async () => {
    const { table, reader } = await ownerAndReader();
    await table.load({ index: 'byRank', ge: 1, lt: 10 });
    expect(reader.getRecordsSync({ index: 'byRank', ge: 1, lt: 3 })).toEqual([item(1), item(2)]);
    expect(reader.getRecordsSync({ index: 'byRank', ge: 12, lt: 14 })).toBeUndefined();
    await table.adjust({ index: 'byRank', ge: 10, lt: 20 });
    expect(reader.getRecordsSync({ index: 'byRank', ge: 12, lt: 14 })).toEqual([item(12), item(13)]);
    expect(reader.getRecordsSync({ index: 'byRank', ge: 1, lt: 3 })).toBeUndefined();
    expect(reader.peek(1)).toBeUndefined();
    expect(await reader.getRecords({ index: 'byRank', ge: 1, lt: 3 })).toEqual([item(1), item(2)]);
  });

  test("serves nothing from memory while the owner's feed is away, and its reads go to the database through the owner", async () => {
    const { table, reader } = await ownerAndReader();
    const feed = new MemoryFeed();
    await table.watch(feed, { disconnectedGraceMs: 0 });
    await table.load({ index: 'primaryKey', all: true });
    expect(reader.peek(1)).toEqual(item(1));
    feed.emit({ type: 'lost', reason: 'test' });
    await expect.poll(() => reader.status.servesMemory).toBe(false);
    expect(reader.peek(1)).toBeUndefined();
    expect(await reader.getFirstRecord({ index: 'primaryKey', keys: [1] })).toEqual(item(1));
  });

  test('refuses a key of another type than the stored keys with KeyTypeError, as the owner does', async () => {
    const { table, reader } = await ownerAndReader();
    await table.load({ index: 'primaryKey', all: true });
    expect(() => reader.peek('1' as never)).toThrow(KeyTypeError);
    expect(() => reader.getRecordsSync({ index: 'byGroup', keys: [1 as never] })).toThrow(KeyTypeError);
  });

  test("receives the owner's errors with their own class", async () => {
    const { db, table, reader } = await ownerAndReader();
    await table.load({ index: 'byRank', ge: 1, lt: 5 });
    await expect(reader.getFirstRecord({ index: 'byRank', ge: 100, lt: 101 })).rejects.toThrow(RecordNotFoundError);
    db.failNext(new Error('the disk is on fire'));
    const failed = reader.getRecords({ index: 'byRank', ge: 10, lt: 12 });
    await expect(failed).rejects.toThrow(DatabaseError);
    await expect(failed).rejects.toThrow(/the disk is on fire/);
  });

  test("waits for the owner's sync", async () => {
    const { table, reader } = await ownerAndReader();
    const feed = new MemoryFeed();
    await table.watch(feed);
    await table.load({ index: 'primaryKey', all: true });
    const release = feed.holdSyncs();
    let synced = false;
    const sync = reader.sync().then(() => {
      synced = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(synced).toBe(false);
    release();
    await sync;
    expect(synced).toBe(true);
  });

  test('a read through the owner stops waiting when its signal aborts', async () => {
    const { db, table, reader } = await ownerAndReader();
    await table.load({ index: 'byRank', ge: 1, lt: 5 });
    const gate = db.pause();
    const controller = new AbortController();
    const read = reader.getRecords({ index: 'byRank', ge: 10, lt: 12 }, { signal: controller.signal });
    await gate.reached;
    controller.abort(new Error('the caller gave up'));
    await expect(read).rejects.toThrow('the caller gave up');
    gate.release();
  });

  test("when shared memory is too full to publish the owner's invalidation, a reader serves nothing from memory rather than stale records", async () => {
    const db = new MemoryDatabase<Item>((i) => i.id);
    for (let id = 1; id <= 20; id++) db.set(item(id));
    const indexes = itemIndexes(db);
    const storage = new SharedMemoryStorageTable(indexes, { name: 'items', maxBytes: 64 * 1024, initialBytes: 16 * 1024 });
    const errors: string[] = [];
    const table = new CachedTable(indexes, db, storage, { logger: { ...quiet, error: (line: string) => errors.push(line) } });
    const reader = await openSharedTable(storage.handle(), itemIndexes(db));
    closing.push(
      () => reader.close(),
      () => table.close(),
    );
    await table.load({ index: 'primaryKey', all: true });
    expect(reader.peek(2)).toEqual(item(2));
    // Fill what is left of shared memory (in slots of its own, halving), so the next state the
    // owner publishes cannot be stored.
    for (let size = 16 * 1024, filler = 0; size >= 16; size /= 2, filler++) {
      try {
        storage.publish(`filler ${filler}`, 'x'.repeat(size));
      } catch (error) {
        expect(error).toBeInstanceOf(StorageFullError);
      }
    }
    for (let changed = 1; changed <= 20; changed++) db.set(item(changed, 2));
    // Keys enough that the state saying they are invalid is larger than any free block left.
    table.invalidateRecords([{ index: 'primaryKey', keys: Array.from({ length: 9_000 }, (_, i) => i + 1) }]);
    expect(errors).toEqual([expect.stringContaining('could not be published')]);
    expect(reader.peek(2)).toBeUndefined();
    expect(reader.getRecordsSync({ index: 'byRank', ge: 1, lt: 3 })).toBeUndefined();
  });

  test('a read the owner does not answer within requestTimeoutMs rejects with OwnerUnavailableError', async () => {
    const owner = itemsOwner();
    const reader = await openSharedTable(owner.storage.handle(), itemIndexes(owner.db), { requestTimeoutMs: 200 });
    closing.push(
      () => reader.close(),
      () => owner.table.close(),
    );
    await owner.table.load({ index: 'byRank', ge: 1, lt: 5 });
    const gate = owner.db.pause();
    await expect(reader.getRecords({ index: 'byRank', ge: 10, lt: 12 })).rejects.toThrow(OwnerUnavailableError);
    gate.release();
  });

  test('after the owner closes, its reads fail with TableClosedError', async () => {
    const { table, reader } = await ownerAndReader();
    await table.load({ index: 'primaryKey', all: true });
    await table.close();
    expect(() => reader.peek(1)).toThrow(TableClosedError);
    await expect(reader.getRecords({ index: 'primaryKey', keys: [1] })).rejects.toThrow(TableClosedError);
  });

  test('a read waiting on the owner when it closes rejects with TableClosedError', async () => {
    const { db, table, reader } = await ownerAndReader();
    await table.load({ index: 'byRank', ge: 1, lt: 5 });
    const gate = db.pause();
    const read = reader.getRecords({ index: 'byRank', ge: 10, lt: 12 });
    await gate.reached;
    await table.close();
    await expect(read).rejects.toThrow(TableClosedError);
    gate.release();
  });

  test('a closed reader refuses reads with TableClosedError', async () => {
    const { table, reader } = await ownerAndReader();
    await table.load({ index: 'primaryKey', all: true });
    await reader.close();
    expect(() => reader.peek(1)).toThrow(TableClosedError);
    await expect(reader.getFirstRecord({ index: 'primaryKey', keys: [1] })).rejects.toThrow(TableClosedError);
  });
});
