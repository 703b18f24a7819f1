/**
 * One UPDATE of many rows, followed to the cache through NOTIFY: how many notifications and
 * refresh queries it costs, and how long until sync() says it is visible.
 *
 *   pnpm bench:statement -- --rows 100000     # server of DATABASE_URL or 127.0.0.1:5432
 */
import { CachedTable, PrimaryKeyIndexes } from '@tablecache/core';
import { LocalStorageTable } from '@tablecache/local';
import { installTriggers, PgNotifyFeed, PostgresAccess, uninstallTriggers } from '@tablecache/postgres';

const rows = Number(process.argv[process.argv.indexOf('--rows') + 1]) || 100_000;
const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

interface Item {
  id: number;
  label: string;
}

const access = new PostgresAccess({ connectionString: url });
await access.execute({ sql: 'DROP TABLE IF EXISTS tablecache_bench_items' });
await access.execute({ sql: 'CREATE TABLE tablecache_bench_items (id integer PRIMARY KEY, label text NOT NULL)' });
await access.execute({ sql: `INSERT INTO tablecache_bench_items SELECT g, 'v0' FROM generate_series(1, ${rows}) g` });
await installTriggers(access, { tables: ['tablecache_bench_items'], channel: 'tablecache_bench' });

for (const refresh of ['lazy', 'eager'] as const) {
  const indexes = new PrimaryKeyIndexes<Item, number>({
    primaryKey: (item) => item.id,
    queryAll: { sql: 'SELECT id, label FROM tablecache_bench_items' },
    querySome: (ids) => ({ sql: 'SELECT id, label FROM tablecache_bench_items WHERE id = ANY($1::int[])', parameters: [ids] }),
  });
  const feed = new PgNotifyFeed({ connectionString: url }, { channel: 'tablecache_bench' });
  let notifications = 0;
  feed.subscribe((event) => void (event.type === 'changes' && notifications++));
  const table = new CachedTable(indexes, access, new LocalStorageTable(indexes));
  await table.watch(feed, { tables: { tablecache_bench_items: (c) => [{ index: 'primaryKey', keys: [c.new?.id as number] }] }, refresh });
  await table.load({ index: 'primaryKey', all: true });
  const value = `v-${refresh}`;
  const started = performance.now();
  await access.execute({ sql: 'UPDATE tablecache_bench_items SET label = $1', parameters: [value] });
  const committed = performance.now();
  await table.sync();
  const synced = performance.now();
  const records = await table.getRecords({ index: 'primaryKey', all: true });
  const visible = performance.now();
  const fresh = records.filter((r) => r.label === value).length;
  console.log(
    `${refresh}: UPDATE of ${rows} rows took ${(committed - started).toFixed(0)} ms; ${notifications} notifications; ` +
      `sync() after ${(synced - committed).toFixed(0)} ms; all visible after ${(visible - committed).toFixed(0)} ms; ` +
      `${table.stats.refreshQueries} refresh queries in ${table.stats.refreshes} refreshes; ${fresh}/${rows} fresh`,
  );
  await table.close();
  await feed.close();
}

await uninstallTriggers(access, { channel: 'tablecache_bench' });
await access.execute({ sql: 'DROP TABLE tablecache_bench_items' });
await access.close();
