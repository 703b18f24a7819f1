/**
 * Benchmarks of @tablecache/shared-memory: one table in a SharedArrayBuffer, owned by the main
 * thread and read by worker threads, against what a user would do instead, every baseline run
 * in the same run on the same data. Prints one table of ratios, like bench/run.ts.
 *
 *   pnpm bench:shared             # 1,000,000 joined rows
 *   pnpm bench:shared --quick     # 100,000 rows, shorter measurements
 *   pnpm bench:shared --rows N
 *
 * Postgres: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres). Reads take
 * random keys spread over the whole table (a precomputed array of 2^20 seeded keys), never a
 * small hot set. Read rates are medians of 3, ours and the baseline's measured in turn; memory
 * is measured in a fresh process per configuration (bench/shared-rss.ts).
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Worker } from 'node:worker_threads';
import { CachedTable } from '@tablecache/core';
import { installTriggers, PgNotifyFeed, PostgresAccess, uninstallTriggers } from '@tablecache/postgres';
import { SharedMemoryStorageTable } from '@tablecache/shared-memory';
import pg from 'pg';
import type { SharedWorkerAnswer, SharedWorkerData, SharedWorkerJob } from './shared.worker.js';
import type { RssConfiguration } from './shared-rss.js';
import { createData, JOIN, SCHEMA, type User, userIndexes, usersByKey, usersTable } from './suite/fixture.js';
import { collect, compareLoad, median, opsPerSecond, percentile, randomKeys } from './suite/measure.js';
import { benchOptions, progress } from './suite/options.js';
import { sleepUntil } from './suite/pacing.js';
import { mb, ms, printTable, type Row, rate, times } from './suite/report.js';
import { typescriptWorker } from './suite/worker.js';

const { quick, rows: N, measureMs: MEASURE_MS, databaseUrl } = benchOptions(100_000);
const REPEATS = 3;

const rows: Row[] = [];
const access = new PostgresAccess({ connectionString: databaseUrl });
const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });

progress(`creating ${N.toLocaleString('en')} users`);
await createData(access, N);
// Vacuumed now, so that autovacuum does not take a core in the middle of a measurement.
await pool.query(`VACUUM (ANALYZE) ${SCHEMA}.users, ${SCHEMA}.users_cities, ${SCHEMA}.cities`);

// Total memory, each configuration in a fresh process of its own (an owner and 4 workers), less
// the same process with 4 idle workers: what holding the table costs, all threads included.
progress('memory of an owner and 4 workers, one process per configuration');
const execFileAsync = promisify(execFile);
async function rssOf(
  configuration: RssConfiguration,
): Promise<{ rss: number; reads: number; workerHeapUsed: number; workerHeapTotal: number }> {
  const script = fileURLToPath(new URL('./shared-rss.ts', import.meta.url));
  const { stdout } = await execFileAsync(process.execPath, [...process.execArgv, script, configuration, String(N)], {
    env: { ...process.env, DATABASE_URL: databaseUrl },
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}
const idleRss = (await rssOf('idle')).rss;
const localRss = (await rssOf('local')).rss - idleRss;
const perWorkerRss = (await rssOf('local-per-worker')).rss - idleRss;
for (const configuration of ['shared', 'shared-no-decoded-cache'] as const) {
  const run = await rssOf(configuration);
  const sharedRss = run.rss - idleRss;
  const readers = `${run.reads.toLocaleString('en')} random peeks each, decodedCache ${configuration === 'shared'}`;
  rows.push({
    scenario: `owner + 4 reader workers (${readers}): total RSS`,
    ours: `${mb(sharedRss)} (the workers' heaps: ${mb(run.workerHeapUsed)} used, ${mb(run.workerHeapTotal)} committed)`,
    baseline: `${mb(localRss)} (one process with LocalStorageTable, 4 idle workers)`,
    ratio: times(sharedRss / localRss),
    target: '≤ 1.3×',
    met: sharedRss / localRss <= 1.3,
  });
  rows.push({
    scenario: `the same, against a copy per worker`,
    ours: mb(sharedRss),
    baseline: `${mb(perWorkerRss)} (4 workers each loading LocalStorageTable)`,
    ratio: times(sharedRss / perWorkerRss),
    target: '(for reference)',
    met: true,
  });
}

// Load: the shared table against the same query through pg into an array.
progress('loading the shared table');
const indexes = userIndexes();
const storage = new SharedMemoryStorageTable(indexes, { name: 'users' });
const users = new CachedTable(indexes, access, storage);
const { baselineRows, baselineLoadMs, baselineHeap, loadMs, ourHeap } = await compareLoad(
  async () => (await pool.query<User>(JOIN)).rows,
  () => users.load({ index: 'primaryKey', all: true }),
);
const memory = storage.memory;
const ourBytes = ourHeap + memory.usedBytes;
if (baselineRows.length !== N) throw new Error(`pg returned ${baselineRows.length} rows, not ${N}`);
baselineRows.length = 0; // pg's rows are not needed again: their memory is not counted below
collect();
rows.push({
  scenario: `load ${N.toLocaleString('en')} joined rows into shared storage: time`,
  ours: ms(loadMs),
  baseline: `${ms(baselineLoadMs)} (pg into an array)`,
  ratio: times(loadMs / baselineLoadMs),
  target: '≤ 1.3× the time',
  met: loadMs / baselineLoadMs <= 1.3,
});
rows.push({
  scenario: 'load: heap + shared bytes per row',
  ours: `${Math.round(ourBytes / N)} B/row (heap ${mb(ourHeap)} + shared ${mb(memory.usedBytes)} used of ${mb(memory.reservedBytes)} reserved)`,
  baseline: `${Math.round(baselineHeap / N)} B/row (heap of pg's rows array)`,
  ratio: times(ourBytes / baselineHeap),
  target: '≤ 0.4×',
  met: ourBytes / baselineHeap <= 0.4,
});

// Workers reading the shared table. Each job answers with one message.
const data: SharedWorkerData = { handle: storage.handle(), rows: N, databaseUrl };
function startWorker(): Worker {
  return typescriptWorker(new URL('./shared.worker.ts', import.meta.url), { workerData: data });
}
async function ask<A extends SharedWorkerAnswer>(worker: Worker, job: SharedWorkerJob): Promise<A> {
  const answered = once(worker, 'message') as Promise<[A]>;
  worker.postMessage(job);
  return (await answered)[0];
}
const workers = [startWorker(), startWorker()];
const [first, second] = workers as [Worker, Worker];
const at = (delayMs: number) => performance.timeOrigin + performance.now() + delayMs;

// Synchronous reads: a worker's peek against the owner's table over LocalStorageTable on the
// main thread (loaded for this, then closed). This machine is noisy: each figure is the median
// of REPEATS measurements, ours and the baseline's taken in turn.
progress('peek');
const local = usersTable(access);
await local.load({ index: 'primaryKey', all: true });
const keys = randomKeys(N);
const MASK = keys.length - 1;
const localPeeks: number[] = [];
const workerPeeks = new Map<boolean, number[]>([
  [true, []],
  [false, []],
]);
for (let repeat = 0; repeat < REPEATS; repeat++) {
  localPeeks.push(opsPerSecond((i) => local.peek(keys[i & MASK]!), MEASURE_MS));
  for (const [decodedCache, results] of workerPeeks) {
    results.push((await ask<{ opsPerSecond: number }>(first, { job: 'peek', decodedCache, ms: MEASURE_MS, startAt: 0 })).opsPerSecond);
  }
}
await local.close();
collect();
const localPeek = median(localPeeks);
for (const [decodedCache, results] of workerPeeks) {
  const workerPeek = median(results);
  rows.push({
    scenario: `peek in a worker, random keys, decodedCache ${decodedCache}`,
    ours: rate(workerPeek),
    baseline: `${rate(localPeek)} (LocalStorageTable table.peek, main thread)`,
    ratio: times(workerPeek / localPeek),
    target: '≥ 0.3×',
    met: workerPeek / localPeek >= 0.3,
  });
}

progress('getFirstRecord');
for (const decodedCache of [true, false]) {
  const answers: { getFirstRecord: number; mapGet: number }[] = [];
  for (let repeat = 0; repeat < REPEATS; repeat++) answers.push(await ask(first, { job: 'getFirstRecord', decodedCache, ms: MEASURE_MS }));
  const ours = median(answers.map((answer) => answer.getFirstRecord));
  const base = median(answers.map((answer) => answer.mapGet));
  rows.push({
    scenario: `getFirstRecord in a worker, random keys, decodedCache ${decodedCache}`,
    ours: rate(ours),
    baseline: `${rate(base)} (await of map.get in that worker)`,
    ratio: times(ours / base),
    target: '≥ 0.3×',
    met: ours / base >= 0.3,
  });
}
collect();

// Scaling: the same reads in one worker, then in two at once (the main thread idle meanwhile);
// each worker starts measuring at the same moment. The variants take turns within each repeat,
// so that what else runs on the machine weighs on them alike; medians of REPEATS aggregates. A
// Map read in each worker shows what this machine gives two threads at all.
progress('1 and 2 workers reading');
await Promise.all([first, second].map((worker) => ask(worker, { job: 'mapGet', ms: 10, startAt: 0 }))); // each builds its Map first
const variants: { readonly name: string; readonly job: (startAt: number) => SharedWorkerJob; readonly reference: boolean }[] = [
  ...[true, false].map((decodedCache) => ({
    name: `peek, random keys, decodedCache ${decodedCache}`,
    job: (startAt: number): SharedWorkerJob => ({ job: 'peek', decodedCache, ms: MEASURE_MS, startAt }),
    reference: false,
  })),
  { name: 'map.get of a Map of the records', job: (startAt) => ({ job: 'mapGet', ms: MEASURE_MS, startAt }), reference: true },
];
const alone = variants.map((): number[] => []);
const together = variants.map((): number[][] => []);
for (let repeat = 0; repeat < REPEATS; repeat++) {
  for (const [v, variant] of variants.entries()) {
    alone[v]!.push((await ask<{ opsPerSecond: number }>(first, variant.job(at(200)))).opsPerSecond);
    const both = variant.job(at(200));
    const answers = await Promise.all([first, second].map((worker) => ask<{ opsPerSecond: number }>(worker, both)));
    together[v]!.push(answers.map((answer) => answer.opsPerSecond));
  }
}
for (const [v, variant] of variants.entries()) {
  const sums = together[v]!.map((answers) => answers[0]! + answers[1]!);
  const aggregate = median(sums);
  const middle = together[v]![sums.indexOf(aggregate)]!;
  const single = median(alone[v]!);
  rows.push({
    scenario: `2 workers reading (${variant.name}): aggregate`,
    ours: `${rate(aggregate)} (${middle.map((opsPerSecond) => rate(opsPerSecond)).join(' + ')})`,
    baseline: `${rate(single)} (1 worker reading)`,
    ratio: times(aggregate / single),
    target: variant.reference ? '(for reference: what this machine gives two threads)' : '≥ 1.6× the reads/s',
    met: variant.reference || aggregate / single >= 1.6,
  });
}
await second.terminate();

// Propagation through NOTIFY, eager refresh, as bench/run.ts measures it: commit, then poll
// until the new value shows, yielding with setImmediate between polls. Each change is watched
// on the owner (the main thread polls its table) and in a worker (it polls reader.peek and
// reports when it saw the value) at once: the same commit, the same load on both.
progress('propagation');
await installTriggers(access, { tables: [`${SCHEMA}.users`], channel: 'tablecache_bench' });
const feed = new PgNotifyFeed({ connectionString: databaseUrl }, { channel: 'tablecache_bench' });
await users.watch(feed, { tables: usersByKey, refresh: 'eager' });
await users.sync();
await ask(first, { job: 'follow' });
const perSecond = 1000;
const count = quick ? perSecond : 3 * perSecond;
const ownerLatencies: number[] = [];
const workerLatencies: number[] = [];
const lags: number[] = [];
const interval = 1000 / perSecond;
const began = performance.now();
for (let i = 0; i < count; i++) {
  await sleepUntil(began + i * interval);
  const id = keys[i & MASK]!;
  const value = `changed ${i}`;
  await pool.query(`UPDATE ${SCHEMA}.users SET name = $1 WHERE user_id = $2`, [value, id]);
  const committed = performance.now();
  const seen = once(first, 'message') as Promise<[{ seenAt: number }]>;
  first.postMessage({ id, value });
  while (users.peek(id)?.name !== value) await new Promise((resolve) => setImmediate(resolve));
  const ownerSaw = performance.now();
  const workerSaw = (await seen)[0].seenAt - performance.timeOrigin;
  ownerLatencies.push(ownerSaw - committed);
  workerLatencies.push(workerSaw - committed);
  lags.push(workerSaw - ownerSaw);
}
for (const latencies of [ownerLatencies, workerLatencies, lags]) latencies.sort((a, b) => a - b);
const ownerP99 = percentile(ownerLatencies, 0.99);
const workerP99 = percentile(workerLatencies, 0.99);
const signed = (value: number) => `${value >= 0 ? '+' : '−'}${ms(Math.abs(value))}`;
rows.push({
  scenario: `propagation to a worker, eager, ${perSecond} changes/s (${count.toLocaleString('en')} changes)`,
  ours: `p50 ${ms(percentile(workerLatencies, 0.5))}, p99 ${ms(workerP99)}; behind the owner p50 ${signed(percentile(lags, 0.5))}, p99 ${signed(percentile(lags, 0.99))}`,
  baseline: `p50 ${ms(percentile(ownerLatencies, 0.5))}, p99 ${ms(ownerP99)} (commit → visible on the owner)`,
  ratio: `p99 ${signed(workerP99 - ownerP99)}`,
  target: "p99 ≤ the owner's p99 + 1 ms",
  met: workerP99 <= ownerP99 + 1,
});

await first.terminate();
await users.close();
await feed.close();
await uninstallTriggers(access, { channel: 'tablecache_bench' });
await access.execute({ sql: `DROP SCHEMA ${SCHEMA} CASCADE` });
await access.close();
await pool.end();

console.log(
  `\ntablecache shared-memory benchmarks, ${N.toLocaleString('en')} rows${quick ? ' (--quick)' : ''}, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}\n`,
);
printTable(rows);
