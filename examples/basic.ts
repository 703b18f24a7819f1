/**
 * The basic flow of a table cache: load a join, read from memory, see a stale value, invalidate,
 * see the fresh one, and pick up an inserted row.
 *
 *   pnpm example                                      # on embedded PGlite, no server needed
 *   DATABASE_URL=postgres://... pnpm example          # on a server (uses schema tablecache_example)
 */
import { CachedTable } from '@tablecache/core';
import { LocalStorageTable } from '@tablecache/local';
import { loadProgressBar, PostgresAccess, type PostgresConnection } from '@tablecache/postgres';
import { runAsScript } from './connect.js';
import { createSeedSchema, type Database, SCHEMA, userIndexes } from './users-cities.js';

export interface BasicExampleResult {
  readonly loaded: number;
  readonly staleName: string | undefined;
  readonly freshName: string | undefined;
  readonly queriesForAbsentUser: number;
  readonly insertedUser: { readonly name: string; readonly city_name: string | null } | undefined;
  readonly queriesForInsertedUser: number;
}

export async function runBasicExample(
  connection: PostgresConnection<Database>,
  log: (line: string) => void = console.log,
): Promise<BasicExampleResult> {
  const access = new PostgresAccess<Database>(connection);
  const db = access.kysely;
  try {
    await createSeedSchema(db);
    log(`1. created ${SCHEMA}.users, .cities and .users_cities with users 1 and 2`);

    const indexes = userIndexes(db);
    const users = new CachedTable(indexes, access, new LocalStorageTable(indexes, { name: 'users' }));
    // users.stats counts the queries the table sends, to show which reads send none.
    // A bar on a terminal while a long load runs (these few users load too fast to show one).
    await users.load({ index: 'primaryKey', all: true }, { onProgress: loadProgressBar({ label: 'users' }) });
    const loaded = (await users.getRecords({ index: 'primaryKey', all: true })).length;
    log(`2. loaded the join: ${loaded} users in memory (${users.stats.queries} query)`);

    for (const user of await users.getRecords({ index: 'primaryKey', keys: [1, 2] })) {
      log(`3. user ${user.user_id}: ${user.name} (${user.nickname ?? 'no nickname'}) lives in ${user.city_name}`);
    }

    const before = users.stats.queries;
    const absent = await users.getRecords({ index: 'primaryKey', keys: [3] });
    const queriesForAbsentUser = users.stats.queries - before;
    log(`4. user 3: ${absent.length === 0 ? 'absent' : 'present'}, known from memory with ${queriesForAbsentUser} database queries`);

    await db.withSchema(SCHEMA).updateTable('users').set({ name: 'Alicia' }).where('user_id', '=', 1).execute();
    const staleName = (await users.getFirstRecord({ index: 'primaryKey', keys: [1] })).name;
    log(`5. renamed user 1 in the database; the cache still says ${staleName} (stale: nothing told it)`);

    users.invalidateRecords([{ index: 'primaryKey', keys: [1] }]);
    const freshName = (await users.getFirstRecord({ index: 'primaryKey', keys: [1] })).name;
    log(`6. invalidated user 1; the next read refreshed it: ${freshName}`);

    await db.transaction().execute(async (trx) => {
      await trx.withSchema(SCHEMA).insertInto('users').values({ user_id: 3, name: 'Carol', nickname: 'caz' }).execute();
      await trx.withSchema(SCHEMA).insertInto('users_cities').values({ user_id: 3, city_id: 2 }).execute();
    });
    users.invalidateRecords([{ index: 'primaryKey', keys: [3] }]);
    await users.refreshInvalid();
    const beforeInserted = users.stats.queries;
    const [inserted] = await users.getRecords({ index: 'primaryKey', keys: [3] });
    const queriesForInsertedUser = users.stats.queries - beforeInserted;
    log(
      `7. inserted user 3, invalidated and refreshed: ${inserted?.name} in ${inserted?.city_name}, read from memory with ${queriesForInsertedUser} queries`,
    );

    await users.close();
    return {
      loaded,
      staleName,
      freshName,
      queriesForAbsentUser,
      insertedUser: inserted && { name: inserted.name, city_name: inserted.city_name },
      queriesForInsertedUser,
    };
  } finally {
    await access.close();
  }
}

await runAsScript(import.meta.url, 'tablecache basic example', (connection) => runBasicExample(connection));
