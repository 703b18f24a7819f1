import { PGlite } from '@electric-sql/pglite';
import { InvalidOptionsError, type KeyColumn } from '@tablecache/core';
import { type TestBackend, testBackends } from '@tablecache/testing';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { KeyDecodeError } from './decode-keys.js';
import { pgSecondCopy, pgTypes, setGlobalParsers } from './parsers.fixture.js';
import { PostgresAccess } from './postgres-access.js';

// pg reads a date or a timestamp without time zone as local time of this process: not UTC here,
// so a decoder that read them any other way would be caught. (Each test file has a process of its own.)
process.env.TZ = 'Pacific/Chatham';

const INT8 = 20;
const NUMERIC = 1700;
const DATE = 1082;
const TIMESTAMP = 1114;
const TIMESTAMPTZ = 1184;

/** The settings a change feed writes key texts with (DESIGN: the canonical text of a key). */
const CANONICAL_SETTINGS = {
  DateStyle: 'ISO',
  IntervalStyle: 'postgres',
  TimeZone: 'UTC',
  bytea_output: 'hex',
  extra_float_digits: '1',
};

/** One key column type, and a value of it as an SQL literal. */
const KEY_TYPES: readonly (readonly [name: string, type: string, literal: string])[] = [
  ['int2', 'int2', '-32768'],
  ['int4', 'int4', '2147483647'],
  ['int8', 'int8', '9007199254740993'], // 2^53 + 1: a Number cannot hold it
  ['numeric', 'numeric', '12345678901234567890.1250'],
  ['text', 'text', "'it''s ∑ 😀 '"],
  ['varchar', 'varchar(20)', "'a b'"],
  ['uuid', 'uuid', "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"],
  ['bool', 'bool', 'true'],
  ['date', 'date', "'2024-02-29'"],
  ['timestamp', 'timestamp', "'2024-01-02 03:04:05.123456'"],
  ['timestamptz', 'timestamptz', "'2024-01-02 03:04:05.123456+05:30'"],
  ['bytea', 'bytea', "'\\x00ff10'"],
];

/** A key of several columns mixing the types above. */
const COMPOSITE = {
  columns: 'a int8, b text, c timestamptz, d uuid, e bool, f date, g bytea',
  values: "9007199254740993, 'x', '2024-06-01 12:00:00.5+02', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', false, '1999-12-31', '\\x01'",
};

const asString = (text: string) => text;
const asNumber = (text: string) => Number(text);

/** A database as a reader sees it: its access, and a way to run SQL on the same database behind the access's back. */
interface OpenReader {
  readonly access: PostgresAccess;
  /** Runs SQL (several statements allowed) and returns the last statement's rows. */
  exec(sql: string): Promise<Record<string, unknown>[]>;
  /** Runs one statement in a session with the canonical settings and returns its first row's values. */
  canonical(sql: string): Promise<unknown[]>;
  close(): Promise<void>;
}

interface Reader {
  readonly name: string;
  readonly backend: 'postgres' | 'pglite';
  open(backend: TestBackend): Promise<OpenReader>;
}

/** A server reader: a test database, the access made by `connect`, and a session with the canonical settings. */
function serverReader(name: string, connect: (url: string) => { access: PostgresAccess; close(): Promise<void> }): Reader {
  return {
    name,
    backend: 'postgres',
    async open(backend) {
      const database = await backend.open();
      const url = (database.connection as { connectionString: string }).connectionString;
      const settings = Object.entries(CANONICAL_SETTINGS).map(([setting, value]) => `-c ${setting}=${value}`);
      const session = new pg.Client({ connectionString: url, options: settings.join(' ') });
      await session.connect();
      const { access, close } = connect(url);
      return {
        access,
        exec: (sql) => database.exec(sql),
        canonical: async (sql) => (await session.query({ text: sql, rowMode: 'array' })).rows[0] as unknown[],
        async close() {
          await close();
          await session.end();
          await database.close();
        },
      };
    },
  };
}

/** A pool with this configuration on the test database, ended with the access. */
function poolReader(name: string, config: Omit<pg.PoolConfig, 'connectionString'>): Reader {
  return serverReader(name, (url) => {
    const pool = new pg.Pool({ connectionString: url, ...config });
    const access = new PostgresAccess({ pool });
    return {
      access,
      async close() {
        await access.close();
        await pool.end();
      },
    };
  });
}

/** A PGlite of its own (its parsers and session settings are the reader's), closed with the access. */
function pgliteReader(name: string, parsers: Readonly<Record<number, (text: string) => unknown>>, settings?: string): Reader {
  return {
    name,
    backend: 'pglite',
    async open() {
      const pglite = await PGlite.create({ parsers });
      if (settings !== undefined) await pglite.exec(settings);
      const access = new PostgresAccess({ pglite });
      const set = Object.entries(CANONICAL_SETTINGS).map(([setting, value]) => `SET LOCAL ${setting} = '${value}';`);
      return {
        access,
        exec: async (sql) => ((await pglite.exec(sql)).at(-1)?.rows ?? []) as Record<string, unknown>[],
        // PGlite has one session: the settings last for one transaction, then the reader's are back.
        canonical: (sql) =>
          pglite.transaction(async (tx) => {
            await tx.exec(set.join(' '));
            return (await tx.query<unknown[]>(sql, [], { rowMode: 'array' })).rows[0]!;
          }),
        async close() {
          await access.close();
          await pglite.close();
        },
      };
    },
  };
}

const READERS: readonly Reader[] = [
  serverReader("pg's default parsers", (url) => {
    const access = new PostgresAccess({ connectionString: url });
    return { access, close: () => access.close() };
  }),
  poolReader('a pool whose types read int8 as a BigInt, numeric as a number and dates and timestamps as strings', {
    types: pgTypes({ [INT8]: BigInt, [NUMERIC]: asNumber, [DATE]: asString, [TIMESTAMP]: asString, [TIMESTAMPTZ]: asString }),
  }),
  poolReader('a pool whose types read int8 as a number', { types: pgTypes({ [INT8]: asNumber }) }),
  poolReader('a pool in another TimeZone and DateStyle reading timestamps as strings', {
    options: '-c TimeZone=Asia/Kolkata -c DateStyle=SQL,DMY',
    types: pgTypes({ [DATE]: asString, [TIMESTAMP]: asString, [TIMESTAMPTZ]: asString }),
  }),
  // pg's default date parsers read only ISO output (anything else becomes null), hence ISO here.
  poolReader("a pool in another TimeZone with pg's default parsers", { options: '-c TimeZone=America/St_Johns -c DateStyle=ISO,DMY' }),
  serverReader('a pool made by a second copy of pg whose global parsers read int8 as a BigInt and timestamptz as a string', (url) => {
    const restore = setGlobalParsers(pgSecondCopy, { [INT8]: BigInt, [TIMESTAMPTZ]: asString });
    const pool = new pgSecondCopy.Pool({ connectionString: url });
    const access = new PostgresAccess({ pool });
    return {
      access,
      async close() {
        await access.close();
        await pool.end();
        restore();
      },
    };
  }),
  serverReader('a kysely instance over a pool whose types read int8 as a BigInt', (url) => {
    const kysely = new Kysely<unknown>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, types: pgTypes({ [INT8]: BigInt }) }) }),
    });
    const access = new PostgresAccess({ kysely });
    return {
      access,
      async close() {
        await access.close();
        await kysely.destroy();
      },
    };
  }),
  pgliteReader("PGlite's default parsers", {}),
  pgliteReader('PGlite with parsers that read int8 as a BigInt, numeric as a number and timestamptz as a string', {
    [INT8]: BigInt,
    [NUMERIC]: asNumber,
    [TIMESTAMPTZ]: asString,
  }),
  pgliteReader(
    'PGlite in another TimeZone and DateStyle reading dates and timestamps as strings',
    { [DATE]: asString, [TIMESTAMP]: asString, [TIMESTAMPTZ]: asString },
    "SET TimeZone = 'Asia/Kolkata'; SET DateStyle = 'SQL, DMY'",
  ),
];

test('the second copy of pg the tests use is a module instance of its own', () => {
  expect(pgSecondCopy).not.toBe(pg);
  expect(pgSecondCopy.Pool).not.toBe(pg.Pool);
  expect(pgSecondCopy.Client).not.toBe(pg.Client);
  expect(pgSecondCopy.types).not.toBe(pg.types); // its global parsers are its own (pnpm-workspace.yaml overrides)
});

const backends = new Map(testBackends().map((backend) => [backend.name, backend]));

for (const reader of READERS) {
  const backend = backends.get(reader.backend)!;
  describe.skipIf(!backend.available)(`decodeKeys on ${backend.name} with ${reader.name}`, () => {
    let open: OpenReader;

    beforeAll(async () => {
      open = await reader.open(backend);
      for (const [name, type, literal] of KEY_TYPES) {
        await open.exec(`CREATE TABLE key_${name} (k ${type} PRIMARY KEY); INSERT INTO key_${name} VALUES (${literal})`);
      }
      await open.exec(
        `CREATE TABLE key_composite (${COMPOSITE.columns}, PRIMARY KEY (a, b, c, d, e, f, g)); INSERT INTO key_composite VALUES (${COMPOSITE.values})`,
      );
    });

    afterAll(async () => {
      await open?.close();
    });

    /** The table's one row as the access reads it, its columns with their types, and their texts in the canonical settings. */
    async function keyOf(table: string): Promise<{ row: Record<string, unknown>; columns: KeyColumn[]; texts: string[] }> {
      const [row] = await collect(open.access.getRecords<Record<string, unknown>>({ sql: `SELECT * FROM ${table}` }));
      const names = Object.keys(row!);
      const typed = await open.exec(
        `SELECT attname AS name, atttypid::int AS "typeId" FROM pg_attribute WHERE attrelid = '${table}'::regclass AND attnum > 0 ORDER BY attnum`,
      );
      const columns = typed.map(({ name, typeId }) => ({ name: name as string, typeId: typeId as number }));
      expect(columns.map((column) => column.name)).toEqual(names);
      const texts = (await open.canonical(`SELECT ${names.map((name) => `format('%s', ${name})`).join(', ')} FROM ${table}`)) as string[];
      return { row: row!, columns, texts };
    }

    test.each(KEY_TYPES.map(([name]) => name))('a %s key decodes to the value the access reads', async (name) => {
      const { row, columns, texts } = await keyOf(`key_${name}`);
      const decoded = (await open.access.decodeKeys(columns, [texts]))[0]?.[0];
      expect(decoded).toEqual(row.k);
      if (row.k instanceof Date) expect((decoded as Date).getTime()).toBe(row.k.getTime());
      if (row.k instanceof Uint8Array) expect([...(decoded as Uint8Array)]).toEqual([...row.k]);
      expect(decoded?.constructor).toBe(row.k?.constructor);
    });

    test('a composite key mixing them decodes to the values the access reads', async () => {
      const { row, columns, texts } = await keyOf('key_composite');
      const [decoded] = await open.access.decodeKeys(columns, [texts]);
      expect(decoded).toEqual(columns.map((column) => row[column.name]));
    });
  });
}

for (const backend of testBackends()) {
  describe.skipIf(!backend.available)(`decodeKeys on ${backend.name}`, () => {
    let database: Awaited<ReturnType<TestBackend['open']>>;
    let access: PostgresAccess;

    beforeAll(async () => {
      database = await backend.open();
      access = new PostgresAccess(database.connection);
      await collect(access.getRecords({ sql: 'SELECT 1' })); // on a pool, the access now knows its parsers
    });

    afterAll(async () => {
      await access?.close();
      await database?.close();
    });

    const int4 = [{ name: 'id', typeId: 23 }];

    test('keys of types whose output no session setting changes are decoded without waiting for the database', () => {
      const decoded = access.decodeKeys(
        [
          { name: 'id', typeId: 23 },
          { name: 'label', typeId: 25 },
        ],
        [
          ['1', 'a'],
          ['-2', 'b'],
        ],
      );
      expect(decoded).toEqual([
        [1, 'a'],
        [-2, 'b'],
      ]);
    });

    test('an integer written with a leading zero decodes as the database reads it', async () => {
      expect(await access.decodeKeys(int4, [['007']])).toEqual([[7]]);
    });

    test('a thousand keys of a type that takes the round trip come back in the order given', async () => {
      const dates = Array.from({ length: 1000 }, (_, i) => new Date(Date.UTC(2000, 0, 1 + i)).toISOString().slice(0, 10));
      const decoded = await access.decodeKeys(
        [{ name: 'day', typeId: DATE }],
        dates.map((day) => [day]),
      );
      const [read] = await collect(access.getRecords<{ days: Date[] }>({ sql: 'SELECT $1::date[] AS days', parameters: [dates] }));
      expect(decoded.map(([day]) => day)).toEqual(read!.days);
    });

    test('a text that is not a value of its type rejects with KeyDecodeError', async () => {
      await expect(access.decodeKeys(int4, [['1'], ['one']])).rejects.toThrow(KeyDecodeError);
    });

    test('an integer beyond its type rejects with KeyDecodeError', async () => {
      await expect(access.decodeKeys(int4, [['2147483648']])).rejects.toThrow(/out of range/);
    });

    test('a type oid the database does not have rejects with KeyDecodeError', async () => {
      await expect(access.decodeKeys([{ name: 'id', typeId: 999_999_999 }], [['1']])).rejects.toThrow(/no type with oid 999999999/);
    });

    test('a row with more values than key columns rejects with KeyDecodeError', async () => {
      await expect(access.decodeKeys(int4, [['1', '2']])).rejects.toThrow(KeyDecodeError);
    });

    test('decoding through a closed access rejects with InvalidOptionsError', async () => {
      const closed = new PostgresAccess(database.connection);
      await closed.close();
      await expect(closed.decodeKeys(int4, [['1']])).rejects.toThrow(InvalidOptionsError);
    });
  });
}

async function collect<T>(rows: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const row of rows) out.push(row);
  return out;
}
