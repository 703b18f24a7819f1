/**
 * The benchmark suite: one table of tablecache against what a user would do instead, every
 * baseline run in the same process on the same data.
 *
 *   pnpm bench             # 1,000,000 joined rows
 *   pnpm bench --quick     # 50,000 rows, shorter measurements (under a minute)
 *   pnpm bench --rows N
 *   pnpm bench --charts docs/bench   # also draws the read rates and commit → visible latencies as SVG
 *
 * Postgres: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres). Redis: REDIS_URL
 * (default redis://127.0.0.1:6379), started if absent, else its rows say why they did not run.
 */
import { installTriggers, PgNotifyFeed, PostgresAccess, uninstallTriggers } from '@tablecache/postgres';
import pg from 'pg';
import { commitToVisibleChart, type LatencySamples, readThroughputChart, type ThroughputBar, writeChart } from './suite/charts.js';
import { createData, JOIN, SCHEMA, type User, usersByIdTable, usersByKey, usersTable } from './suite/fixture.js';
import { withMetricsAndTracing } from './suite/instrumented.js';
import { asyncOpsPerSecond, collect, compareLoad, median, opsPerSecond, percentile, random, randomKeys } from './suite/measure.js';
import { benchOptions, progress } from './suite/options.js';
import { sleepUntil } from './suite/pacing.js';
import { connectRedis } from './suite/redis.js';
import { mb, ms, notRun, p50p99, printTable, type Row, rate, times } from './suite/report.js';

const { quick, rows: N, measureMs: MEASURE_MS, databaseUrl, charts } = benchOptions(50_000);
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

const rows: Row[] = [];
// What the charts draw: the rates and latency samples behind the table's rows.
const throughput: ThroughputBar[] = [];
const propagation: LatencySamples[] = [];
const AWAITED = 'awaited read by primary key';
const SYNC = 'synchronous read by primary key';
const RANGE = 'range read of 100 consecutive records';
const access = new PostgresAccess({ connectionString: databaseUrl });
const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });

progress(`creating ${N.toLocaleString('en')} users`);
await createData(access, N);

// Load: our table against the same query through pg into an array.
progress('loading the cache');
const users = usersTable(access);
const { baselineRows, baselineLoadMs, baselineHeap, loadMs, ourHeap } = await compareLoad(
  async () => (await pool.query<User>(JOIN)).rows,
  () => users.load({ index: 'primaryKey', all: true }),
);
rows.push({
  scenario: `load ${N.toLocaleString('en')} joined rows: time`,
  ours: ms(loadMs),
  baseline: `${ms(baselineLoadMs)} (pg into an array)`,
  ratio: times(loadMs / baselineLoadMs),
  target: '≤ 1.3× the time',
  met: loadMs / baselineLoadMs <= 1.3,
});
rows.push({
  scenario: 'load: heap retained',
  ours: `${mb(ourHeap)} (${Math.round(ourHeap / N)} B/row)`,
  baseline: `${mb(baselineHeap)} (${Math.round(baselineHeap / N)} B/row)`,
  ratio: times(ourHeap / baselineHeap),
  target: '≤ 1.3× the heap',
  met: ourHeap / baselineHeap <= 1.3,
});

// Warm reads by primary key.
const next = random(42);
const keys = Array.from({ length: 65_536 }, () => 1 + Math.floor(next() * N));
const key = (i: number) => keys[i & 65_535] as number;
const map = new Map(baselineRows.map((user) => [user.user_id, user]));
const mapGet = async (k: number) => map.get(k);
progress('warm reads');
const ourAsync = await asyncOpsPerSecond((i) => users.getFirstRecord({ index: 'primaryKey', keys: [key(i)] }), MEASURE_MS);
const baseAsync = await asyncOpsPerSecond((i) => mapGet(key(i)), MEASURE_MS);
throughput.push(
  { read: AWAITED, by: 'getFirstRecord', ours: true, opsPerSecond: ourAsync },
  { read: AWAITED, by: 'await of map.get', ours: false, opsPerSecond: baseAsync },
);
rows.push({
  scenario: 'warm primary-key read, getFirstRecord',
  ours: rate(ourAsync),
  baseline: `${rate(baseAsync)} (await of map.get)`,
  ratio: times(ourAsync / baseAsync),
  target: '≥ 0.5× throughput',
  met: ourAsync / baseAsync >= 0.5,
});
const ourPeek = opsPerSecond((i) => users.peek(key(i)), MEASURE_MS);
const baseSync = opsPerSecond((i) => map.get(key(i)), MEASURE_MS);
rows.push({
  scenario: 'synchronous read by primary key, peek',
  ours: rate(ourPeek),
  baseline: `${rate(baseSync)} (map.get)`,
  ratio: times(ourPeek / baseSync),
  target: '≥ 0.5×',
  met: ourPeek / baseSync >= 0.5,
});
// The general synchronous read takes a spec (allocated per call, checked field by field) and
// returns an array: shown for reference, the key-level read above is the hot path.
const ourSync = opsPerSecond((i) => users.getRecordsSync({ index: 'primaryKey', keys: [key(i)] }), MEASURE_MS);
throughput.push(
  { read: SYNC, by: 'peek', ours: true, opsPerSecond: ourPeek },
  { read: SYNC, by: 'getRecordsSync', ours: true, opsPerSecond: ourSync },
  { read: SYNC, by: 'map.get', ours: false, opsPerSecond: baseSync },
);
rows.push({
  scenario: 'synchronous read of a spec, getRecordsSync',
  ours: rate(ourSync),
  baseline: `${rate(baseSync)} (map.get)`,
  ratio: times(ourSync / baseSync),
  target: '(for reference)',
  met: true,
});

// What metrics and tracing cost a read from memory: off and on in turn, five rounds each, which
// goes first alternating (the machine is noisy, and a later run may find the code warmer), over
// 2^20 random keys of the whole table.
progress('reads with metrics and tracing on and off');
const spread = randomKeys(N);
const spreadKey = (i: number) => spread[i & (spread.length - 1)] as number;
const instrumentation = { peek: { off: [] as number[], on: [] as number[] }, getFirstRecord: { off: [] as number[], on: [] as number[] } };
const readBoth = async (into: 'off' | 'on') => {
  instrumentation.peek[into].push(opsPerSecond((i) => users.peek(spreadKey(i)), MEASURE_MS));
  instrumentation.getFirstRecord[into].push(
    await asyncOpsPerSecond((i) => users.getFirstRecord({ index: 'primaryKey', keys: [spreadKey(i)] }), MEASURE_MS),
  );
};
for (let round = 0; round < 5; round++) {
  if (round % 2 === 0) await readBoth('off');
  await withMetricsAndTracing(() => readBoth('on'));
  if (round % 2 === 1) await readBoth('off');
}
for (const [name, { off, on }] of Object.entries(instrumentation)) {
  const ratio = median(on) / median(off);
  rows.push({
    scenario: `${name} with metrics and tracing on`,
    ours: rate(median(on)),
    baseline: `${rate(median(off))} (the same reads, off)`,
    ratio: times(ratio),
    target: '≥ 0.95× throughput',
    met: ratio >= 0.95,
  });
}

progress('reads from Postgres');
const byKey = `${JOIN} WHERE u.user_id = $1`;
const dbOps = await asyncOpsPerSecond(async (i) => (await pool.query(byKey, [key(i)])).rows[0], MEASURE_MS);
throughput.push({ read: AWAITED, by: 'Postgres: the join by key through pg', ours: false, opsPerSecond: dbOps });
for (const [name, ours] of [
  ['getFirstRecord', ourAsync],
  ['peek', ourPeek],
] as const) {
  rows.push({
    scenario: `the same read against Postgres, ${name}`,
    ours: rate(ours),
    baseline: `${rate(dbOps)} (the join by key through pg)`,
    ratio: `${times(ours / dbOps)} faster`,
    target: '≥ 500× faster',
    met: ours / dbOps >= 500,
  });
}

progress('reads from Redis');
const redis = await connectRedis(redisUrl);
if (typeof redis === 'string') {
  rows.push(notRun('the same read against Redis, pipelined', '≥ 20× the pipelined throughput', redis));
} else {
  const stored = Math.min(N, quick ? 50_000 : 200_000);
  for (let from = 1; from <= stored; from += 1000) {
    const batch = redis.multi();
    for (let id = from; id < Math.min(from + 1000, stored + 1); id++) batch.set(`tablecache-bench:${id}`, JSON.stringify(map.get(id)));
    await batch.exec();
  }
  const redisKey = (i: number) => `tablecache-bench:${1 + ((key(i) - 1) % stored)}`;
  const sequential = await asyncOpsPerSecond(async (i) => JSON.parse((await redis.get(redisKey(i))) ?? 'null'), MEASURE_MS);
  const PIPELINE = 100;
  const pipelined =
    PIPELINE *
    (await asyncOpsPerSecond(async (i) => {
      const replies = await Promise.all(Array.from({ length: PIPELINE }, (_, j) => redis.get(redisKey(i * PIPELINE + j))));
      return replies.map((reply) => JSON.parse(reply ?? 'null'));
    }, MEASURE_MS));
  throughput.push(
    { read: AWAITED, by: 'Redis: GET + JSON.parse', ours: false, opsPerSecond: sequential },
    { read: AWAITED, by: `Redis: GET + JSON.parse, pipelined ×${PIPELINE}`, ours: false, opsPerSecond: pipelined },
  );
  rows.push({
    scenario: 'the same read against Redis, sequential',
    ours: rate(ourAsync),
    baseline: `${rate(sequential)} (GET + JSON.parse)`,
    ratio: `${times(ourAsync / sequential)} faster`,
    target: '(for reference)',
    met: true,
  });
  rows.push({
    scenario: `the same read against Redis, pipelined ×${PIPELINE}`,
    ours: rate(ourAsync),
    baseline: `${rate(pipelined)} (GET + JSON.parse)`,
    ratio: `${times(ourAsync / pipelined)} faster`,
    target: '≥ 20× the pipelined throughput',
    met: ourAsync / pipelined >= 20,
  });
  for (let from = 1; from <= stored; from += 10_000) {
    await redis.del(Array.from({ length: Math.min(10_000, stored - from + 1) }, (_, j) => `tablecache-bench:${from + j}`));
  }
  await redis.quit();
}

progress('range reads');
const sorted = [...baselineRows].sort((a, b) => a.user_id - b.user_id);
const start = (i: number) => 1 + ((key(i) - 1) % (N - 100));
const baseRange = opsPerSecond((i) => sorted.slice(start(i) - 1, start(i) + 99), MEASURE_MS);
const byId = usersByIdTable(access);
await byId.load({ index: 'primaryKey', all: true });
const ourRange = opsPerSecond((i) => byId.getRecordsSync({ index: 'byId', ge: start(i), lt: start(i) + 100 }), MEASURE_MS);
throughput.push(
  { read: RANGE, by: 'getRecordsSync', ours: true, opsPerSecond: ourRange },
  { read: RANGE, by: 'slice of a sorted array', ours: false, opsPerSecond: baseRange },
);
rows.push({
  scenario: 'range read of 100 consecutive records',
  ours: rate(ourRange),
  baseline: `${rate(baseRange)} (slice of a sorted array)`,
  ratio: times(ourRange / baseRange),
  target: '≥ 0.5×',
  met: ourRange / baseRange >= 0.5,
});
await byId.close();

// The baselines' copies of the rows (an array, a Map, a sorted array) go before the latency
// scenarios: an application holds the cache, not three more copies, whose collection pauses
// would otherwise land in our tail latencies.
baselineRows.length = 0;
map.clear();
sorted.length = 0;
collect();

// Propagation through NOTIFY, eager refresh.
progress('propagation');
await installTriggers(access, { tables: [`${SCHEMA}.users`], channel: 'tablecache_bench' });
const feed = new PgNotifyFeed({ connectionString: databaseUrl }, { channel: 'tablecache_bench' });
await users.watch(feed, { tables: usersByKey, refresh: 'eager' });
await users.sync();
for (const perSecond of [100, 1000]) {
  const count = quick ? perSecond : perSecond * 3;
  const latencies: number[] = [];
  const interval = 1000 / perSecond;
  const began = performance.now();
  for (let i = 0; i < count; i++) {
    await sleepUntil(began + i * interval);
    const id = key(i);
    const value = `changed ${perSecond} ${i}`;
    await pool.query(`UPDATE ${SCHEMA}.users SET name = $1 WHERE user_id = $2`, [value, id]);
    const committed = performance.now();
    while (users.getRecordsSync({ index: 'primaryKey', keys: [id] })?.[0]?.name !== value)
      await new Promise((resolve) => setImmediate(resolve));
    latencies.push(performance.now() - committed);
  }
  latencies.sort((a, b) => a - b);
  propagation.push({ perSecond, latenciesMs: latencies });
  const p99 = percentile(latencies, 0.99);
  rows.push({
    scenario: `propagation, eager, ${perSecond} changes/s`,
    ours: p50p99(latencies),
    baseline: '—',
    ratio: '',
    target: 'commit → visible p99 ≤ 10 ms',
    met: p99 <= 10,
  });
}

// One statement changing 10,000 rows, against reloading those rows directly. A first round warms
// up both paths (JIT, plans, buffers); then the median of several, each side the same.
progress('one statement of 10,000 rows');
const changed = Array.from({ length: 10_000 }, (_, i) => 1 + i * Math.floor(N / 10_000));
const statementRuns: number[] = [];
const reloadRuns: number[] = [];
const queriesPerStatement: number[] = [];
for (let round = 0; round <= (quick ? 3 : 5); round++) {
  const before = users.stats.refreshQueries;
  await pool.query(`UPDATE ${SCHEMA}.users SET nickname = $1 WHERE user_id = ANY($2::int[])`, [`bulk ${round}`, changed]);
  let started = performance.now();
  await users.sync();
  const statementMs = performance.now() - started;
  const refreshQueries = users.stats.refreshQueries - before;
  started = performance.now();
  await pool.query(`${JOIN} WHERE u.user_id = ANY($1::int[])`, [changed]);
  const reloadMs = performance.now() - started;
  if (round === 0) continue;
  statementRuns.push(statementMs);
  reloadRuns.push(reloadMs);
  queriesPerStatement.push(refreshQueries);
}
const statementMs = median(statementRuns);
const reloadMs = median(reloadRuns);
rows.push({
  scenario: 'one statement changing 10,000 rows',
  ours: `${ms(statementMs)} commit → synced, ${Math.max(...queriesPerStatement)} refresh queries`,
  baseline: `${ms(reloadMs)} (reloading those rows)`,
  ratio: times(statementMs / reloadMs),
  target: '≤ 2× the time',
  met: statementMs / reloadMs <= 2,
});

await users.close();
await feed.close();
await uninstallTriggers(access, { channel: 'tablecache_bench' });
await access.execute({ sql: `DROP SCHEMA ${SCHEMA} CASCADE` });
await access.close();
await pool.end();

const runOf = `${N.toLocaleString('en')} rows${quick ? ' (--quick)' : ''}, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`;
if (charts !== undefined) {
  progress(`wrote ${await writeChart(charts, 'commit-to-visible', commitToVisibleChart(propagation, runOf))}`);
  progress(`wrote ${await writeChart(charts, 'read-throughput', readThroughputChart(throughput, runOf))}`);
}
console.log(`\ntablecache benchmarks, ${runOf}\n`);
printTable(rows);
