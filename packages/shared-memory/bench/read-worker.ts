import { parentPort, workerData } from 'node:worker_threads';
import { SharedStorageView } from '../src/index.js';
import { type BenchRow, benchLayout } from './bench-row.js';

/** Reads random keys for `ms` and reports reads per second. */
const { handle, rows, ms, decodedCache } = workerData as { handle: unknown; rows: number; ms: number; decodedCache: boolean };
const view = SharedStorageView.open<BenchRow>(handle, benchLayout, { decodedCache });
let seed = 12345;
let reads = 0;
let sum = 0;
// Warm up, then measure.
for (const phase of ['warm', 'measure'] as const) {
  const start = performance.now();
  const until = start + (phase === 'warm' ? 300 : ms);
  reads = 0;
  while (performance.now() < until) {
    for (let i = 0; i < 1000; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const key = 100_000 + (seed % rows);
      const row = view.read((at) => at.get(key));
      sum += row === undefined ? 0 : row.city_id;
    }
    reads += 1000;
  }
  if (phase === 'measure') parentPort?.postMessage({ opsPerSecond: reads / ((performance.now() - start) / 1000), sum });
}
