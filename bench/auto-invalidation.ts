/**
 * What a change costs with `tables: 'auto'`, against a hand-written mapping and against
 * invalidating the whole table: the rows refreshed per change (`stats.refreshedRows`), per query
 * shape and kind of change, all measured in one run on the same data.
 *
 *   pnpm bench:auto             # 10,000 users in 100 cities
 *   pnpm bench:auto --rows N
 *
 * Postgres: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), schema
 * tablecache_bench_auto (dropped at the end).
 */
import { CachedTable, type Change, PrimaryKeyIndexes, type PrimaryKeysSpec, type TableMapping } from '@tablecache/core';
import { LocalStorageTable } from '@tablecache/local';
import { installTriggers, PgNotifyFeed, PostgresAccess, uninstallTriggers } from '@tablecache/postgres';

const argv = process.argv.slice(2);
const rowsArg = argv.indexOf('--rows');
const N = rowsArg >= 0 ? Number(argv[rowsArg + 1]) : 10_000;
const CITIES = 100;
const S = 'tablecache_bench_auto';
const CHANNEL = 'tablecache_bench_auto';
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

interface User {
  user_id: number;
  name: string;
  city_id: number | null;
  city_name: string | null;
}

interface Shape {
  readonly name: string;
  readonly query: string;
  /** A hand-written mapping per source table, as a user would write it without 'auto'. */
  readonly handWritten: (access: PostgresAccess) => Record<string, TableMapping<PrimaryKeysSpec<number>>>;
  /** Statements, each one change, by kind. */
  readonly changes: readonly { readonly kind: string; readonly sql: (i: number) => string }[];
}

const byUser = (change: Change): PrimaryKeysSpec<number>[] => [
  { index: 'primaryKey', keys: [change.old?.user_id, change.new?.user_id].filter((id): id is number => typeof id === 'number') },
];

const usersOfCity =
  (access: PostgresAccess) =>
  async (change: Change): Promise<PrimaryKeysSpec<number>[]> => {
    const ids = [change.old?.city_id, change.new?.city_id].filter((id) => typeof id === 'number');
    const rows = await access.execute<{ user_id: number }>({
      sql: `SELECT user_id FROM ${S}.users_cities WHERE city_id = ANY($1)`,
      parameters: [ids],
    });
    return [{ index: 'primaryKey', keys: rows.map((row) => row.user_id) }];
  };

const SHAPES: readonly Shape[] = [
  {
    name: 'seed join (users ⟕ users_cities ⟕ cities)',
    query: `SELECT u.user_id, u.name, c.city_id, c.name AS city_name
      FROM ${S}.users u LEFT JOIN ${S}.users_cities uc ON uc.user_id = u.user_id LEFT JOIN ${S}.cities c ON c.city_id = uc.city_id`,
    handWritten: (access) => ({ [`${S}.users`]: byUser, [`${S}.users_cities`]: byUser, [`${S}.cities`]: usersOfCity(access) }),
    changes: [
      { kind: 'rename a city', sql: (i) => `UPDATE ${S}.cities SET name = 'renamed ${i}' WHERE city_id = ${1 + (i % CITIES)}` },
      { kind: 'rename a user', sql: (i) => `UPDATE ${S}.users SET name = 'renamed ${i}' WHERE user_id = ${1 + i}` },
      { kind: 'move a user', sql: (i) => `UPDATE ${S}.users_cities SET city_id = ${1 + ((i + 1) % CITIES)} WHERE user_id = ${1 + i}` },
    ],
  },
  {
    name: 'view over an inner join',
    query: `SELECT * FROM ${S}.located`,
    handWritten: (access) => ({ [`${S}.users`]: byUser, [`${S}.users_cities`]: byUser, [`${S}.cities`]: usersOfCity(access) }),
    changes: [
      { kind: 'rename a city', sql: (i) => `UPDATE ${S}.cities SET name = 'again ${i}' WHERE city_id = ${1 + (i % CITIES)}` },
      { kind: 'rename a user', sql: (i) => `UPDATE ${S}.users SET name = 'again ${i}' WHERE user_id = ${1 + i}` },
    ],
  },
];

const access = new PostgresAccess({ connectionString: databaseUrl });
await access.execute({
  sql: `DROP SCHEMA IF EXISTS ${S} CASCADE; CREATE SCHEMA ${S};
    CREATE TABLE ${S}.users (user_id integer PRIMARY KEY, name text NOT NULL);
    CREATE TABLE ${S}.cities (city_id integer PRIMARY KEY, name text NOT NULL);
    CREATE TABLE ${S}.users_cities (user_id integer PRIMARY KEY, city_id integer NOT NULL);
    CREATE VIEW ${S}.located AS SELECT u.user_id, u.name, c.city_id, c.name AS city_name
      FROM ${S}.users u JOIN ${S}.users_cities uc ON uc.user_id = u.user_id JOIN ${S}.cities c ON c.city_id = uc.city_id;
    INSERT INTO ${S}.cities SELECT g, 'city ' || g FROM generate_series(1, ${CITIES}) g;
    INSERT INTO ${S}.users SELECT g, 'user ' || g FROM generate_series(1, ${N}) g;
    INSERT INTO ${S}.users_cities SELECT g, 1 + g % ${CITIES} FROM generate_series(1, ${N}) g;`,
});
await installTriggers(access, { tables: [`${S}.users`, `${S}.cities`, `${S}.users_cities`], channel: CHANNEL });

const strategies = ['auto', 'hand-written', 'whole table'] as const;
const CHANGES_PER_KIND = 5;
const lines: string[][] = [['shape', 'change', ...strategies.map((strategy) => `${strategy} (rows/change)`)]];
for (const shape of SHAPES) {
  const perKind = new Map<string, number[]>();
  for (const strategy of strategies) {
    const indexes = new PrimaryKeyIndexes<User, number>({
      primaryKey: (user) => user.user_id,
      queryAll: { sql: shape.query },
      querySome: (ids) => ({ sql: `SELECT * FROM (${shape.query}) q WHERE q.user_id = ANY($1)`, parameters: [ids] }),
    });
    const table = new CachedTable(indexes, access, new LocalStorageTable(indexes));
    const feed = new PgNotifyFeed({ connectionString: databaseUrl }, { channel: CHANNEL });
    const everything = Object.fromEntries(Object.keys(shape.handWritten(access)).map((name) => [name, true as const]));
    const tables = strategy === 'auto' ? 'auto' : strategy === 'hand-written' ? shape.handWritten(access) : everything;
    await table.watch(feed, { tables });
    await table.load({ index: 'primaryKey', all: true });
    for (const [k, change] of shape.changes.entries()) {
      const before = table.stats.refreshedRows;
      for (let i = 0; i < CHANGES_PER_KIND; i++) {
        await access.execute({ sql: change.sql(k * 10 + i) });
        await table.sync();
        await table.refreshInvalid();
      }
      const rows = perKind.get(change.kind) ?? [];
      rows.push((table.stats.refreshedRows - before) / CHANGES_PER_KIND);
      perKind.set(change.kind, rows);
    }
    await table.close();
    await feed.close();
  }
  for (const [kind, rows] of perKind) lines.push([shape.name, kind, ...rows.map((n) => n.toLocaleString('en'))]);
}

await uninstallTriggers(access, { channel: CHANNEL });
await access.execute({ sql: `DROP SCHEMA ${S} CASCADE` });
await access.close();

const widths = lines[0]?.map((_, column) => Math.max(...lines.map((line) => (line[column] ?? '').length))) ?? [];
console.log(`\nrows refreshed per change, ${N.toLocaleString('en')} users in ${CITIES} cities\n`);
for (const line of lines) console.log(line.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  '));
