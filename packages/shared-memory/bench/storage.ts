/**
 * Measures the shared-memory storage at 1M benchmark rows: bytes per row against a plain array
 * of the rows, put time, gets in one and two workers (with and without the decoded cache)
 * against Map.get on the main thread, and the codec against msgpackr. Medians of 3.
 *
 *     node --expose-gc --import tsx --conditions=source packages/shared-memory/bench/storage.ts
 */
import { Packr } from 'msgpackr';
import { ValueEncoder } from '../src/codec/value-encoder.js';
import { SharedMemoryStorageTable } from '../src/index.js';
import { typeScriptWorker } from '../src/typescript-worker.fixture.js';
import { type BenchRow, benchLayout, benchRow, median } from './bench-row.js';

const ROWS = Number(process.env.ROWS ?? 1_000_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');
const heap = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};
const print = (what: string, value: string) => process.stdout.write(`${what.padEnd(58)} ${value}\n`);

// Baseline: a plain array of the row objects.
const before = heap();
let rows: BenchRow[] | undefined = Array.from({ length: ROWS }, (_, i) => benchRow(i));
const arrayBytes = (heap() - before) / ROWS;
print('plain JS array of row objects, heap bytes/row', arrayBytes.toFixed(1));
const map = new Map(rows.map((row) => [row.user_id, row]));
const mapGets: number[] = [];
for (let run = 0; run < 3; run++) {
  let seed = 12345;
  let sum = 0;
  const start = performance.now();
  for (let i = 0; i < 2_000_000; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    sum += map.get(100_000 + (seed % ROWS))?.city_id ?? 0;
  }
  mapGets.push(2_000_000 / ((performance.now() - start) / 1000));
  if (sum < 0) print('', '');
}
const mapOps = median(mapGets);
print('Map.get, main thread, ops/s', mapOps.toFixed(0));
map.clear();

// Codec: ns per record and bytes per record, against msgpackr with records.
{
  const sample = rows.slice(0, 100_000);
  const table = new SharedMemoryStorageTable(benchLayout, { initialBytes: 64 << 20 });
  const encoder = new ValueEncoder({ shapeOf: () => 0 });
  const packr = new Packr({ useRecords: true });
  const times: Record<string, number[]> = { ownEncode: [], ownDecode: [], msgpackrEncode: [], msgpackrDecode: [] };
  let ownBytes = 0;
  let msgpackBytes = 0;
  const packed = sample.map((row) => packr.pack(row));
  for (const run of [0, 1, 2]) {
    let start = performance.now();
    ownBytes = 0;
    for (const row of sample) ownBytes += encoder.encode(row).length;
    times.ownEncode?.push(((performance.now() - start) * 1e6) / sample.length);
    start = performance.now();
    msgpackBytes = 0;
    for (const row of sample) msgpackBytes += packr.pack(row).length;
    times.msgpackrEncode?.push(((performance.now() - start) * 1e6) / sample.length);
    start = performance.now();
    for (const buffer of packed) packr.unpack(buffer);
    times.msgpackrDecode?.push(((performance.now() - start) * 1e6) / sample.length);
    if (run === 0) for (const row of sample) table.put(row);
    start = performance.now();
    table.getRecords({ kind: 'all' });
    times.ownDecode?.push(((performance.now() - start) * 1e6) / sample.length);
  }
  print('own codec: encode ns/record', median(times.ownEncode ?? []).toFixed(0));
  print('own codec: decode ns/record (getRecords all, from shared memory)', median(times.ownDecode ?? []).toFixed(0));
  print('own codec: bytes/record', (ownBytes / sample.length).toFixed(1));
  print('msgpackr (records): encode ns/record', median(times.msgpackrEncode ?? []).toFixed(0));
  print('msgpackr (records): decode ns/record', median(times.msgpackrDecode ?? []).toFixed(0));
  print('msgpackr (records): bytes/record', (msgpackBytes / sample.length).toFixed(1));
}

// Fill by put, three times; the last table stays for the reads.
const fills: number[] = [];
let table: SharedMemoryStorageTable<BenchRow> | undefined;
let retained = 0;
for (let run = 0; run < 3; run++) {
  table = undefined;
  const base = heap();
  const start = performance.now();
  const filling = new SharedMemoryStorageTable(benchLayout);
  for (const row of rows) filling.put(row);
  fills.push(((performance.now() - start) * 1e6) / ROWS);
  table = filling;
  retained = heap() - base;
}
if (table === undefined) throw new Error('no table');
print('put, ns/row (1M fill)', median(fills).toFixed(0));
rows = undefined;
const { usedBytes, reservedBytes } = table.memory;
print('shared bytes/row used (reserved)', `${(usedBytes / ROWS).toFixed(1)} (${(reservedBytes / ROWS).toFixed(1)})`);
print('owner heap retained/row', (retained / ROWS).toFixed(2));
print('(shared used + retained heap) / plain array', ((usedBytes / ROWS + retained / ROWS) / arrayBytes).toFixed(3));

const handle = table.handle();
async function workers(count: number, decodedCache: boolean): Promise<number> {
  const runs: number[] = [];
  for (let run = 0; run < 3; run++) {
    const results = await Promise.all(
      Array.from(
        { length: count },
        () =>
          new Promise<number>((resolve, reject) => {
            const worker = typeScriptWorker(new URL('./read-worker.ts', import.meta.url), { handle, rows: ROWS, ms: 1500, decodedCache });
            worker.once('message', (message: { opsPerSecond: number }) => {
              resolve(message.opsPerSecond);
              void worker.terminate();
            });
            worker.once('error', reject);
          }),
      ),
    );
    runs.push(results.reduce((a, b) => a + b, 0));
  }
  return median(runs);
}
for (const decodedCache of [false, true]) {
  const one = await workers(1, decodedCache);
  const two = await workers(2, decodedCache);
  const label = decodedCache ? 'with decoded cache' : 'no cache';
  print(`view.read(get) in 1 worker, ${label}, ops/s`, `${one.toFixed(0)} (${(one / mapOps).toFixed(2)}x Map.get)`);
  print(`view.read(get) in 2 workers, ${label}, ops/s total`, `${two.toFixed(0)} (${(two / one).toFixed(2)}x one worker)`);
}
