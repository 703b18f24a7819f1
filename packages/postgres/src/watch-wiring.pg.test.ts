import { type OpenBackend, testBackends } from '@tablecache/testing';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { byId, itemTable } from './items.fixture.js';
import { FeedConnectionError } from './notify/feed-errors.js';
import { PgNotifyFeed } from './notify/pg-notify-feed.js';
import { PostgresAccess } from './postgres-access.js';
import { MissingTriggersError } from './triggers/check-triggers.js';
import { installTriggers } from './triggers/install-triggers.js';

/** watch() checks its wiring before it resolves: every mapped table exists and sends its changes. */

for (const backend of testBackends()) {
  describe.skipIf(!backend.available)(`watch() checks its wiring on ${backend.name}`, () => {
    let database: OpenBackend;
    let access: PostgresAccess;
    const closing: (() => Promise<void>)[] = [];

    beforeAll(async () => {
      database = await backend.open();
      access = new PostgresAccess(database.connection);
      await database.exec(`
        CREATE TABLE items (id integer PRIMARY KEY, label text NOT NULL);
        CREATE TABLE unwatched (id integer PRIMARY KEY);
        CREATE SCHEMA "Sales";
        CREATE TABLE "Sales"."Order Items" (id integer PRIMARY KEY, label text NOT NULL);
        INSERT INTO items VALUES (1, 'a'), (2, 'b');
        INSERT INTO "Sales"."Order Items" VALUES (1, 'a'), (2, 'b');`);
      await installTriggers(access, { tables: ['items', '"Sales"."Order Items"'] });
    });

    afterEach(async () => {
      for (const close of closing.splice(0)) await close();
    });

    afterAll(async () => {
      await access?.close();
      await database?.close();
    });

    /** A table over `from` (a SQL relation) and a feed on `channel`, closed after the test. */
    function itemsOf(from: string, channel?: string) {
      const table = itemTable(access, { from });
      const feed = new PgNotifyFeed(database.connection, channel === undefined ? {} : { channel });
      closing.push(async () => {
        await table.close();
        await feed.close();
      });
      return { table, feed };
    }

    test('a misspelt table makes watch() reject with MissingTriggersError naming it', async () => {
      const { table, feed } = itemsOf('items');
      const watching = table.watch(feed, { tables: { itemz: byId } });
      await expect(watching).rejects.toThrow(MissingTriggersError);
      await expect(watching).rejects.toThrow('itemz');
    });

    test('a table without triggers makes watch() reject, listing exactly the tables that lack them', async () => {
      const { table, feed } = itemsOf('items');
      const error = await table.watch(feed, { tables: { items: byId, unwatched: true } }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MissingTriggersError);
      expect(String(error)).toContain('unwatched');
      expect(String(error)).not.toContain('"items"');
    });

    test('with install, watch() puts the missing triggers in place and changes then arrive', async () => {
      await database.exec(
        "CREATE TABLE installed_by_watch (id integer PRIMARY KEY, label text NOT NULL); INSERT INTO installed_by_watch VALUES (1, 'a')",
      );
      const { table, feed } = itemsOf('installed_by_watch');
      await table.watch(feed, { tables: { installed_by_watch: byId }, install: true });
      await table.load({ index: 'primaryKey', all: true });
      await database.exec("UPDATE installed_by_watch SET label = 'changed' WHERE id = 1");
      await table.sync();
      expect(await table.getRecords({ index: 'primaryKey', keys: [1] })).toEqual([{ id: 1, label: 'changed' }]);
    });

    test('a quoted, schema-qualified name works end to end', async () => {
      const { table, feed } = itemsOf('"Sales"."Order Items"');
      await table.watch(feed, { tables: { '"Sales"."Order Items"': byId } });
      await table.load({ index: 'primaryKey', all: true });
      await database.exec(`UPDATE "Sales"."Order Items" SET label = 'changed' WHERE id = 2`);
      await table.sync();
      expect(table.stats.refreshes).toBe(0); // lazy: the next read refreshes
      expect(await table.getRecords({ index: 'primaryKey', keys: [2] })).toEqual([{ id: 2, label: 'changed' }]);
      expect(table.stats.refreshQueries).toBe(1);
    });

    test('an unqualified name means the table the search path finds, as in SQL, and a same-named table elsewhere is not it', async () => {
      // New sessions (the feed's check) and this one (PGlite has one) look in schema app first.
      await database.exec(`
        CREATE SCHEMA app;
        DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET search_path = app, public', current_database()); END $$;
        SET search_path = app, public;
        CREATE TABLE app.shadowed (id integer PRIMARY KEY, label text NOT NULL);
        CREATE TABLE public.shadowed (id integer PRIMARY KEY, label text NOT NULL);
        INSERT INTO app.shadowed VALUES (1, 'first in the path');
        INSERT INTO public.shadowed VALUES (1, 'further down');`);
      await installTriggers(access, { tables: ['app.shadowed', 'public.shadowed'] });
      const { table, feed } = itemsOf('app.shadowed');
      await table.watch(feed, { tables: { shadowed: byId } });
      await table.load({ index: 'primaryKey', all: true });
      await database.exec("UPDATE public.shadowed SET label = 'changed' WHERE id = 1");
      await table.sync();
      expect(table.peek(1)).toEqual({ id: 1, label: 'first in the path' }); // not invalidated
      await database.exec("UPDATE app.shadowed SET label = 'changed' WHERE id = 1");
      await table.sync();
      expect(table.peek(1)).toBeUndefined(); // invalidated
      expect(await table.getRecords({ index: 'primaryKey', keys: [1] })).toEqual([{ id: 1, label: 'changed' }]);
    });

    test('without tables, watch() rejects when nothing sends on the channel', async () => {
      const { table, feed } = itemsOf('items', 'nobody sends here');
      await expect(table.watch(feed)).rejects.toThrow("nothing sends on channel 'nobody sends here'");
    });

    test('without tables, watch() resolves when some table sends on the channel', async () => {
      const { table, feed } = itemsOf('items');
      await expect(table.watch(feed)).resolves.toBeTypeOf('function');
    });
  });
}

const [server] = testBackends();

describe.skipIf(!server?.available)('watch() on a feed that cannot connect', () => {
  test('a wrong port makes watch() reject with FeedConnectionError carrying the driver error', async () => {
    const table = itemTable(new PostgresAccess({ connectionString: 'postgres://postgres@127.0.0.1:1/postgres' }));
    const feed = new PgNotifyFeed({ connectionString: 'postgres://postgres@127.0.0.1:1/postgres' }, { connectTimeoutMs: 1000 });
    const error = await table.watch(feed).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FeedConnectionError);
    expect((error as Error).cause).toMatchObject({ code: 'ECONNREFUSED' });
    await table.close();
  });

  test('a database that does not exist makes watch() reject at once with FeedConnectionError carrying the driver error', async () => {
    const database = await server!.open();
    const url = new URL((database.connection as { connectionString: string }).connectionString);
    url.pathname = '/no_such_database';
    await database.close();
    const table = itemTable(new PostgresAccess({ connectionString: url.toString() }));
    const feed = new PgNotifyFeed({ connectionString: url.toString() }, { connectTimeoutMs: 60_000 });
    const error = await table.watch(feed).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FeedConnectionError);
    expect((error as Error).cause).toMatchObject({ code: '3D000' });
    await table.close();
  });
});

describe.skipIf(!server?.available)('watch() on a database that does not answer its check in time', () => {
  test('watch() with install rejects within its bound when a lock holds the table, instead of waiting for it', async () => {
    const database = await server!.open();
    const access = new PostgresAccess(database.connection);
    const locker = new pg.Client({ connectionString: (database.connection as { connectionString: string }).connectionString });
    await locker.connect();
    try {
      await database.exec('CREATE TABLE locked (id integer PRIMARY KEY, label text NOT NULL)');
      // Installing triggers needs a lock this transaction keeps.
      await locker.query('BEGIN; LOCK TABLE locked IN ACCESS EXCLUSIVE MODE');
      const feed = new PgNotifyFeed(database.connection, { connectTimeoutMs: 300, syncTimeoutMs: 300 });
      const table = itemTable(access, { from: 'locked' });
      const error = await table.watch(feed, { tables: { locked: byId }, install: true }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FeedConnectionError);
      expect(String(error)).toContain('could not check its tables in time');
      await table.close();
      await feed.close();
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
      await access.close();
      await database.close();
    }
  });
});
