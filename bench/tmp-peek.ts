import { CachedTable, PrimaryKeyIndexes } from '@tablecache/core';
import { MemoryDatabase } from '@tablecache/core/testing';
import { LocalStorageTable } from '@tablecache/local';
import { SharedMemoryStorageTable } from '@tablecache/shared-memory';
import { type BenchRow, benchRow } from '../packages/shared-memory/bench/bench-row.js';
import { typeScriptWorker } from '../packages/shared-memory/src/typescript-worker.fixture.js';

const ROWS = 1_000_000;
const db = new MemoryDatabase<BenchRow>((r) => r.user_id, { batchSize: 10000 });
for (let i = 0; i < ROWS; i++) db.set(benchRow(i));
const indexes = new PrimaryKeyIndexes<BenchRow, number>({ primaryKey: (r) => r.user_id, queryAll: db.queryAll, querySome: db.querySome });
const local = new CachedTable(indexes, db, new LocalStorageTable(indexes));
await local.load({ index: 'primaryKey', all: true });
let seed = 1;
let sum = 0;
for (let run = 0; run < 3; run++) {
  const t = performance.now();
  for (let i = 0; i < 2_000_000; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    sum += local.peek(100_000 + (seed % ROWS))?.city_id ?? 0;
  }
  console.log('local peek main', (2e6 / ((performance.now() - t) / 1000) / 1e6).toFixed(2), 'M/s');
}
await local.close();
const storage = new SharedMemoryStorageTable(indexes, { name: 'users' });
const owner = new CachedTable(indexes, db, storage);
await owner.load({ index: 'primaryKey', all: true });
for (const mode of ['view', 'reader', 'reader-cache']) {
  const w = typeScriptWorker(new URL('./tmp-peek-worker.ts', import.meta.url), { handle: storage.handle(), rows: ROWS, mode });
  const [m] = await new Promise<unknown[]>((r) => w.once('message', (x) => r([x])));
  console.log(mode, m);
  await w.terminate();
}
await owner.close();
console.log(sum > 0);
