import { PGlite } from '@electric-sql/pglite';
import { InvalidOptionsError, InvalidQueryError } from '@tablecache/core';
import { type OpenBackend, testBackends } from '@tablecache/testing';
import { CompiledQuery, Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PostgresAccess } from './postgres-access.js';

interface Item {
  id: number;
  label: string;
}
interface Database {
  items: Item;
}

async function collect<T>(rows: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const row of rows) out.push(row);
  return out;
}

for (const backend of testBackends()) {
  describe.skipIf(!backend.available)(`PostgresAccess on ${backend.name}`, () => {
    let database: OpenBackend;
    let access: PostgresAccess<Database>;

    beforeAll(async () => {
      database = await backend.open();
      await database.exec('CREATE TABLE items (id integer PRIMARY KEY, label text NOT NULL)');
      await database.exec("INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 95) g");
      access = new PostgresAccess<Database>({ ...database.connection, batchSize: 10 });
    });

    afterAll(async () => {
      await access?.close();
      await database?.close();
    });

    test('a kysely query builder streams typed rows', async () => {
      const rows = await collect(access.getRecords(access.kysely.selectFrom('items').selectAll().where('id', '<', 4).orderBy('id')));
      expect(rows).toEqual([
        { id: 1, label: 'item 1' },
        { id: 2, label: 'item 2' },
        { id: 3, label: 'item 3' },
      ]);
    });

    test("estimateRows gives the planner's estimate of a query's rows, parameters bound", async () => {
      await database.exec('ANALYZE items');
      expect(await access.estimateRows(access.kysely.selectFrom('items').selectAll())).toBe(95);
      const some = await access.estimateRows({ sql: 'SELECT * FROM items WHERE id < $1', parameters: [11] });
      expect(some).toBeGreaterThan(0);
      expect(some).toBeLessThan(95);
    });

    test('an sql template with parameters streams its rows', async () => {
      const rows = await collect(access.getRecords(sql<Item>`SELECT * FROM items WHERE id = ${7}`));
      expect(rows).toEqual([{ id: 7, label: 'item 7' }]);
    });

    test('a compiled query streams its rows', async () => {
      const rows = await collect(access.getRecords(CompiledQuery.raw('SELECT id FROM items WHERE id = $1', [8])));
      expect(rows).toEqual([{ id: 8 }]);
    });

    test('plain SQL with $1 placeholders streams its rows', async () => {
      const rows = await collect(access.getRecords({ sql: 'SELECT id FROM items WHERE id IN ($1, $2) ORDER BY id', parameters: [2, 3] }));
      expect(rows).toEqual([{ id: 2 }, { id: 3 }]);
    });

    test('plain SQL without parameters and with a trailing semicolon streams its rows', async () => {
      const rows = await collect(access.getRecords({ sql: 'SELECT count(*)::int AS n FROM items;\n' }));
      expect(rows).toEqual([{ n: 95 }]);
    });

    test('rows arrive in batches through a cursor, so rows before a failing batch are delivered', async () => {
      // Postgres computes a cursor's rows as they are fetched: row 16 fails only in the second batch.
      const received: number[] = [];
      const query = { sql: 'SELECT CASE WHEN g > 15 THEN 1 / (g - g) ELSE g END AS g FROM generate_series(1, 100) g' };
      await expect(async () => {
        for await (const row of access.getRecords<{ g: number }>(query)) received.push(row.g);
      }).rejects.toThrow(/division by zero/);
      expect(received).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    });

    test('every row of a result larger than a batch arrives once, in order', async () => {
      const rows = await collect(access.getRecords<{ id: number }>({ sql: 'SELECT id FROM items ORDER BY id' }));
      expect(rows.map((r) => r.id)).toEqual(Array.from({ length: 95 }, (_, i) => i + 1));
    });

    test('a consumer that stops early ends the stream and the next query runs', async () => {
      for await (const row of access.getRecords<{ id: number }>({ sql: 'SELECT id FROM items ORDER BY id' })) {
        expect(row.id).toBe(1);
        break;
      }
      expect(await collect(access.getRecords({ sql: 'SELECT 1 AS one' }))).toEqual([{ one: 1 }]);
    });

    test('two streams can be read at the same time', async () => {
      const a = access.getRecords<{ id: number }>({ sql: 'SELECT id FROM items ORDER BY id' })[Symbol.asyncIterator]();
      const b = access.getRecords<{ id: number }>({ sql: 'SELECT id FROM items ORDER BY id DESC' })[Symbol.asyncIterator]();
      const pairs: [number, number][] = [];
      for (let i = 0; i < 20; i++) {
        const [x, y] = await Promise.all([a.next(), b.next()]);
        pairs.push([(x.value as { id: number }).id, (y.value as { id: number }).id]);
      }
      await a.return?.();
      await b.return?.();
      expect(pairs[0]).toEqual([1, 95]);
      expect(pairs[19]).toEqual([20, 76]);
    });

    test('a database error reaches the consumer with the database message', async () => {
      await expect(collect(access.getRecords({ sql: 'SELECT * FROM no_such_table' }))).rejects.toThrow(/no_such_table/);
    });

    test.each([
      ['a number', 42],
      ['an object without sql', { text: 'SELECT 1' }],
      ['sql that is not a string', { sql: 1 }],
      ['parameters that are not an array', { sql: 'SELECT $1', parameters: 'x' }],
      ['empty SQL', { sql: ' ;' }],
    ])('%s is rejected with InvalidQueryError', (_, query) => {
      expect(() => access.getRecords(query as never)).toThrow(InvalidQueryError);
    });

    test('execute runs writes and returns their rows', async () => {
      const rows = await access.execute<Item>({ sql: "UPDATE items SET label = 'changed' WHERE id = $1 RETURNING *", parameters: [95] });
      expect(rows).toEqual([{ id: 95, label: 'changed' }]);
    });
  });
}

const [server] = testBackends();

describe.skipIf(!server?.available)('PostgresAccess with connections of its own on postgres', () => {
  let database: OpenBackend;

  beforeAll(async () => {
    database = await server!.open();
    await database.exec("CREATE TABLE items AS SELECT g AS id, 'item ' || g AS label FROM generate_series(1, 50) g");
  });

  afterAll(async () => {
    await database?.close();
  });

  const connectionString = () => (database.connection as { connectionString: string }).connectionString;

  test('the connection goes back to the pool while the consumer is still busy with the rows', async () => {
    const pool = new pg.Pool({ connectionString: connectionString(), max: 1 });
    const access = new PostgresAccess({ pool, batchSize: 10 });
    try {
      let count = 0;
      for await (const _ of access.getRecords({ sql: 'SELECT id FROM items' })) {
        if (count++ === 0) {
          // The first row is in hand; the rest must be fetched and the connection released
          // without this loop body going on.
          await until(() => pool.totalCount === 1 && pool.idleCount === 1);
        }
      }
      expect(count).toBe(50);
    } finally {
      await access.close();
      await pool.end();
    }
  });

  test('a kysely instance it was given streams through a declared cursor, in batches, and stays open', async () => {
    const pool = new pg.Pool({ connectionString: connectionString() });
    const kysely = new Kysely<{ items: { id: number; label: string } }>({ dialect: new PostgresDialect({ pool }) });
    const access = new PostgresAccess({ kysely, batchSize: 7 });
    const received: number[] = [];
    const failing = { sql: 'SELECT CASE WHEN g > 10 THEN 1 / (g - g) ELSE g END AS id FROM generate_series(1, 100) g' };
    await expect(async () => {
      for await (const row of access.getRecords<{ id: number }>(failing)) received.push(row.id);
    }).rejects.toThrow(/division by zero/);
    expect(received).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(await collect(access.getRecords(kysely.selectFrom('items').select('id').where('id', '<', 3).orderBy('id')))).toEqual([
      { id: 1 },
      { id: 2 },
    ]);
    await access.close();
    expect(await kysely.selectFrom('items').select('id').where('id', '=', 1).execute()).toEqual([{ id: 1 }]);
    await kysely.destroy();
  });

  test('destroying its kysely instance leaves a pool it was given open', async () => {
    const pool = new pg.Pool({ connectionString: connectionString(), max: 1 });
    const access = new PostgresAccess({ pool });
    await sql`SELECT 1`.execute(access.kysely);
    await access.kysely.destroy();
    expect(pool.ended).toBe(false);
    expect((await pool.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
    await access.close();
    await pool.end();
  });

  test('close leaves a kysely instance it was given usable', async () => {
    const kysely = new Kysely<{ items: { id: number } }>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: connectionString() }) }),
    });
    const access = new PostgresAccess({ kysely });
    await collect(access.getRecords({ sql: 'SELECT 1' }));
    await access.close();
    expect(await kysely.selectFrom('items').select('id').where('id', '=', 1).execute()).toEqual([{ id: 1 }]);
    await kysely.destroy();
  });

  test('close leaves a pool it was given open', async () => {
    const pool = new pg.Pool({ connectionString: connectionString(), max: 1 });
    const access = new PostgresAccess({ pool });
    await collect(access.getRecords({ sql: 'SELECT 1' }));
    await access.close();
    expect((await pool.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
    await pool.end();
  });

  test('a connection string gets a pool of its own, ended by close', async () => {
    const url = new URL(connectionString());
    url.searchParams.set('application_name', 'tablecache_own_pool');
    const access = new PostgresAccess({ connectionString: url.toString(), onIdleError: () => undefined });
    expect(await collect(access.getRecords({ sql: 'SELECT count(*)::int AS n FROM items' }))).toEqual([{ n: 50 }]);
    await access.close();
    expect(() => access.getRecords({ sql: 'SELECT 1' })).toThrow(InvalidOptionsError);
    // pg-pool's end() resolves once its clients are told to end; the server sees them go a moment later.
    await until(async () => {
      const [row] = await database.exec<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'tablecache_own_pool'",
      );
      return row?.n === 0;
    });
  });
});

describe('PostgresAccess over a PGlite it was given', () => {
  test('close leaves the PGlite open', async () => {
    const pglite = await PGlite.create();
    const access = new PostgresAccess({ pglite });
    await collect(access.getRecords({ sql: 'SELECT 1' }));
    await access.close();
    expect(pglite.closed).toBe(false);
    expect((await pglite.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
    await pglite.close();
  });

  test('destroying its kysely instance leaves the PGlite open', async () => {
    const pglite = await PGlite.create();
    const access = new PostgresAccess({ pglite });
    await sql`SELECT 1`.execute(access.kysely);
    await access.kysely.destroy();
    expect(pglite.closed).toBe(false);
    expect((await pglite.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
    await access.close();
    await pglite.close();
  });
});

describe('PostgresAccess options', () => {
  test('no connection option is rejected with InvalidOptionsError', () => {
    expect(() => new PostgresAccess({} as never)).toThrow(InvalidOptionsError);
  });

  test('two connection options are rejected with InvalidOptionsError naming both', () => {
    expect(() => new PostgresAccess({ connectionString: 'postgres://x', pool: new pg.Pool() } as never)).toThrow(
      /connectionString and pool/,
    );
  });

  test('a batch size that is not a positive integer is rejected', () => {
    expect(() => new PostgresAccess({ connectionString: 'postgres://x', batchSize: 0 })).toThrow(InvalidOptionsError);
  });

  test.each([-1, 1.5, Number.NaN, '100'])('a readTimeoutMs of %s is rejected with InvalidOptionsError', (readTimeoutMs) => {
    expect(() => new PostgresAccess({ connectionString: 'postgres://x', readTimeoutMs: readTimeoutMs as number })).toThrow(/readTimeoutMs/);
  });

  test('a logger without the four methods is rejected with InvalidOptionsError', () => {
    expect(() => new PostgresAccess({ connectionString: 'postgres://x', logger: { warn: () => {} } as never })).toThrow(/logger/);
  });

  test('connectTimeoutMs beside a pool it was given is rejected: it configures only the pool made from a connection string', () => {
    expect(() => new PostgresAccess({ pool: new pg.Pool(), connectTimeoutMs: 100 } as never)).toThrow(/connectTimeoutMs configures/);
  });
});

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe.skipIf(!server?.available)('PostgresAccess when the server ends its connections', () => {
  test('an idle connection ended by the server is reported, not thrown, and the next query reconnects', async () => {
    const database = await server!.open();
    const errors: unknown[] = [];
    const access = new PostgresAccess({
      connectionString: (database.connection as { connectionString: string }).connectionString,
      onIdleError: (error) => errors.push(error),
    });
    try {
      expect(await collect(access.getRecords({ sql: 'SELECT 1 AS one' }))).toEqual([{ one: 1 }]);
      await database.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = ''",
      );
      await until(() => errors.length > 0);
      expect(await collect(access.getRecords({ sql: 'SELECT 2 AS two' }))).toEqual([{ two: 2 }]);
    } finally {
      await access.close();
      await database.close();
    }
  });

  test('an idle connection ended by the server is one concise line on the logger', async () => {
    const database = await server!.open();
    const lines: string[] = [];
    const line = (message: string) => lines.push(message);
    const access = new PostgresAccess({
      connectionString: (database.connection as { connectionString: string }).connectionString,
      logger: { error: line, warn: line, info: line, debug: line },
    });
    try {
      expect(await collect(access.getRecords({ sql: 'SELECT 1 AS one' }))).toEqual([{ one: 1 }]);
      await database.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = ''",
      );
      await until(() => lines.length > 0);
      // The next query reconnects, so by then the dead connection has said all it will.
      expect(await collect(access.getRecords({ sql: 'SELECT 2 AS two' }))).toEqual([{ two: 2 }]);
      expect(lines).toEqual([
        'an idle database connection failed; the next query opens another: terminating connection due to administrator command (57P01)',
      ]);
    } finally {
      await access.close();
      await database.close();
    }
  });

  test("close waits for a stream its consumer left, so every connection is back in the caller's pool", async () => {
    const database = await server!.open();
    const pool = new pg.Pool({ connectionString: (database.connection as { connectionString: string }).connectionString });
    const access = new PostgresAccess({ pool, batchSize: 1 });
    const iterator = access.getRecords({ sql: 'SELECT g FROM generate_series(1, 1000) g' })[Symbol.asyncIterator]();
    await iterator.next();
    await iterator.return?.();
    await access.close();
    expect(pool.totalCount - pool.idleCount).toBe(0);
    await pool.end();
    await database.close();
  });
});
