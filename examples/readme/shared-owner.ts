// The README's owner snippet for worker threads, type-checked as written.
import type { PostgresAccess } from '@tablecache/postgres';
import type { Database } from './schema.js';
import { usersIndexes } from './shared-indexes.js';

declare const access: PostgresAccess<Database>;

// #region shared-owner
import { Worker } from 'node:worker_threads';
import { CachedTable } from '@tablecache/core';
import { SharedMemoryStorageTable } from '@tablecache/shared-memory';

// The main thread owns the table: it loads, watches and refreshes once for every thread.
const indexes = usersIndexes();
const storage = new SharedMemoryStorageTable(indexes, { name: 'users', maxBytes: 2 ** 30 });
const users = new CachedTable(indexes, access, storage);
await users.load({ index: 'primaryKey', all: true });
// The handle is plain data around the SharedArrayBuffer: workerData or postMessage carries it.
const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: storage.handle() });
// #endregion shared-owner

await worker.terminate();
