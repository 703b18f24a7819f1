import { parentPort, workerData } from 'node:worker_threads';
import { PrimaryKeyIndexes } from '@tablecache/core';
import { openSharedTable, SharedStorageView } from '@tablecache/shared-memory';
import type { BenchRow } from '../packages/shared-memory/bench/bench-row.js';

const { handle, rows, mode } = workerData as { handle: unknown; rows: number; mode: string };
const q = { sql: 'x' };
const indexes = new PrimaryKeyIndexes<BenchRow, number>({ primaryKey: (r) => r.user_id, queryAll: q, querySome: () => q });
const view = SharedStorageView.open<BenchRow>(handle, indexes, {});
const reader = await openSharedTable(handle, indexes, { decodedCache: mode === 'reader-cache' });
let seed = 1;
let sum = 0;
const out: string[] = [];
for (let run = 0; run < 3; run++) {
  const t = performance.now();
  for (let i = 0; i < 1_000_000; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const key = 100_000 + (seed % rows);
    const r = mode === 'view' ? view.read((at) => at.get(key)) : reader.peek(key);
    sum += r?.city_id ?? 0;
  }
  out.push((1e6 / ((performance.now() - t) / 1000) / 1e6).toFixed(2));
}
parentPort?.postMessage(`${out.join(' ')} M/s ${sum > 0}`);
