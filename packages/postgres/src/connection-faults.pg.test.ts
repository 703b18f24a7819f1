import { type AddressInfo, createServer, type Socket } from 'node:net';
import type { Logger } from '@tablecache/core';
import { type OpenBackend, testBackends } from '@tablecache/testing';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { ReadTimeoutError } from './checked-out-client.js';
import { type Item, itemTable } from './items.fixture.js';
import { PostgresAccess } from './postgres-access.js';

const ROWS = 20_000;
/** The access's connections carry this name, so the test kills only them (other tests share the server). */
const ACCESS_APP = 'tablecache_fault_access';

/** Rows 1 and 2 at once, then a pause of 5 s before row 3: longer than the read timeouts below. */
const PAUSE_AT_THREE = 'SELECT g, CASE WHEN g = 3 THEN (SELECT 0 FROM pg_sleep(5)) END AS paused FROM generate_series(1, 4) g';

/** The idle connections these tests kill are reported on the logger; that is tested elsewhere. */
const QUIET: Logger = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };

const [server] = testBackends();

describe.skipIf(!server?.available)('PostgresAccess when its connections die while rows stream', () => {
  let database: OpenBackend;
  /** The test's own connection, never killed: it kills the others and checks the data. */
  let admin: pg.Client;
  let access: PostgresAccess;

  beforeEach(async () => {
    database = await server!.open();
    await database.exec(`CREATE TABLE items (id integer PRIMARY KEY, label text NOT NULL);
      INSERT INTO items SELECT g, 'v1' FROM generate_series(1, ${ROWS}) g;
      -- One row in 500 takes 40 ms to read: a refresh of all rows streams for about 1.6 s.
      CREATE FUNCTION slowly(id integer, label text) RETURNS text LANGUAGE plpgsql AS $$
      BEGIN IF id % 500 = 0 THEN PERFORM pg_sleep(0.04); END IF; RETURN label; END $$`);
    const url = new URL((database.connection as { connectionString: string }).connectionString);
    admin = new pg.Client({ connectionString: url.toString(), application_name: 'tablecache_fault_admin' });
    await admin.connect();
    url.searchParams.set('application_name', ACCESS_APP);
    access = new PostgresAccess({ connectionString: url.toString(), logger: QUIET });
  });

  afterEach(async () => {
    await access?.close();
    await admin?.end();
    await database?.close();
  });

  async function killAccessBackends(): Promise<number> {
    const { rows } = await admin.query<{ n: number }>(
      'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1',
      [ACCESS_APP],
    );
    return rows[0]?.n ?? 0;
  }

  async function expectTableEqualsDatabase(table: ReturnType<typeof itemTable>): Promise<void> {
    const { rows } = await admin.query<Item>('SELECT id, label FROM items ORDER BY id');
    expect(await table.getRecords({ index: 'primaryKey', all: true })).toEqual(rows);
  }

  test('a refresh whose connection is killed mid-stream rejects, and the next refresh brings the table up to date', async () => {
    const table = itemTable(access, { label: 'slowly(id, label)' });
    await table.load({ index: 'primaryKey', all: true });
    await admin.query("UPDATE items SET label = 'v2' WHERE id % 3 = 0");
    table.invalidateRecords([{ index: 'primaryKey', all: true }]);
    // Expected before the kill: the refresh may fail before the killing query has answered.
    const refreshFails = expect(table.refreshInvalid()).rejects.toThrow(/terminat/);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await killAccessBackends()).toBeGreaterThan(0);
    await refreshFails;
    await table.refreshInvalid();
    await expectTableEqualsDatabase(table);
    await table.close();
    await access.close(); // resolves: nothing is left waiting on the killed connection
  });

  test('refreshes while every connection of the access is killed every 20 ms neither crash nor hang, and a refresh afterwards succeeds', async () => {
    const table = itemTable(access);
    await table.load({ index: 'primaryKey', all: true });
    let killing = true;
    const killer = (async () => {
      while (killing) {
        await admin.query(
          'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
        );
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    let version = 1;
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline) {
      version++;
      await admin.query('UPDATE items SET label = $1 WHERE id % 7 = $2', [`v${version}`, version % 7]);
      table.invalidateRecords([{ index: 'primaryKey', all: true }]);
      await table.refreshInvalid().catch(() => undefined);
    }
    killing = false;
    await killer;
    await table.refreshInvalid();
    await expectTableEqualsDatabase(table);
    await table.close();
  });

  test('a transaction whose connection is killed mid-statement rejects, and the next one runs', async () => {
    const fails = expect(access.execute({ sql: 'SELECT pg_sleep(30)' })).rejects.toThrow(/terminat/);
    await until(async () => (await backendsRunning('pg_sleep(30)')) > 0);
    await killAccessBackends();
    await fails;
    expect(await access.execute<{ one: number }>({ sql: 'SELECT 1 AS one' })).toEqual([{ one: 1 }]);
  });

  test('a stream through a kysely instance it was given rejects when its backend is killed, given a pool whose clients listen for errors', async () => {
    const pool = new pg.Pool({ connectionString: accessUrl() });
    pool.on('error', () => undefined);
    // What the PostgresAccess documentation asks of a pool under a kysely instance: pg emits a
    // dead connection's error on the checked-out client, and neither kysely nor pg-pool listens there.
    pool.on('connect', (client) => client.on('error', () => undefined));
    const kysely = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
    const viaKysely = new PostgresAccess({ kysely, batchSize: 100 });
    const rows = viaKysely.getRecords({ sql: 'SELECT g, pg_sleep(0.01) FROM generate_series(1, 3000) g' });
    const fails = expect(
      (async () => {
        for await (const _ of rows);
      })(),
    ).rejects.toThrow(/terminat/);
    await until(async () => (await backendsRunning('FETCH')) > 0);
    await killAccessBackends();
    await fails;
    await viaKysely.close();
    await kysely.destroy();
  });

  test('a stream whose next batch does not arrive within readTimeoutMs rejects with ReadTimeoutError, and its connection leaves the pool', async () => {
    const pool = new pg.Pool({ connectionString: accessUrl(), max: 1 });
    const timed = new PostgresAccess({ pool, batchSize: 2, readTimeoutMs: 200 });
    const received: number[] = [];
    await expect(async () => {
      for await (const row of timed.getRecords<{ g: number }>({ sql: PAUSE_AT_THREE })) received.push(row.g);
    }).rejects.toThrow(ReadTimeoutError);
    expect(received).toEqual([1, 2]);
    expect(pool.totalCount).toBe(0);
    expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await timed.close();
    await pool.end();
  });

  test('a stream through a kysely instance it was given is cancelled by the server after readTimeoutMs', async () => {
    const pool = new pg.Pool({ connectionString: accessUrl() });
    const kysely = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
    const timed = new PostgresAccess({ kysely, batchSize: 2, readTimeoutMs: 200 });
    await expect(async () => {
      for await (const _ of timed.getRecords({ sql: PAUSE_AT_THREE }));
    }).rejects.toMatchObject({ code: '57014' }); // query_canceled: the statement timeout
    await timed.close();
    await kysely.destroy();
  });

  function accessUrl(): string {
    const url = new URL((database.connection as { connectionString: string }).connectionString);
    url.searchParams.set('application_name', ACCESS_APP);
    return url.toString();
  }

  async function backendsRunning(text: string): Promise<number> {
    const { rows } = await admin.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND state = 'active' AND strpos(query, $2) > 0",
      [ACCESS_APP, text],
    );
    return rows[0]?.n ?? 0;
  }
});

async function until(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('opening a connection to a server that does not answer fails after connectTimeoutMs', async () => {
  const sockets = new Set<Socket>();
  const silent = createServer((socket) => sockets.add(socket)); // accepts connections and never says a word
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const { port } = silent.address() as AddressInfo;
  const access = new PostgresAccess({ connectionString: `postgres://nobody@127.0.0.1:${port}/none`, connectTimeoutMs: 200 });
  try {
    await expect(access.execute({ sql: 'SELECT 1' })).rejects.toThrow(/timeout/);
  } finally {
    await access.close();
    for (const socket of sockets) socket.destroy();
    silent.close();
  }
});
