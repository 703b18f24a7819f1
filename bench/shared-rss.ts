/**
 * One configuration of bench/shared.ts's memory scenario, in a process of its own (resident
 * memory does not shrink back reliably, so each configuration gets a fresh process): a main
 * thread and 4 worker threads, each holding what the configuration says; prints the process's
 * RSS, all threads included, as JSON on stdout.
 *
 *   node --expose-gc --import tsx bench/shared-rss.ts idle|local|local-per-worker|shared|shared-no-decoded-cache ROWS
 *
 * Every configuration loads the same modules on every thread, so the idle one's RSS is the cost
 * of the process and its threads without any table.
 */
import { once } from 'node:events';
import { CachedTable } from '@tablecache/core';
import { PostgresAccess } from '@tablecache/postgres';
import { SharedMemoryStorageTable } from '@tablecache/shared-memory';
import type { SharedWorkerData, SharedWorkerJob } from './shared.worker.js';
import { userIndexes, usersTable } from './suite/fixture.js';
import { collect } from './suite/measure.js';
import { typescriptWorker } from './suite/worker.js';

export type RssConfiguration = 'idle' | 'local' | 'local-per-worker' | 'shared' | 'shared-no-decoded-cache';
export const RSS_WORKERS = 4;

const [configuration, rowsArg] = process.argv.slice(2) as [RssConfiguration, string];
const rows = Number(rowsArg);
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const access = new PostgresAccess({ connectionString: databaseUrl });

let table: { close(): Promise<void> } | undefined;
let handle: unknown;
if (configuration === 'local') {
  const local = usersTable(access);
  await local.load({ index: 'primaryKey', all: true });
  table = local;
} else if (configuration === 'shared' || configuration === 'shared-no-decoded-cache') {
  const indexes = userIndexes();
  const storage = new SharedMemoryStorageTable(indexes, { name: 'users' });
  const shared = new CachedTable(indexes, access, storage);
  await shared.load({ index: 'primaryKey', all: true });
  table = shared;
  handle = storage.handle();
}

const what = handle !== undefined ? 'reader' : configuration === 'local-per-worker' ? 'local' : 'nothing';
const decodedCache = configuration === 'shared';
/** Each reader reads this many random keys before the measurement, as a serving worker would. */
const reads = Math.min(rows, 100_000);
const data: SharedWorkerData = { handle, rows, databaseUrl };
const workers = Array.from({ length: RSS_WORKERS }, () =>
  typescriptWorker(new URL('./shared.worker.ts', import.meta.url), { workerData: data }),
);
const heaps = await Promise.all(
  workers.map(async (worker) => {
    const job: SharedWorkerJob = { job: 'hold', what, decodedCache, reads };
    worker.postMessage(job);
    const [held] = (await once(worker, 'message')) as [{ heapUsed: number; heapTotal: number }];
    return held;
  }),
);
const workerHeapUsed = heaps.reduce((sum, heap) => sum + heap.heapUsed, 0);
const workerHeapTotal = heaps.reduce((sum, heap) => sum + heap.heapTotal, 0);
collect();
await new Promise((resolve) => setTimeout(resolve, 500));
collect();
const { rss, heapUsed } = process.memoryUsage();
process.stdout.write(`${JSON.stringify({ configuration, rss, heapUsed, workerHeapUsed, workerHeapTotal, reads })}\n`);

await Promise.all(workers.map((worker) => worker.terminate()));
await table?.close();
await access.close();
