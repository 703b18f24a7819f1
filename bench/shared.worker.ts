/**
 * The worker thread of bench/shared.ts and bench/shared-rss.ts: it opens the owner's table from
 * the handle in `workerData` and runs the jobs the main thread posts, one at a time, answering
 * each with one message.
 */
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { PostgresAccess } from '@tablecache/postgres';
import { openSharedTable } from '@tablecache/shared-memory';
import { userIndexes, usersTable } from './suite/fixture.js';
import { asyncOpsPerSecond, collect, opsPerSecond, randomKeys } from './suite/measure.js';
import { sleepUntil } from './suite/pacing.js';

export interface SharedWorkerData {
  /** The owner's `storage.handle()`; absent in workers that open no reader. */
  readonly handle?: unknown;
  readonly rows: number;
  readonly databaseUrl: string;
}

export type SharedWorkerJob =
  /** `reader.peek` of random keys for `ms`, starting at wall-clock time `startAt` (timeOrigin + now). */
  | { readonly job: 'peek'; readonly decodedCache: boolean; readonly ms: number; readonly startAt: number }
  /** `map.get` of random keys over every record, decoded once into a Map of this thread (the machine's own scaling). */
  | { readonly job: 'mapGet'; readonly ms: number; readonly startAt: number }
  /** `reader.getFirstRecord` of random keys, and `await` of `map.get` over the same records, for `ms` each. */
  | { readonly job: 'getFirstRecord'; readonly decodedCache: boolean; readonly ms: number }
  /** Open a reader, then answer each `{ id, value }` message with when `peek(id).name` was `value`. */
  | { readonly job: 'follow' }
  /** Hold what a worker holds in a deployment, for the main thread to measure its memory. */
  | { readonly job: 'hold'; readonly what: 'nothing' | 'reader' | 'local'; readonly decodedCache: boolean; readonly reads: number };

export type SharedWorkerAnswer =
  | { readonly opsPerSecond: number }
  | { readonly getFirstRecord: number; readonly mapGet: number }
  | { readonly following: true }
  | { readonly seenAt: number }
  | { readonly holding: true; readonly heapUsed: number; readonly heapTotal: number };

const data = workerData as SharedWorkerData;
const port = parentPort!;
const keys = randomKeys(data.rows);
const MASK = keys.length - 1;
const key = (i: number) => keys[i & MASK]!;
const open = (decodedCache: boolean) => openSharedTable(data.handle, userIndexes(), { decodedCache });
const answer = (message: SharedWorkerAnswer) => port.postMessage(message);
/** What a `hold` job keeps alive until the worker ends. */
const held: unknown[] = [];
const startingAt = (startAt: number) => sleepUntil(startAt - performance.timeOrigin);

let records: Map<number, unknown> | undefined;
/** Every record, decoded once, in a Map of this thread's heap: the baselines' data. */
async function recordMap(): Promise<Map<number, unknown>> {
  if (records === undefined) {
    const plain = await open(false);
    records = new Map();
    for (let id = 1; id <= data.rows; id++) records.set(id, plain.peek(id));
    await plain.close();
  }
  return records;
}

async function run(job: SharedWorkerJob): Promise<void> {
  switch (job.job) {
    case 'peek': {
      const reader = await open(job.decodedCache);
      await startingAt(job.startAt);
      const rate = opsPerSecond((i) => reader.peek(key(i)), job.ms);
      await reader.close();
      answer({ opsPerSecond: rate });
      return;
    }
    case 'mapGet': {
      const map = await recordMap();
      await startingAt(job.startAt);
      answer({ opsPerSecond: opsPerSecond((i) => map.get(key(i)), job.ms) });
      return;
    }
    case 'getFirstRecord': {
      const map = await recordMap();
      const mapGet = async (k: number) => map.get(k);
      const reader = await open(job.decodedCache);
      const ours = await asyncOpsPerSecond((i) => reader.getFirstRecord({ index: 'primaryKey', keys: [key(i)] }), job.ms);
      const base = await asyncOpsPerSecond((i) => mapGet(key(i)), job.ms);
      await reader.close();
      answer({ getFirstRecord: ours, mapGet: base });
      return;
    }
    case 'follow': {
      const reader = await open(true);
      port.removeListener('message', onJob);
      port.on('message', async ({ id, value }: { id: number; value: string }) => {
        while (reader.peek(id)?.name !== value) await new Promise((resolve) => setImmediate(resolve));
        answer({ seenAt: performance.timeOrigin + performance.now() });
      });
      answer({ following: true });
      return;
    }
    case 'hold': {
      if (job.what === 'reader') {
        const reader = await open(job.decodedCache);
        for (let i = 0; i < job.reads; i++) held[0] = reader.peek(key(i));
        held.push(reader);
      } else if (job.what === 'local') {
        const access = new PostgresAccess({ connectionString: data.databaseUrl });
        const table = usersTable(access);
        await table.load({ index: 'primaryKey', all: true });
        held.push(access, table);
      }
      collect();
      const heap = getHeapStatistics();
      answer({ holding: true, heapUsed: heap.used_heap_size, heapTotal: heap.total_heap_size });
      return;
    }
  }
}

const onJob = (job: SharedWorkerJob) => {
  run(job).catch((error: unknown) => {
    // The main thread sees the worker's 'error' event and stops.
    setImmediate(() => {
      throw error;
    });
  });
};
port.on('message', onJob);
