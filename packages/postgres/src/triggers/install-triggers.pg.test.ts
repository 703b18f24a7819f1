import { InvalidOptionsError } from '@tablecache/core';
import { type OpenBackend, testBackends } from '@tablecache/testing';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { PgNotifyFeed } from '../notify/pg-notify-feed.js';
import { PostgresAccess } from '../postgres-access.js';
import { installTriggers, TriggerInstallError, triggerStatements, uninstallTriggers } from './install-triggers.js';
import { type ChangeSummary, recordingFeed } from './notifications.fixture.js';

const keysOf = (changes: readonly ChangeSummary[], side: 'old' | 'new') => changes.map((c) => c[side]).filter((key) => key !== undefined);

for (const backend of testBackends()) {
  describe.skipIf(!backend.available)(`triggers on ${backend.name}`, () => {
    let database: OpenBackend;
    let access: PostgresAccess;
    const feeds: PgNotifyFeed[] = [];

    beforeAll(async () => {
      database = await backend.open();
      access = new PostgresAccess(database.connection);
    });

    afterEach(async () => {
      for (const feed of feeds.splice(0)) await feed.close();
      await database.exec('DROP TABLE IF EXISTS items, "Odd ""Table"" Name", big_keys CASCADE; DROP SCHEMA IF EXISTS "My Schema" CASCADE');
      await uninstallTriggers(access, {});
      await uninstallTriggers(access, { channel: 'Odd "channel" name' });
    });

    afterAll(async () => {
      await access?.close();
      await database?.close();
    });

    async function itemsWithFeed(channel?: string) {
      await database.exec('CREATE TABLE items (id integer PRIMARY KEY, label text)');
      await installTriggers(access, { tables: ['items'], ...(channel === undefined ? {} : { channel }) });
      const recording = await recordingFeed(database, channel);
      feeds.push(recording.feed);
      return recording;
    }

    test('insert, update and delete send the primary keys of the rows they touch', async () => {
      const { feed, changes } = await itemsWithFeed();
      await database.exec("INSERT INTO items VALUES (1, 'a'), (2, 'b')");
      await database.exec("UPDATE items SET label = 'c' WHERE id = 1");
      await database.exec('DELETE FROM items WHERE id = 2');
      await feed.sync();
      expect(changes()).toEqual([
        { op: 'insert', schema: 'public', table: 'items', new: ['1'] },
        { op: 'insert', schema: 'public', table: 'items', new: ['2'] },
        { op: 'update', schema: 'public', table: 'items', old: ['1'], new: ['1'] },
        { op: 'delete', schema: 'public', table: 'items', old: ['2'] },
      ]);
    });

    test('an update that changes a primary key sends the old and the new key', async () => {
      const { feed, changes } = await itemsWithFeed();
      await database.exec("INSERT INTO items VALUES (1, 'a')");
      await database.exec('UPDATE items SET id = 5 WHERE id = 1');
      await feed.sync();
      const update = changes().filter((c) => c.op === 'update');
      expect(keysOf(update, 'old')).toEqual([['1']]);
      expect(keysOf(update, 'new')).toEqual([['5']]);
    });

    test('a truncate is sent as a change without rows', async () => {
      const { feed, changes } = await itemsWithFeed();
      await database.exec('TRUNCATE items');
      await feed.sync();
      expect(changes()).toEqual([{ op: 'truncate', schema: 'public', table: 'items' }]);
    });

    test('a rolled-back transaction sends nothing', async () => {
      const { feed, changes } = await itemsWithFeed();
      await database.exec("BEGIN; INSERT INTO items VALUES (1, 'a'); ROLLBACK");
      await feed.sync();
      expect(changes()).toEqual([]);
    });

    test('a statement of 100,000 rows sends a few hundred notifications carrying every key', async () => {
      const { feed, events, changes } = await itemsWithFeed();
      await database.exec("INSERT INTO items SELECT g, 'x' FROM generate_series(1, 100000) g");
      await feed.sync();
      const inserts = events.length;
      await database.exec("UPDATE items SET label = 'y'");
      await feed.sync();
      expect(inserts).toBeLessThan(400);
      expect(events.length - inserts).toBeLessThan(400);
      const updated = new Set(
        changes()
          .filter((c) => c.op === 'update')
          .map((c) => c.new?.[0]),
      );
      expect(updated.size).toBe(100_000);
    });

    test('a 20 kB value in a column that is not a key does not grow the payload', async () => {
      const { feed, changes } = await itemsWithFeed();
      await database.exec("INSERT INTO items VALUES (1, repeat('x', 20000))");
      await feed.sync();
      expect(changes()).toEqual([{ op: 'insert', schema: 'public', table: 'items', new: ['1'] }]);
    });

    test('a key too long for a payload sends an overflow, read as a change without rows, and the write succeeds', async () => {
      await database.exec('CREATE TABLE big_keys (k text PRIMARY KEY)');
      await installTriggers(access, { tables: ['big_keys'] });
      const { feed, changes } = await recordingFeed(database);
      feeds.push(feed);
      await database.exec("INSERT INTO big_keys VALUES (repeat('k', 20000)), ('short')");
      await feed.sync();
      expect(changes()).toEqual([{ op: 'insert', schema: 'public', table: 'big_keys' }]);
      expect(await database.exec('SELECT count(*)::int AS n FROM big_keys')).toEqual([{ n: 2 }]);
    });

    test('a trigger that fails does not fail the write, and still says the table changed', async () => {
      const { feed, changes } = await itemsWithFeed();
      // The trigger was told the key column is "id"; once renamed, building the key fails.
      await database.exec('ALTER TABLE items RENAME COLUMN id TO item_id');
      await database.exec("INSERT INTO items VALUES (1, 'a')");
      await feed.sync();
      expect(changes()).toEqual([{ op: 'insert', schema: 'public', table: 'items' }]);
      expect(await database.exec('SELECT item_id FROM items')).toEqual([{ item_id: 1 }]);
    });

    test('schema, table, column and channel names with mixed case, spaces and quotes work', async () => {
      await database.exec('CREATE SCHEMA "My Schema"');
      await database.exec(
        'CREATE TABLE "My Schema"."Odd ""Table"" Name" ("Key Column" text, "ID" integer, PRIMARY KEY ("Key Column", "ID"))',
      );
      const channel = 'Odd "channel" name';
      await installTriggers(access, { tables: ['My Schema.Odd "Table" Name'], channel });
      const { feed, changes } = await recordingFeed(database, channel);
      feeds.push(feed);
      await database.exec(`INSERT INTO "My Schema"."Odd ""Table"" Name" VALUES ('it''s "quoted"', 7)`);
      await feed.sync();
      expect(changes()).toEqual([{ op: 'insert', schema: 'My Schema', table: 'Odd "Table" Name', new: ['it\'s "quoted"', '7'] }]);
    });

    test('installing twice leaves one set of triggers', async () => {
      const { feed, changes } = await itemsWithFeed();
      await installTriggers(access, { tables: ['items'] });
      await database.exec("INSERT INTO items VALUES (1, 'a')");
      await feed.sync();
      expect(changes()).toHaveLength(1);
      const [{ n }] = (await database.exec("SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = 'items'::regclass")) as [
        { n: number },
      ];
      expect(n).toBe(4);
    });

    test('when everything is in place, installing again has nothing to do', async () => {
      await itemsWithFeed();
      expect(await triggerStatements(access, 'install', { tables: ['items'] })).toEqual([]);
    });

    test('uninstalling removes the triggers, the function and the schema', async () => {
      await itemsWithFeed();
      await uninstallTriggers(access, { tables: ['items'] });
      expect(await database.exec("SELECT tgname FROM pg_trigger WHERE tgrelid = 'items'::regclass")).toEqual([]);
      expect(await database.exec("SELECT nspname FROM pg_namespace WHERE nspname = 'tablecache'")).toEqual([]);
    });

    test('uninstalling one table keeps the function for the other tables of the channel', async () => {
      await itemsWithFeed();
      await database.exec('CREATE TABLE big_keys (k text PRIMARY KEY)');
      await installTriggers(access, { tables: ['big_keys'] });
      await uninstallTriggers(access, { tables: ['items'] });
      const { feed, changes } = await recordingFeed(database);
      feeds.push(feed);
      await database.exec("INSERT INTO big_keys VALUES ('still watched')");
      await feed.sync();
      expect(changes()).toHaveLength(1);
    });

    test('the dry-run statements quote identifiers and name every trigger', async () => {
      await database.exec('CREATE TABLE items (id integer PRIMARY KEY)');
      const statements = await triggerStatements(access, 'install', { tables: ['items'] });
      expect(statements.filter((s) => s.startsWith('CREATE TRIGGER'))).toHaveLength(4);
      expect(statements.join('\n')).toContain('ON public.items');
      expect(await database.exec("SELECT nspname FROM pg_namespace WHERE nspname = 'tablecache'")).toEqual([]);
    });

    test('a table that does not exist is refused with TriggerInstallError', async () => {
      await expect(installTriggers(access, { tables: ['no_such_table'] })).rejects.toThrow(TriggerInstallError);
    });

    test('a table without a primary key is refused with TriggerInstallError', async () => {
      await database.exec('CREATE TABLE items (id integer)');
      await expect(installTriggers(access, { tables: ['items'] })).rejects.toThrow(/no primary key/);
    });

    test.each([
      ['no tables', { tables: [] }],
      ['an empty table name', { tables: [''] }],
      ['a channel longer than 63 bytes', { tables: ['items'], channel: 'c'.repeat(64) }],
    ])('%s is refused with InvalidOptionsError', async (_, options) => {
      await expect(installTriggers(access, options)).rejects.toThrow(InvalidOptionsError);
    });
  });
}
