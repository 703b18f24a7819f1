import { CachedTable, type Change, type PrimaryKeysSpec, type TableMapping } from '@tablecache/core';
import { LocalStorageTable } from '@tablecache/local';
import { PostgresAccess, type SqlStatement } from '@tablecache/postgres';
import { type OpenBackend, testBackends } from '@tablecache/testing';
import fc from 'fast-check';
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { type FeedKind, feedKindsOn, LOGICAL_FEED, type OpenedFeed } from '../packages/postgres/src/feed-kinds.fixture.js';
import { CREATE_SCHEMA_STATEMENTS, type Database, SCHEMA, userIndexes, usersJoin, WATCHED_TABLES } from './users-cities.js';

const S = SCHEMA;

// Hand-written mappings, as before `tables: 'auto'` (users-cities.auto.pg.test.ts): they must keep working.
/** The user ids a change to `users` or `users_cities` touches (an update may move a row to another key). */
function userIds(change: Change): number[] {
  const ids = new Set<number>();
  for (const row of [change.old, change.new]) if (row !== undefined) ids.add(row.user_id as number);
  return [...ids];
}

/**
 * Which cached users each source table's changes invalidate. `users` and `users_cities` are
 * keyed by user; a changed city affects every user who lives there, which only the database
 * knows: that mapping asks it.
 */
function usersCitiesMappings(db: Kysely<Database>): Readonly<Record<string, TableMapping<PrimaryKeysSpec<number>>>> {
  const byUser = (change: Change) => [{ index: 'primaryKey' as const, keys: userIds(change) }];
  return {
    [`${SCHEMA}.users`]: byUser,
    [`${SCHEMA}.users_cities`]: byUser,
    [`${SCHEMA}.cities`]: async (change) => {
      const cityIds = [change.old?.city_id, change.new?.city_id].filter((id): id is number => typeof id === 'number');
      const rows = await db.withSchema(SCHEMA).selectFrom('users_cities').select('user_id').where('city_id', 'in', cityIds).execute();
      return [{ index: 'primaryKey', keys: rows.map((row) => row.user_id) }];
    },
  };
}

/** Random changes to the three tables: inserts, updates (keys and join columns too), deletes and truncates. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('insertUser' as const), id: fc.integer({ min: 1, max: 60 }) }),
  fc.record({ kind: fc.constant('renameUser' as const), id: fc.integer({ min: 1, max: 60 }), name: fc.string({ maxLength: 8 }) }),
  fc.record({ kind: fc.constant('rekeyUser' as const), id: fc.integer({ min: 1, max: 60 }), to: fc.integer({ min: 1, max: 60 }) }),
  fc.record({ kind: fc.constant('deleteUser' as const), id: fc.integer({ min: 1, max: 60 }) }),
  fc.record({ kind: fc.constant('insertCity' as const), id: fc.integer({ min: 1, max: 7 }) }),
  fc.record({ kind: fc.constant('renameCity' as const), id: fc.integer({ min: 1, max: 7 }), name: fc.string({ maxLength: 8 }) }),
  fc.record({ kind: fc.constant('rekeyCity' as const), id: fc.integer({ min: 1, max: 7 }), to: fc.integer({ min: 1, max: 7 }) }),
  fc.record({ kind: fc.constant('deleteCity' as const), id: fc.integer({ min: 1, max: 7 }) }),
  fc.record({ kind: fc.constant('moveUser' as const), id: fc.integer({ min: 1, max: 60 }), city: fc.integer({ min: 1, max: 7 }) }),
  fc.record({ kind: fc.constant('relinkUser' as const), id: fc.integer({ min: 1, max: 60 }), to: fc.integer({ min: 1, max: 60 }) }),
  fc.record({ kind: fc.constant('unlinkUser' as const), id: fc.integer({ min: 1, max: 60 }) }),
  fc.record({ kind: fc.constant('truncate' as const), table: fc.constantFrom('users', 'cities', 'users_cities') }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

/**
 * The statement of a mutation. The foreign keys refuse some (a user who lives somewhere cannot
 * change key, a city someone lives in cannot be deleted): those change nothing instead of failing.
 */
function statementOf(m: Mutation): SqlStatement {
  switch (m.kind) {
    case 'insertUser':
      return { sql: `INSERT INTO ${S}.users VALUES ($1, 'inserted', NULL) ON CONFLICT DO NOTHING`, parameters: [m.id] };
    case 'renameUser':
      return { sql: `UPDATE ${S}.users SET name = $1 WHERE user_id = $2`, parameters: [m.name, m.id] };
    case 'rekeyUser':
      return {
        sql: `UPDATE ${S}.users SET user_id = $2 WHERE user_id = $1
          AND NOT EXISTS (SELECT FROM ${S}.users_cities WHERE user_id = $1) AND NOT EXISTS (SELECT FROM ${S}.users WHERE user_id = $2)`,
        parameters: [m.id, m.to],
      };
    case 'deleteUser':
      return { sql: `DELETE FROM ${S}.users WHERE user_id = $1`, parameters: [m.id] };
    case 'insertCity':
      return { sql: `INSERT INTO ${S}.cities VALUES ($1, 'city ' || $1::int) ON CONFLICT DO NOTHING`, parameters: [m.id] };
    case 'renameCity':
      return { sql: `UPDATE ${S}.cities SET name = $1 WHERE city_id = $2`, parameters: [m.name, m.id] };
    case 'rekeyCity':
      return {
        sql: `UPDATE ${S}.cities SET city_id = $2 WHERE city_id = $1
          AND NOT EXISTS (SELECT FROM ${S}.users_cities WHERE city_id = $1) AND NOT EXISTS (SELECT FROM ${S}.cities WHERE city_id = $2)`,
        parameters: [m.id, m.to],
      };
    case 'deleteCity':
      return {
        sql: `DELETE FROM ${S}.cities WHERE city_id = $1 AND NOT EXISTS (SELECT FROM ${S}.users_cities WHERE city_id = $1)`,
        parameters: [m.id],
      };
    case 'moveUser':
      return {
        sql: `INSERT INTO ${S}.users_cities SELECT user_id, city_id FROM ${S}.users, ${S}.cities WHERE user_id = $1 AND city_id = $2
          ON CONFLICT (user_id) DO UPDATE SET city_id = EXCLUDED.city_id`,
        parameters: [m.id, m.city],
      };
    case 'relinkUser':
      return {
        sql: `UPDATE ${S}.users_cities SET user_id = $2 WHERE user_id = $1
          AND EXISTS (SELECT FROM ${S}.users WHERE user_id = $2) AND NOT EXISTS (SELECT FROM ${S}.users_cities WHERE user_id = $2)`,
        parameters: [m.id, m.to],
      };
    case 'unlinkUser':
      return { sql: `DELETE FROM ${S}.users_cities WHERE user_id = $1`, parameters: [m.id] };
    case 'truncate':
      // CASCADE: truncating users or cities truncates the links too.
      return { sql: `TRUNCATE ${S}.${m.table} CASCADE`, parameters: [] };
  }
}

/**
 * Waits for a write; one the database aborted to break a deadlock changed nothing, as for an
 * application. A TRUNCATE locks its tables one by one, and an eager refresh reading the join can
 * hold one of them while it waits for another.
 */
async function unlessDeadlocked(write: Promise<unknown>): Promise<void> {
  await write.catch((error: unknown) => {
    if (!(error instanceof Error && 'code' in error && error.code === '40P01')) throw error;
  });
}

/** Runs `statements` in one transaction on `client`; rolled back if one fails. */
async function transactionOn(client: pg.Client, statements: readonly SqlStatement[]): Promise<void> {
  await client.query('BEGIN');
  try {
    for (const { sql, parameters } of statements) await client.query(sql, [...parameters]);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}

/** A few mutations, committed together or one by one. */
const commit = fc.array(mutation, { minLength: 1, maxLength: 4 });

/** A feed kind with each way of refreshing. */
const withRefreshModes = (kind: FeedKind) => (['lazy', 'eager'] as const).map((refresh) => ({ kind, refresh }));

for (const backend of testBackends()) {
  for (const { kind, refresh } of feedKindsOn(backend.name).flatMap(withRefreshModes)) {
    describe.skipIf(!backend.available)(`the users ⋈ cities cache follows ${backend.name} (${kind.name}, ${refresh})`, () => {
      let database: OpenBackend;
      let access: PostgresAccess<Database>;
      let feed: OpenedFeed | undefined;
      let current: { close(): Promise<void> } | undefined;

      beforeAll(async () => {
        database = await backend.open();
        access = new PostgresAccess<Database>(database.connection);
        for (const statement of CREATE_SCHEMA_STATEMENTS) await sql.raw(statement).execute(access.kysely);
        await kind.install(access, WATCHED_TABLES);
      });

      afterAll(async () => {
        if (access !== undefined) await kind.uninstall(access);
        await access?.close();
        await database?.close();
      });

      async function start() {
        await database.exec(`
          TRUNCATE ${S}.users_cities, ${S}.users, ${S}.cities;
          INSERT INTO ${S}.cities SELECT g, 'city ' || g FROM generate_series(1, 5) g;
          INSERT INTO ${S}.users SELECT g, 'user ' || g, NULL FROM generate_series(1, 50) g;
          INSERT INTO ${S}.users_cities SELECT g, 1 + g % 5 FROM generate_series(1, 45) g;`);
        feed = kind.open(database.connection);
        const indexes = userIndexes(access.kysely);
        const table = new CachedTable(indexes, access, new LocalStorageTable(indexes, { name: 'users' }));
        await table.watch(feed.feed, { tables: usersCitiesMappings(access.kysely), refresh });
        await table.load({ index: 'primaryKey', all: true });
        current = table;
        return table;
      }

      afterEach(async () => {
        await current?.close();
        await feed?.close();
      });

      /** After sync(), the cache equals a direct query of the join. */
      async function expectSyncedWithDatabase(table: Awaited<ReturnType<typeof start>>) {
        await table.sync();
        await expectEqualToDatabase(table);
      }

      /** The cache equals a direct query of the join. */
      async function expectEqualToDatabase(table: Awaited<ReturnType<typeof start>>) {
        const direct = await usersJoin(access.kysely).execute();
        // Reading everything gives storage order, which a refresh may change: compare by key.
        const cached = await table.getRecords({ index: 'primaryKey', all: true });
        expect(cached.sort((a, b) => a.user_id - b.user_id)).toEqual(direct);
        const ids = direct.map((user) => user.user_id);
        expect(await table.getRecords({ index: 'primaryKey', keys: ids })).toEqual(direct);
      }

      const cases: [string, string][] = [
        ['inserting a user', `INSERT INTO ${S}.users VALUES (100, 'new user', 'nick')`],
        ['renaming a user', `UPDATE ${S}.users SET name = 'renamed' WHERE user_id = 3`],
        ['changing a user key', `UPDATE ${S}.users SET user_id = 200 WHERE user_id = 50`],
        ['deleting a user', `DELETE FROM ${S}.users WHERE user_id = 4`],
        ['inserting a city', `INSERT INTO ${S}.cities VALUES (9, 'new city')`],
        ['renaming a city many users live in', `UPDATE ${S}.cities SET name = 'renamed city' WHERE city_id = 2`],
        ['deleting a city nobody lives in', `INSERT INTO ${S}.cities VALUES (8, 'empty'); DELETE FROM ${S}.cities WHERE city_id = 8`],
        ['giving a user a city', `INSERT INTO ${S}.users_cities VALUES (48, 3)`],
        ['moving a user to another city', `UPDATE ${S}.users_cities SET city_id = 5 WHERE user_id = 7`],
        ['taking a city from a user', `DELETE FROM ${S}.users_cities WHERE user_id = 8`],
        ['truncating the user-city links', `TRUNCATE ${S}.users_cities`],
        [
          'changing all three tables in one transaction',
          `BEGIN; UPDATE ${S}.users SET nickname = 'x' WHERE user_id = 1; UPDATE ${S}.cities SET name = 'c' WHERE city_id = 3; DELETE FROM ${S}.users_cities WHERE user_id = 9; COMMIT`,
        ],
        ['storing a 20 kB name', `UPDATE ${S}.users SET name = repeat('n', 20000) WHERE user_id = 10`],
      ];

      test.each(cases)('%s is reflected after sync', async (_, statement) => {
        const table = await start();
        await database.exec(statement);
        await expectSyncedWithDatabase(table);
      });

      test('a rolled-back transaction changes nothing and refreshes nothing', async () => {
        const table = await start();
        await database.exec(
          `BEGIN; UPDATE ${S}.cities SET name = 'never' WHERE city_id = 1; DELETE FROM ${S}.users WHERE user_id = 1; ROLLBACK`,
        );
        await expectSyncedWithDatabase(table);
        expect(table.stats.refreshes).toBe(0);
      });

      test('a city rename reaches every user of the city through the async mapping, and no one else', async () => {
        const table = await start();
        await database.exec(`UPDATE ${S}.cities SET name = 'Neustadt' WHERE city_id = 2`);
        await table.sync();
        const all = await table.getRecords({ index: 'primaryKey', all: true });
        const inCity2 = all.filter((user) => user.city_id === 2);
        expect(inCity2.length).toBe(9);
        expect(inCity2.every((user) => user.city_name === 'Neustadt')).toBe(true);
        expect(all.filter((user) => user.city_name === 'Neustadt')).toHaveLength(9);
        expect(table.stats.refreshQueries).toBe(1);
      });

      test('random mutations of the three tables, read after sync, always equal a direct query', async () => {
        const step = fc.record({ mutations: commit, inTransaction: fc.boolean(), readBetween: fc.boolean() });
        await fc.assert(
          fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 5 }), async (steps) => {
            const table = await start();
            try {
              for (const { mutations, inTransaction, readBetween } of steps) {
                const statements = mutations.map(statementOf);
                if (inTransaction)
                  await unlessDeadlocked(
                    access.transaction(async (run) => {
                      for (const statement of statements) await run(statement);
                    }),
                  );
                else for (const statement of statements) await unlessDeadlocked(access.execute(statement));
                // A read without sync may be stale, but must not break anything.
                if (readBetween) await table.getRecords({ index: 'primaryKey', keys: [1, 2, 3] });
              }
              await expectSyncedWithDatabase(table);
            } finally {
              await table.close();
              await feed?.close();
            }
          }),
          { numRuns: backend.name === 'pglite' ? 8 : 15 },
        );
      });

      // Read-your-writes across processes, by feed position. Eager is the demanding mode: a change
      // is refreshed as soon as it arrives, so syncTo must wait for that refresh, which must read
      // the writer's commit (the feed passes it on once visible). Lazy refreshes on the read after it.
      if (kind === LOGICAL_FEED)
        test('random mutations committed by a writer on another connection are read back after syncTo the LSN it read after each commit', async () => {
          const writer = new pg.Client(database.connection as { connectionString: string });
          await writer.connect();
          try {
            await fc.assert(
              fc.asyncProperty(fc.array(commit, { minLength: 1, maxLength: 5 }), async (commits) => {
                const table = await start();
                try {
                  for (const mutations of commits) {
                    await unlessDeadlocked(transactionOn(writer, mutations.map(statementOf)));
                    const { rows } = await writer.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
                    await table.syncTo(rows[0]!.lsn);
                    await expectEqualToDatabase(table);
                  }
                } finally {
                  await table.close();
                  await feed?.close();
                }
              }),
              { numRuns: 15 },
            );
          } finally {
            await writer.end();
          }
        });
    });
  }
}
