/**
 * How much memory a load takes at its peak, against the memory of the loaded table.
 *
 *   pnpm bench:load-memory                  # 200,000 joined rows, server of DATABASE_URL or 127.0.0.1:5432
 *   pnpm bench:load-memory -- --rows 50000
 *
 * Needs `node --expose-gc` (the script sets it). Heap is sampled on every 1,000th record stored,
 * without forcing collection, so the peak includes garbage a real load would carry.
 */
import { CachedTable, PrimaryKeyIndexes } from '@tablecache/core';
import { LocalStorageTable } from '@tablecache/local';
import { PostgresAccess } from '@tablecache/postgres';

const rows = Number(process.argv[process.argv.indexOf('--rows') + 1]) || 200_000;
const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');

interface User {
  user_id: number;
  name: string;
  nickname: string | null;
  city_id: number | null;
  city_name: string | null;
}

const JOIN = `SELECT u.user_id, u.name, u.nickname, c.city_id, c.name AS city_name
  FROM tablecache_bench.users u
  LEFT JOIN tablecache_bench.users_cities uc ON uc.user_id = u.user_id
  LEFT JOIN tablecache_bench.cities c ON c.city_id = uc.city_id`;

const access = new PostgresAccess({ connectionString: url });
for (const statement of [
  'DROP SCHEMA IF EXISTS tablecache_bench CASCADE',
  'CREATE SCHEMA tablecache_bench',
  'CREATE TABLE tablecache_bench.cities (city_id integer PRIMARY KEY, name text NOT NULL)',
  'CREATE TABLE tablecache_bench.users (user_id integer PRIMARY KEY, name text NOT NULL, nickname text)',
  'CREATE TABLE tablecache_bench.users_cities (user_id integer PRIMARY KEY, city_id integer NOT NULL)',
  "INSERT INTO tablecache_bench.cities SELECT g, 'city ' || g FROM generate_series(1, 1000) g",
  `INSERT INTO tablecache_bench.users SELECT g, 'user name ' || g, CASE WHEN g % 3 = 0 THEN NULL ELSE 'nick' || g END FROM generate_series(1, ${rows}) g`,
  `INSERT INTO tablecache_bench.users_cities SELECT g, 1 + g % 1000 FROM generate_series(1, ${rows}) g`,
]) {
  await access.execute({ sql: statement });
}

const indexes = new PrimaryKeyIndexes<User, number>({
  primaryKey: (user) => user.user_id,
  queryAll: { sql: JOIN },
  querySome: (ids) => ({ sql: `${JOIN} WHERE u.user_id = ANY($1::int[])`, parameters: [ids] }),
});

let peak = 0;
let stored = 0;
class SampledStorage extends LocalStorageTable<User> {
  override put(record: User): boolean {
    const held = super.put(record);
    if (++stored % 1000 === 0) peak = Math.max(peak, process.memoryUsage().heapUsed);
    return held;
  }
}

gc();
const before = process.memoryUsage().heapUsed;
const table = new CachedTable(indexes, access, new SampledStorage(indexes, { name: 'users' }));
const started = performance.now();
await table.load({ index: 'primaryKey', all: true });
const seconds = (performance.now() - started) / 1000;
peak = Math.max(peak, process.memoryUsage().heapUsed);
gc();
const retained = process.memoryUsage().heapUsed - before;
const peakOverBaseline = peak - before;

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`;
console.log(`rows loaded:              ${(await table.getRecords({ index: 'primaryKey', all: true })).length}`);
console.log(`load time:                ${seconds.toFixed(2)} s (${Math.round(rows / seconds).toLocaleString('en')} rows/s)`);
console.log(`table in memory:          ${mb(retained)} (${Math.round(retained / rows)} bytes per row)`);
console.log(`peak heap during load:    ${mb(peakOverBaseline)} above the heap before the load`);
console.log(`peak / table:             ${(peakOverBaseline / retained).toFixed(2)}×`);

await table.close();
await access.execute({ sql: 'DROP SCHEMA tablecache_bench CASCADE' });
await access.close();
