// Plain JavaScript, run with `node examples/plain-node.mjs` after `pnpm build`: the packages
// import by name from their built output, with no TypeScript tooling. The main thread caches a
// table in shared memory; a worker thread (this same file) reads it.

import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { CachedTable, PrimaryKeyIndexes } from '@tablecache/core';
import { LocalStorageTable } from '@tablecache/local';
import { PostgresAccess } from '@tablecache/postgres';
import { openSharedTable, SharedMemoryStorageTable } from '@tablecache/shared-memory';

const noteIndexes = () =>
  new PrimaryKeyIndexes({
    queryAll: { sql: 'SELECT id, body FROM notes' },
    primaryKey: (note) => note.id,
    querySome: (ids) => ({ sql: 'SELECT id, body FROM notes WHERE id = ANY($1::int[])', parameters: [ids] }),
  });

if (isMainThread) {
  const pglite = await PGlite.create();
  await pglite.exec("CREATE TABLE notes (id integer PRIMARY KEY, body text); INSERT INTO notes VALUES (1, 'hello'), (2, 'world')");
  const access = new PostgresAccess({ pglite });
  const indexes = noteIndexes();
  const notes = new CachedTable(indexes, access, new LocalStorageTable(indexes, { name: 'notes' }));
  await notes.load({ index: 'primaryKey', all: true });
  const records = await notes.getRecords({ index: 'primaryKey', keys: [2, 1] });
  console.log(records.map((note) => note.body).join(' '));

  const storage = new SharedMemoryStorageTable(indexes, { name: 'shared notes' });
  const shared = new CachedTable(indexes, access, storage);
  await shared.load({ index: 'primaryKey', all: true });
  const worker = new Worker(new URL(import.meta.url), { workerData: storage.handle() });
  const [fromWorker] = await Promise.all([
    new Promise((resolve) => worker.once('message', resolve)),
    new Promise((resolve) => worker.once('exit', resolve)),
  ]);
  console.log(`a worker read: ${fromWorker}`);
  await shared.close();
  await notes.close();
  await pglite.close();
} else {
  const notes = await openSharedTable(workerData, noteIndexes());
  parentPort.postMessage(notes.peek(2).body);
  await notes.close();
}
