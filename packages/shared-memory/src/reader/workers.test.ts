import { once } from 'node:events';
import type { Worker } from 'node:worker_threads';
import { CachedTable } from '@tablecache/core';
import { MemoryDatabase } from '@tablecache/core/testing';
import { afterEach, expect, test } from 'vitest';
import { OwnerUnavailableError } from '../errors.js';
import { openSharedTable } from '../open-shared-table.js';
import { SharedMemoryStorageTable } from '../shared-memory-storage-table.js';
import { typeScriptWorker } from '../typescript-worker.fixture.js';
import { type Item, item, itemIndexes, itemsOwner, quiet } from './items.fixture.js';
import { type StressReport, type Versioned, versioned, versionedIndexes } from './versions.fixture.js';

const workers: Worker[] = [];
const closing: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const worker of workers.splice(0)) await worker.terminate();
  for (const close of closing.splice(0)) await close();
});

function start(fixture: string, workerData?: unknown): Worker {
  const worker = typeScriptWorker(new URL(fixture, import.meta.url), workerData);
  workers.push(worker);
  return worker;
}

test('readers on worker threads never see a torn record, half of a commit or an older version while the owner refreshes thousands of records and slides its window', async () => {
  const rows = 4_000;
  const db = new MemoryDatabase<Versioned>((r) => r.id, { batchSize: 500 });
  let version = 1;
  const writeVersion = () => {
    for (let id = 1; id <= rows; id++) db.set(versioned(id, version));
  };
  writeVersion();
  const indexes = versionedIndexes((ge, lt) => db.where(`rank in [${ge}, ${lt})`, (r) => r.rank >= ge && r.rank < lt));
  const storage = new SharedMemoryStorageTable(indexes, { name: 'stress' });
  const table = new CachedTable(indexes, db, storage, { logger: quiet });
  closing.push(() => table.close());
  await table.load({ index: 'byRank', ge: 1, lt: 2_001 });
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const reports = [true, false, true].map((decodedCache) => {
    const worker = start('./stress-reader.fixture.ts', { handle: storage.handle(), stop, rows, decodedCache });
    return once(worker, 'message').then(([report]) => report as StressReport);
  });
  await new Promise((resolve) => setTimeout(resolve, 300)); // the readers are reading
  for (let round = 1; round <= 30; round++) {
    version++;
    writeVersion();
    // Every stored record is replaced in one commit, then the window slides (what enters has the same version).
    table.invalidateRecords([{ index: 'byRank', ge: 1, lt: rows + 1 }]);
    await table.refreshInvalid();
    const ge = 1 + ((round * 67) % 2_000);
    await table.adjust({ index: 'byRank', ge, lt: ge + 2_000 });
    await new Promise((resolve) => setImmediate(resolve));
  }
  Atomics.store(stop, 0, 1);
  for (const report of await Promise.all(reports)) {
    expect(report.problems).toEqual([]);
    expect(report.fromMemory).toBeGreaterThan(0);
    expect(report.records).toBeGreaterThan(0);
  }
}, 60_000);

test('a worker that ends without closing its reader exits on its own: the reader keeps nothing alive', async () => {
  const { storage, table } = itemsOwner();
  closing.push(() => table.close());
  await table.load({ index: 'primaryKey', all: true });
  const worker = start('./lone-reader.fixture.ts', storage.handle());
  const [record] = await once(worker, 'message');
  expect(record).toEqual(item(1));
  const [code] = await once(worker, 'exit');
  expect(code).toBe(0);
});

test('the owner may be a worker thread, and when it exits without closing, its readers stop serving memory and reject with OwnerUnavailableError', async () => {
  const owner = start('./owner.fixture.ts');
  const [handle] = await once(owner, 'message');
  const reader = await openSharedTable(handle, itemIndexes(new MemoryDatabase<Item>((i) => i.id)), { ownerTimeoutMs: 400 });
  closing.push(() => reader.close());
  expect(reader.peek(1)).toEqual(item(1));
  await owner.terminate();
  await expect.poll(() => reader.status.servesMemory, { timeout: 5_000 }).toBe(false);
  expect(reader.peek(1)).toBeUndefined();
  await expect(reader.getRecords({ index: 'primaryKey', keys: [1] })).rejects.toThrow(OwnerUnavailableError);
});
