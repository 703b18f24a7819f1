/**
 * The cache follows the database by itself: triggers send NOTIFY, the table invalidates and
 * refreshes what changed, and `sync()` makes your own writes visible before you read.
 *
 *   pnpm example:auto                                  # on embedded PGlite
 *   DATABASE_URL=postgres://... pnpm example:auto      # on a server (schema tablecache_example)
 */
import { CachedTable, describePlan } from '@tablecache/core';
import { LocalStorageTable } from '@tablecache/local';
import { installTriggers, loadProgressBar, PgNotifyFeed, PostgresAccess } from '@tablecache/postgres';
import { sql } from 'kysely';
import { type ExampleConnection, runAsScript } from './connect.js';
import { CREATE_SCHEMA_STATEMENTS, type Database, SCHEMA, userIndexes } from './users-cities.js';

export interface AutoInvalidationResult {
  /** Users shown after each change and sync(), by step. */
  readonly afterCityRename: readonly (string | null)[];
  readonly afterMove: string | null | undefined;
  readonly deletedUserPresent: boolean;
  readonly insertedUser: string | undefined;
  /** Commit → visible, in milliseconds, without sync(): the table refreshes eagerly on NOTIFY. */
  readonly latency: { readonly samples: number; readonly p50: number; readonly p99: number; readonly max: number };
  readonly staleReadsAfterSync: number;
}

const USERS = 1000;

export async function runAutoInvalidationExample(
  connection: ExampleConnection,
  options: { readonly latencySamples?: number; readonly log?: (line: string) => void } = {},
): Promise<AutoInvalidationResult> {
  const log = options.log ?? console.log;
  const access = new PostgresAccess<Database>(connection);
  const db = access.kysely;
  const feed = new PgNotifyFeed(connection);
  const users = (() => {
    const indexes = userIndexes(db);
    return new CachedTable(indexes, access, new LocalStorageTable(indexes, { name: 'users' }));
  })();
  const name = async (userId: number) => (await users.getRecords({ index: 'primaryKey', keys: [userId] }))[0];
  try {
    for (const statement of CREATE_SCHEMA_STATEMENTS) await sql.raw(statement).execute(db);
    await sql`INSERT INTO ${sql.table(`${SCHEMA}.cities`)} VALUES (1, 'Berlin'), (2, 'Hamburg'), (3, 'Munich')`.execute(db);
    await sql`INSERT INTO ${sql.table(`${SCHEMA}.users`)} SELECT g, 'user ' || g, NULL FROM generate_series(1, ${USERS}) g`.execute(db);
    await sql`INSERT INTO ${sql.table(`${SCHEMA}.users_cities`)} SELECT g, 1 + g % 3 FROM generate_series(1, ${USERS}) g`.execute(db);
    // Triggers on exactly the tables the query reads, as the database says.
    await installTriggers(access, { for: users });
    const plan = await users.describeInvalidation();
    log(`1. ${USERS} users in 3 cities; triggers installed on the tables the join reads, followed so:`);
    for (const line of describePlan(plan).split('\n')) log(`   ${line}`);

    // Watch first, then load: nothing that commits in between can be missed. No mapping is
    // written: 'auto' follows the plan above.
    await users.watch(feed, { tables: 'auto', refresh: 'eager' });
    // A bar on a terminal while a long load runs (these few users load too fast to show one).
    await users.load({ index: 'primaryKey', all: true }, { onProgress: loadProgressBar({ label: 'users' }) });
    log(`2. loaded and watching (eager refresh); user 3 lives in ${(await name(3))?.city_name}`);

    await db.withSchema(SCHEMA).updateTable('cities').set({ name: 'München' }).where('city_id', '=', 1).execute();
    await users.sync();
    const inCity1 = await users.getRecords({ index: 'primaryKey', keys: [3, 6, 9] });
    const afterCityRename = inCity1.map((user) => user.city_name);
    log(`3. renamed city 1 with plain SQL; after sync() its ${Math.floor(USERS / 3)} users say: ${afterCityRename.join(', ')}`);

    await db.withSchema(SCHEMA).updateTable('users_cities').set({ city_id: 3 }).where('user_id', '=', 4).execute();
    await users.sync();
    const afterMove = (await name(4))?.city_name;
    log(`4. moved user 4 to city 3: ${afterMove}`);

    await db.withSchema(SCHEMA).deleteFrom('users').where('user_id', '=', 5).execute();
    await users.sync();
    const deletedUserPresent = (await name(5)) !== undefined;
    log(`5. deleted user 5: ${deletedUserPresent ? 'still cached (wrong!)' : 'gone from the cache'}`);

    await db.transaction().execute(async (trx) => {
      await trx
        .withSchema(SCHEMA)
        .insertInto('users')
        .values({ user_id: USERS + 1, name: 'Newcomer', nickname: 'new' })
        .execute();
      await trx
        .withSchema(SCHEMA)
        .insertInto('users_cities')
        .values({ user_id: USERS + 1, city_id: 2 })
        .execute();
    });
    await users.sync();
    const inserted = await name(USERS + 1);
    const insertedUser = inserted && `${inserted.name} in ${inserted.city_name}`;
    log(`6. inserted user ${USERS + 1}: ${insertedUser}`);

    // Propagation latency: commit, then read until the new value shows (no sync()).
    const samples = options.latencySamples ?? 200;
    const latencies: number[] = [];
    let staleReadsAfterSync = 0;
    for (let i = 0; i < samples; i++) {
      const userId = 10 + (i % (USERS - 10)); // users 1 to 9 were changed above (5 is gone)
      const value = `renamed ${i}`;
      await db.withSchema(SCHEMA).updateTable('users').set({ name: value }).where('user_id', '=', userId).execute();
      const committed = performance.now();
      while ((await name(userId))?.name !== value) {
        if (performance.now() - committed > 10_000) throw new Error(`user ${userId} did not become '${value}' within 10 s`);
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      latencies.push(performance.now() - committed);
      // And the barrier: after a write and sync(), the very first read is fresh.
      await db.withSchema(SCHEMA).updateTable('users').set({ nickname: value }).where('user_id', '=', userId).execute();
      await users.sync();
      if ((await name(userId))?.nickname !== value) staleReadsAfterSync++;
    }
    latencies.sort((a, b) => a - b);
    const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
    const latency = { samples, p50: at(0.5), p99: at(0.99), max: latencies[latencies.length - 1] ?? Number.NaN };
    log(
      `7. propagation commit → visible over ${samples} updates: p50 ${latency.p50.toFixed(2)} ms, p99 ${latency.p99.toFixed(2)} ms, max ${latency.max.toFixed(2)} ms; stale reads right after sync(): ${staleReadsAfterSync}`,
    );
    log(`   the table sent ${users.stats.refreshQueries} refresh queries in ${users.stats.refreshes} refreshes`);
    return { afterCityRename, afterMove, deletedUserPresent, insertedUser, latency, staleReadsAfterSync };
  } finally {
    await users.close();
    await feed.close();
    await access.close();
  }
}

await runAsScript(import.meta.url, 'tablecache auto-invalidation example', (connection) => runAutoInvalidationExample(connection));
