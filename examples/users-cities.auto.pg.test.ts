import { CachedTable, type Change, InvalidOptionsError, PrimaryKeyIndexes, type StorageTable } from '@tablecache/core';
import { LocalStorageTable } from '@tablecache/local';
import { checkTriggers, installTriggers, PgNotifyFeed, PostgresAccess, uninstallTriggers } from '@tablecache/postgres';
import { SharedMemoryStorageTable } from '@tablecache/shared-memory';
import { type OpenBackend, testBackends } from '@tablecache/testing';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { CREATE_SCHEMA_STATEMENTS, type Database, SCHEMA, userIndexes, usersJoin } from './users-cities.js';

const S = SCHEMA;

type UserIndexes = ReturnType<typeof userIndexes>;
type User = Parameters<UserIndexes['primaryKey']>[0];

/** `watch(feed, { tables: 'auto' })` on the seed join: the plan comes from the database, no mapping is written. */
for (const backend of testBackends()) {
  describe.skipIf(!backend.available)(`tables: 'auto' on the users ⋈ cities join on ${backend.name}`, () => {
    let database: OpenBackend;
    let access: PostgresAccess<Database>;
    const closing: (() => Promise<void>)[] = [];

    beforeAll(async () => {
      database = await backend.open();
      access = new PostgresAccess<Database>(database.connection);
      for (const statement of CREATE_SCHEMA_STATEMENTS) await sql.raw(statement).execute(access.kysely);
      // Without the foreign key, a city can go while users still name it: the LEFT JOIN then gives them no city.
      await database.exec(`ALTER TABLE ${S}.users_cities DROP CONSTRAINT users_cities_city_id_fkey`);
    });

    afterEach(async () => {
      for (const close of closing.splice(0)) await close();
    });

    afterAll(async () => {
      await access?.close();
      await database?.close();
    });

    /** 50 users, 45 of them in cities 1 to 5 (9 per city); a table watching with 'auto' (triggers installed by watch), loaded. */
    async function start(options: { storage?: (indexes: UserIndexes) => StorageTable<User> } = {}) {
      await database.exec(`
        TRUNCATE ${S}.users_cities, ${S}.users, ${S}.cities;
        INSERT INTO ${S}.cities SELECT g, 'city ' || g FROM generate_series(1, 5) g;
        INSERT INTO ${S}.users SELECT g, 'user ' || g, NULL FROM generate_series(1, 50) g;
        INSERT INTO ${S}.users_cities SELECT g, 1 + g % 5 FROM generate_series(1, 45) g;`);
      const feed = new PgNotifyFeed(database.connection);
      const indexes = userIndexes(access.kysely);
      const storage = options.storage?.(indexes) ?? new LocalStorageTable(indexes, { name: 'users' });
      const table = new CachedTable(indexes, access, storage);
      closing.push(async () => {
        await table.close();
        await feed.close();
      });
      return { table, feed };
    }

    async function watching(tables: NonNullable<Parameters<Awaited<ReturnType<typeof start>>['table']['watch']>[1]>['tables'] = 'auto') {
      const started = await start();
      await started.table.watch(started.feed, { tables, install: true });
      await started.table.load({ index: 'primaryKey', all: true });
      return started.table;
    }

    /** After sync(), the cache equals a direct query of the join; returns the rows refreshes wrote for it. */
    async function expectSynced(table: Awaited<ReturnType<typeof watching>>): Promise<number> {
      const before = table.stats.refreshedRows;
      await table.sync();
      const direct = await usersJoin(access.kysely).execute();
      const cached = await table.getRecords({ index: 'primaryKey', all: true });
      expect(cached.sort((a, b) => a.user_id - b.user_id)).toEqual(direct);
      return table.stats.refreshedRows - before;
    }

    test('the plan follows users and users_cities by user_id and cities by city_id, row by row', async () => {
      const table = await watching();
      const plan = await table.describeInvalidation();
      const how = Object.fromEntries(
        plan.sources.map((source) => [source.table.table, source.how === 'rows' ? source.links.map((link) => link.join()) : source.how]),
      );
      expect(how).toEqual({ users: ['user_id'], users_cities: ['user_id'], cities: ['city_id'] });
    });

    test('installTriggers for a table puts triggers on exactly the tables its query reads', async () => {
      const { table, feed } = await start();
      await uninstallTriggers(access, {});
      await installTriggers(access, { for: table });
      const covered = (await checkTriggers(access)).tables.map((check) => check.table?.table).sort();
      expect(covered).toEqual(['cities', 'users', 'users_cities']);
      await table.watch(feed, { tables: 'auto' }); // checks the triggers, installs nothing
    });

    test('renaming a city refreshes exactly the users who live there', async () => {
      const table = await watching();
      await database.exec(`UPDATE ${S}.cities SET name = 'Neustadt' WHERE city_id = 2`);
      expect(await expectSynced(table)).toBe(9);
      const all = await table.getRecords({ index: 'primaryKey', all: true });
      expect(all.filter((user) => user.city_name === 'Neustadt')).toHaveLength(9);
    });

    test('in eager mode a city rename is refreshed in the background: after sync, memory answers at once', async () => {
      const { table, feed } = await start();
      await table.watch(feed, { tables: 'auto', install: true, refresh: 'eager' });
      await table.load({ index: 'primaryKey', all: true });
      await database.exec(`UPDATE ${S}.cities SET name = 'Neustadt' WHERE city_id = 2`);
      await table.sync();
      expect(table.getRecordsSync({ index: 'primaryKey', keys: [1] })?.[0]?.city_name).toBe('Neustadt');
      expect(table.stats.refreshedRows).toBe(9);
    });

    test('moving a user to another city refreshes that user only', async () => {
      const table = await watching();
      await database.exec(`UPDATE ${S}.users_cities SET city_id = 5 WHERE user_id = 7`);
      expect(await expectSynced(table)).toBe(1);
      expect((await table.getFirstRecord({ index: 'primaryKey', keys: [7] })).city_id).toBe(5);
    });

    test('deleting a city under the LEFT JOIN keeps its users, now without a city', async () => {
      const table = await watching();
      await database.exec(`DELETE FROM ${S}.cities WHERE city_id = 3`);
      expect(await expectSynced(table)).toBe(9);
      const all = await table.getRecords({ index: 'primaryKey', all: true });
      expect(all).toHaveLength(50);
      expect(all.filter((user) => user.city_id === null)).toHaveLength(14);
    });

    test('a city inserted for links that named it already joins their users', async () => {
      const table = await watching();
      await database.exec(`UPDATE ${S}.users_cities SET city_id = 9 WHERE user_id IN (1, 2)`);
      await expectSynced(table);
      await database.exec(`INSERT INTO ${S}.cities VALUES (9, 'Neunstadt')`);
      expect(await expectSynced(table)).toBe(2);
      expect((await table.getRecords({ index: 'primaryKey', keys: [1, 2] })).map((user) => user.city_name)).toEqual([
        'Neunstadt',
        'Neunstadt',
      ]);
    });

    test('inserting a user and giving them a city in one transaction shows them with it', async () => {
      const table = await watching();
      await database.exec(`BEGIN; INSERT INTO ${S}.users VALUES (100, 'new', NULL); INSERT INTO ${S}.users_cities VALUES (100, 4); COMMIT`);
      await expectSynced(table);
      expect(await table.getRecords({ index: 'primaryKey', keys: [100] })).toEqual([
        { user_id: 100, name: 'new', nickname: null, city_id: 4, city_name: 'city 4' },
      ]);
    });

    test("changing a user's primary key moves the record to the new key", async () => {
      const table = await watching();
      await database.exec(`UPDATE ${S}.users SET user_id = 200 WHERE user_id = 50`);
      await expectSynced(table);
      expect(await table.getRecords({ index: 'primaryKey', keys: [50, 200] })).toEqual([
        { user_id: 200, name: 'user 50', nickname: null, city_id: null, city_name: null },
      ]);
    });

    test("changing a city's primary key takes its users out of it", async () => {
      const table = await watching();
      await database.exec(`UPDATE ${S}.cities SET city_id = 10 WHERE city_id = 1`);
      expect(await expectSynced(table)).toBe(9);
    });

    test("'auto' for one table mixes with hand-written mappings for the others", async () => {
      const byUser = (change: Change) => [
        { index: 'primaryKey' as const, keys: [change.old?.user_id, change.new?.user_id].filter((id) => typeof id === 'number') },
      ];
      const table = await watching({ [`${S}.cities`]: 'auto', [`${S}.users`]: byUser, [`${S}.users_cities`]: byUser });
      await database.exec(
        `UPDATE ${S}.cities SET name = 'Neustadt' WHERE city_id = 2; UPDATE ${S}.users SET name = 'renamed' WHERE user_id = 3`,
      );
      expect(await expectSynced(table)).toBe(10);
    });

    test("a mapped name the query does not read is refused next to 'auto'", async () => {
      const { table, feed } = await start();
      const watching = table.watch(feed, { tables: { [`${S}.cities`]: 'auto', [`${S}.citys`]: true } });
      await expect(watching).rejects.toThrow(InvalidOptionsError);
      await expect(watching).rejects.toThrow('citys');
    });

    test('shared-memory storage, which cannot add indexes, makes every source whole-table, and the plan says why', async () => {
      const { table, feed } = await start({ storage: (indexes) => new SharedMemoryStorageTable(indexes, { name: 'users' }) });
      await table.watch(feed, { tables: 'auto', install: true });
      await table.load({ index: 'primaryKey', all: true });
      const plan = await table.describeInvalidation();
      expect(plan.sources.map((source) => source.how)).toEqual(['whole', 'whole', 'whole']);
      expect(plan.sources[0]?.how === 'whole' && plan.sources[0].because).toContain('the storage cannot index');
      await database.exec(`UPDATE ${S}.users SET name = 'renamed' WHERE user_id = 3`);
      expect(await expectSynced(table)).toBe(50);
    });

    test('a filter-only table is whole-table: a change to it refreshes every record', async () => {
      await database.exec(`
        CREATE TABLE IF NOT EXISTS ${S}.switches (id integer PRIMARY KEY, shown boolean NOT NULL);
        TRUNCATE ${S}.switches; INSERT INTO ${S}.switches VALUES (1, true)`);
      const query = `SELECT u.user_id, u.name FROM ${S}.users u WHERE EXISTS (SELECT 1 FROM ${S}.switches s WHERE s.shown)`;
      const indexes = new PrimaryKeyIndexes<{ user_id: number; name: string }, number>({
        primaryKey: (user) => user.user_id,
        queryAll: { sql: query },
        querySome: (ids) => ({ sql: `${query} AND u.user_id = ANY($1)`, parameters: [ids] }),
      });
      const { feed } = await start();
      const table = new CachedTable(indexes, access, new LocalStorageTable(indexes));
      closing.push(() => table.close());
      await table.watch(feed, { tables: 'auto', install: true });
      await table.load({ index: 'primaryKey', all: true });
      const plan = await table.describeInvalidation();
      expect(plan.sources.find((source) => source.table.table === 'switches')?.how).toBe('whole');
      await database.exec(`UPDATE ${S}.switches SET shown = false`);
      await table.sync();
      expect(await table.getRecords({ index: 'primaryKey', all: true })).toEqual([]);
      expect(table.stats.refreshes).toBe(1);
    });
  });
}
