import { PGlite } from '@electric-sql/pglite';
import {
  CachedTable,
  type Change,
  type DbAccess,
  DuplicateKeyError,
  hashKey,
  type Key,
  PrimaryKeyIndexes,
  type Query,
} from '@tablecache/core';
import { LocalStorageTable } from '@tablecache/local';
import { type OpenBackend, testBackends } from '@tablecache/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PgNotifyFeed } from './notify/pg-notify-feed.js';
import { type Parsers, pgSecondCopy, pgTypes, setGlobalParsers } from './parsers.fixture.js';
import { PostgresAccess } from './postgres-access.js';
import { installTriggers } from './triggers/install-triggers.js';

/**
 * A change's keys always match the keys records are stored under, whatever parses the rows: for
 * each key type and each way of parsing it, rows are updated, deleted and given a new primary
 * key behind the cache's back, and after every `sync()` the cache equals the database, with
 * no error and no whole-table reload (which would hide a key that failed to match).
 */

interface KeyCase {
  readonly name: string;
  /** Column definitions of the key, e.g. `k int8` or `a int4, b text`. */
  readonly columns: string;
  /** Two distinct keys as SQL row values, e.g. `(1)` or `(1, 'x')`. */
  readonly keys: readonly [string, string];
}

const cases: readonly KeyCase[] = [
  { name: 'int2', columns: 'k int2', keys: ['(1)', '(2)'] },
  { name: 'int4', columns: 'k int4', keys: ['(1)', '(-2147483648)'] },
  { name: 'int8', columns: 'k int8', keys: ['(9007199254740991)', '(-5)'] },
  { name: 'numeric', columns: 'k numeric', keys: ['(1.50)', '(-3.25)'] },
  { name: 'text', columns: 'k text', keys: [`('a b')`, `('ç"\\')`] },
  { name: 'varchar', columns: 'k varchar(20)', keys: [`('x')`, `('y ')`] },
  { name: 'uuid', columns: 'k uuid', keys: [`('3f0c6b0e-1b2a-4c3d-9e8f-0123456789ab')`, `('00000000-0000-0000-0000-000000000001')`] },
  { name: 'bool', columns: 'k bool', keys: ['(true)', '(false)'] },
  { name: 'date', columns: 'k date', keys: [`('2024-01-02')`, `('1999-12-31')`] },
  { name: 'timestamp', columns: 'k timestamp', keys: [`('2024-01-02 03:04:05.123')`, `('2024-01-02 03:04:05.124')`] },
  { name: 'timestamptz', columns: 'k timestamptz', keys: [`('2024-01-02 03:04:05.123+00')`, `('2024-06-30 23:59:59.999-07')`] },
  { name: 'bytea', columns: 'k bytea', keys: [`('\\x0102ff')`, `('\\x')`] },
  {
    name: 'a composite of int4, text and timestamptz',
    columns: 'a int4, b text, c timestamptz',
    keys: [`(1, 'x', '2024-01-02 00:00:00+00')`, `(1, 'y', '2024-01-02 00:00:00+00')`],
  },
];

/** The writer's session differs from the reader's on every setting that changes how values are written as text. */
const WRITER_SETTINGS =
  "SET LOCAL DateStyle = 'SQL, DMY'; SET LOCAL TimeZone = 'America/New_York'; SET LOCAL bytea_output = 'escape'; SET LOCAL IntervalStyle = 'sql_standard';";

/** Ways of parsing rows a user may give PostgresAccess, each with the parsers its pool (or PGlite) uses. */
const serverParsers: readonly { readonly name: string; readonly parsers: Parsers | undefined; readonly only?: readonly string[] }[] = [
  { name: "pg's default parsers", parsers: undefined },
  { name: 'a pool parsing int8 as BigInt', parsers: { 20: BigInt }, only: ['int8'] },
  { name: 'a pool parsing int8 as Number', parsers: { 20: Number }, only: ['int8'] },
  { name: 'a pool parsing numeric as Number', parsers: { 1700: Number }, only: ['numeric'] },
  {
    name: 'a pool keeping dates and timestamps as strings',
    parsers: { 1082: String, 1114: String, 1184: String },
    only: ['date', 'timestamp', 'timestamptz', 'a composite of int4, text and timestamptz'],
  },
];

function poolWithParsers(connectionString: string, parsers: Parsers | undefined): pg.Pool {
  const pool = new pg.Pool({ connectionString, max: 3, ...(parsers && { types: pgTypes(parsers) }) });
  pool.on('error', () => undefined);
  return pool;
}

/** The key's columns: name and SQL type. */
const keyColumns = (keyCase: KeyCase) =>
  keyCase.columns.split(',').map((definition) => {
    const [name, ...type] = definition.trim().split(' ');
    return { name: name as string, type: type.join(' ') };
  });

/** The table of one case: its key columns and a label, cached by its key (a tuple when composite). */
function cachedKeys(keyCase: KeyCase, access: PostgresAccess, table: string) {
  type Row = Record<string, unknown>;
  const columns = keyColumns(keyCase);
  const names = columns.map((column) => column.name).join(', ');
  const keyOf = (row: Row): Key =>
    columns.length === 1 ? (row[columns[0]?.name as string] as Key) : (columns.map((column) => row[column.name]) as Key);
  const select = `SELECT ${names}, label FROM ${table}`;
  const queryAll = { sql: select };
  const indexes = new PrimaryKeyIndexes<Row, Key>({
    primaryKey: keyOf,
    queryAll,
    // The keys go back as parameters, one array per column, as the access decoded them.
    querySome: (keys): Query<Row> => ({
      sql: `${select} WHERE (${names}) IN (SELECT * FROM unnest(${columns.map((column, i) => `$${i + 1}::${column.type}[]`).join(', ')}))`,
      parameters: columns.map((_, i) => keys.map((key) => (columns.length === 1 ? key : (key as readonly unknown[])[i]))),
    }),
  });
  const errors: unknown[] = [];
  // The same access, counting whole-table reloads: a key that failed to match would cause one.
  const reloads = { count: 0 };
  const counting: DbAccess = {
    getRecords: (query) => access.getRecords(query),
    getRecordBatches: (query) => {
      if (query === queryAll) reloads.count++;
      return access.getRecordBatches(query);
    },
    decodeKeys: access.decodeKeys,
  };
  const cached = new CachedTable(indexes, counting, new LocalStorageTable(indexes, { name: table }));
  const mapping = (change: Change) => [
    { index: 'primaryKey' as const, keys: [change.old, change.new].flatMap((row) => (row === undefined ? [] : [keyOf(row)])) },
  ];
  return { cached, errors, mapping, keyOf, select, reloads };
}

const sortByKey = <T>(rows: readonly T[], keyOf: (row: T) => Key) =>
  [...rows].sort((a, b) => String(hashKey(keyOf(a))).localeCompare(String(hashKey(keyOf(b)))));

async function followsEveryChange(
  keyCase: KeyCase,
  backend: OpenBackend,
  access: PostgresAccess,
  table: string,
  write: (sql: string) => Promise<unknown>,
) {
  const names = keyColumns(keyCase)
    .map((column) => column.name)
    .join(', ');
  const [first, second] = keyCase.keys;
  const withLabel = (key: string, label: string) => key.replace(/\)$/, `, '${label}')`);
  await backend.exec(`CREATE TABLE ${table} (${keyCase.columns}, label text NOT NULL, PRIMARY KEY (${names}))`);
  await backend.exec(`INSERT INTO ${table} (${names}, label) VALUES ${withLabel(first, 'one')}, ${withLabel(second, 'two')}`);
  await installTriggers(access, { tables: [table] });
  const feed = new PgNotifyFeed(backend.connection);
  const { cached, errors, mapping, keyOf, select, reloads } = cachedKeys(keyCase, access, table);
  try {
    await cached.watch(feed, { tables: { [table]: mapping }, refresh: 'eager', onError: (error) => errors.push(error) });
    await cached.load({ index: 'primaryKey', all: true });
    reloads.count = 0;
    const steps = [
      `UPDATE ${table} SET label = 'updated' WHERE (${names}) = ${first}`,
      `DELETE FROM ${table} WHERE (${names}) = ${second}`,
      `UPDATE ${table} SET (${names}) = ROW${second} WHERE (${names}) = ${first}`,
      `INSERT INTO ${table} (${names}, label) VALUES ${withLabel(first, 'back')}`,
    ];
    for (const step of steps) {
      await write(step);
      await cached.sync();
      const database = await access.execute<Record<string, unknown>>({ sql: select });
      expect(sortByKey(cached.getRecordsSync({ index: 'primaryKey', all: true }) ?? [], keyOf), step).toEqual(sortByKey(database, keyOf));
      for (const row of database) expect(cached.peek(keyOf(row)), step).toEqual(row);
    }
    expect(errors).toEqual([]);
    // Each step refreshed its keys, not the whole table (as a key that failed to match would).
    expect(reloads.count).toBe(0);
  } finally {
    await cached.close();
    await feed.close();
  }
}

for (const backend of testBackends()) {
  describe.skipIf(!backend.available)(`change keys match cached keys on ${backend.name}`, () => {
    let database: OpenBackend;
    let access: PostgresAccess;
    let count = 0;
    const tableName = () => `keys_${++count}`;

    beforeAll(async () => {
      database = await backend.open();
      access = new PostgresAccess(database.connection);
    });

    afterAll(async () => {
      await access?.close();
      await database?.close();
    });

    const writeAsAnotherSession = (sql: string) => database.exec(`BEGIN; ${WRITER_SETTINGS} ${sql}; COMMIT`);

    test('timestamptz keys a microsecond apart, one Date apart from each other, are refused at load with DuplicateKeyError naming the key', async () => {
      const table = tableName();
      await database.exec(`CREATE TABLE ${table} (k timestamptz PRIMARY KEY, label text NOT NULL)`);
      await database.exec(`INSERT INTO ${table} VALUES ('2024-01-02 03:04:05.123001+00', 'a'), ('2024-01-02 03:04:05.123002+00', 'b')`);
      const { cached } = cachedKeys(cases.find((c) => c.name === 'timestamptz') as KeyCase, access, table);
      const loading = cached.load({ index: 'primaryKey', all: true });
      await expect(loading).rejects.toThrow(DuplicateKeyError);
      await expect(loading).rejects.toThrow('more than one row with primary key "2024-01-02T03:04:05.123Z"');
      await cached.close();
    });

    for (const keyCase of cases) {
      test(`${keyCase.name} keys, written by a session with other DateStyle, TimeZone and bytea_output, survive update, delete and a key change`, async () => {
        await followsEveryChange(keyCase, database, access, tableName(), writeAsAnotherSession);
      });
    }

    if (backend.name === 'postgres') {
      test('int8 keys read through a pool of a second copy of pg, whose global parsers read int8 as BigInt, survive update, delete and a key change', async () => {
        const restore = setGlobalParsers(pgSecondCopy, { 20: BigInt });
        const pool = new pgSecondCopy.Pool({
          connectionString: (database.connection as { connectionString: string }).connectionString,
          max: 3,
        });
        pool.on('error', () => undefined);
        const given = new PostgresAccess({ pool });
        try {
          await followsEveryChange(cases.find((c) => c.name === 'int8') as KeyCase, database, given, tableName(), writeAsAnotherSession);
        } finally {
          await given.close();
          await pool.end();
          restore();
        }
      });

      for (const { name, parsers, only } of serverParsers.filter((variant) => variant.parsers !== undefined)) {
        for (const keyCase of cases.filter((c) => only?.includes(c.name) ?? true)) {
          test(`${keyCase.name} keys read through ${name} survive update, delete and a key change`, async () => {
            const pool = poolWithParsers((database.connection as { connectionString: string }).connectionString, parsers);
            const given = new PostgresAccess({ pool });
            try {
              await followsEveryChange(keyCase, database, given, tableName(), writeAsAnotherSession);
            } finally {
              await given.close();
              await pool.end();
            }
          });
        }
      }
    } else {
      test('int8 keys read through a PGlite parsing int8 as BigInt survive update, delete and a key change', async () => {
        const pglite = await PGlite.create({ parsers: { 20: (text: string) => BigInt(text) } });
        const own: OpenBackend = {
          name: 'pglite',
          connection: { pglite },
          exec: async <T>(sql: string) => ((await pglite.exec(sql)).at(-1)?.rows ?? []) as T[],
          close: () => pglite.close(),
        };
        const given = new PostgresAccess({ pglite });
        try {
          await followsEveryChange(cases.find((c) => c.name === 'int8') as KeyCase, own, given, tableName(), (sql) =>
            own.exec(`BEGIN; ${WRITER_SETTINGS} ${sql}; COMMIT`),
          );
        } finally {
          await given.close();
          await pglite.close();
        }
      });
    }
  });
}
