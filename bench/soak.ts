/**
 * A soak: a cached table under steady changes for a few minutes, with readers and sync() calls,
 * sampling the heap after a collection every 10 seconds. Bounded heap means the last samples
 * sit where the first ones did; the run ends by checking the cache against the database.
 *
 *   pnpm soak -- --minutes 3 --rate 500     # server of DATABASE_URL or 127.0.0.1:5432
 */
import { CachedTable, PrimaryKeyIndexes } from '@tablecache/core';
import { LocalStorageTable } from '@tablecache/local';
import { installTriggers, PgNotifyFeed, PostgresAccess, uninstallTriggers } from '@tablecache/postgres';
import pg from 'pg';
import { sleepUntil } from './suite/pacing.js';

const argument = (name: string, fallback: number) => {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
};
const minutes = argument('minutes', 3);
const rate = argument('rate', 500); // statements per second
const rows = argument('rows', 20_000);
const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc (pnpm soak does)');

interface Item {
  id: number;
  label: string;
  version: number;
}

const access = new PostgresAccess({ connectionString: url });
await access.execute({ sql: 'DROP TABLE IF EXISTS tablecache_soak_items' });
await access.execute({ sql: 'CREATE TABLE tablecache_soak_items (id integer PRIMARY KEY, label text NOT NULL, version integer NOT NULL)' });
await access.execute({ sql: `INSERT INTO tablecache_soak_items SELECT g, 'v0', 0 FROM generate_series(1, ${rows}) g` });
await installTriggers(access, { tables: ['tablecache_soak_items'], channel: 'tablecache_soak' });

const select = 'SELECT id, label, version FROM tablecache_soak_items';
const indexes = new PrimaryKeyIndexes<Item, number>({
  primaryKey: (item) => item.id,
  queryAll: { sql: `${select} ORDER BY id` },
  querySome: (ids) => ({ sql: `${select} WHERE id = ANY($1::int[])`, parameters: [ids] }),
});
const feed = new PgNotifyFeed({ connectionString: url }, { channel: 'tablecache_soak' });
const table = new CachedTable(indexes, access, new LocalStorageTable(indexes, { name: 'soak' }));
const byId = (change: { old?: Record<string, unknown>; new?: Record<string, unknown> }) => [
  { index: 'primaryKey' as const, keys: [change.old?.id, change.new?.id].filter((id): id is number => typeof id === 'number') },
];
await table.watch(feed, { tables: { tablecache_soak_items: byId }, refresh: 'eager' });
await table.load({ index: 'primaryKey', all: true });

const writers = new pg.Pool({ connectionString: url, max: 4 });
writers.on('error', () => undefined);
const random = (n: number) => 1 + Math.floor(Math.random() * n);
let running = true;
let statements = 0;
let reads = 0;

/** One statement: mostly single-row updates, some 100-row updates, some deletes that are put back. */
async function write(): Promise<void> {
  const dice = Math.random();
  const id = random(rows);
  if (dice < 0.9) {
    await writers.query('UPDATE tablecache_soak_items SET version = version + 1, label = $2 WHERE id = $1', [id, `v${statements}`]);
  } else if (dice < 0.95) {
    await writers.query('UPDATE tablecache_soak_items SET version = version + 1 WHERE id BETWEEN $1 AND $1 + 99', [id]);
  } else {
    await writers.query('DELETE FROM tablecache_soak_items WHERE id = $1', [id]);
    await writers.query("INSERT INTO tablecache_soak_items VALUES ($1, 'back', 0) ON CONFLICT DO NOTHING", [id]);
  }
  statements++;
}

const writing = (async () => {
  const interval = 1000 / rate;
  let next = performance.now();
  while (running) {
    next += interval;
    await write();
    await sleepUntil(next);
  }
})();

const reading = (async () => {
  while (running) {
    for (let i = 0; i < 1000; i++) {
      const id = random(rows);
      table.peek(id) ?? (await table.getRecords({ index: 'primaryKey', keys: [id] }));
      reads++;
    }
    // A loop of reads answered from memory never yields: let the feed and the writers run.
    await new Promise((resolve) => setImmediate(resolve));
  }
})();

const samples: { seconds: number; heapMB: number }[] = [];
const started = performance.now();
const end = started + minutes * 60_000;
while (performance.now() < end) {
  await new Promise((resolve) => setTimeout(resolve, 10_000));
  await table.sync();
  gc();
  const heapMB = process.memoryUsage().heapUsed / 2 ** 20;
  const seconds = Math.round((performance.now() - started) / 1000);
  samples.push({ seconds, heapMB });
  console.log(
    `${String(seconds).padStart(4)} s  heap ${heapMB.toFixed(1)} MB  ${statements} statements  ${reads} reads  ${table.stats.refreshes} refreshes`,
  );
}
running = false;
await Promise.all([writing, reading]);
await table.sync();
const cached = await table.getRecords({ index: 'primaryKey', all: true });
const { rows: database } = await writers.query<Item>(`${select} ORDER BY id`);
const equal = JSON.stringify([...cached].sort((a, b) => a.id - b.id)) === JSON.stringify(database);

const third = Math.max(1, Math.floor(samples.length / 3));
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const first = median(samples.slice(0, third).map((s) => s.heapMB));
const last = median(samples.slice(-third).map((s) => s.heapMB));
console.log(
  `\n${minutes} min, ${statements} statements (${(statements / (minutes * 60)).toFixed(0)}/s), ${reads} reads: ` +
    `heap median ${first.toFixed(1)} MB in the first third, ${last.toFixed(1)} MB in the last (${((last / first - 1) * 100).toFixed(1)}%); ` +
    `cache equals database after sync: ${equal ? 'yes' : 'NO'}`,
);

await table.close();
await feed.close();
await writers.end();
await uninstallTriggers(access, { channel: 'tablecache_soak' });
await access.execute({ sql: 'DROP TABLE tablecache_soak_items' });
await access.close();
if (!equal) process.exitCode = 1;
