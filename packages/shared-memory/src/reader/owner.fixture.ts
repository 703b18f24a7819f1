// A worker that owns a shared table (loaded from an in-memory database), sends its handle to
// whoever started it, and then does nothing: the test terminates it without closing the table.
import { parentPort } from 'node:worker_threads';
import { CachedTable } from '@tablecache/core';
import { MemoryDatabase } from '@tablecache/core/testing';
import { SharedMemoryStorageTable } from '../shared-memory-storage-table.js';
import { type Item, item, itemIndexes, quiet } from './items.fixture.js';

const db = new MemoryDatabase<Item>((i) => i.id);
for (let id = 1; id <= 10; id++) db.set(item(id));
const indexes = itemIndexes(db);
const storage = new SharedMemoryStorageTable(indexes, { name: 'items' });
const table = new CachedTable(indexes, db, storage, { logger: quiet });
await table.load({ index: 'primaryKey', all: true });
parentPort?.postMessage(storage.handle());
setInterval(() => undefined, 1_000); // stays until terminated
