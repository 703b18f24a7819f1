// The README's tour, type-checked as written: each region is a code block of README.md.
type Database = import('./schema.js').Database;

// #region tour
import { CachedTable, PrimaryKeyIndexes } from '@tablecache/core';
import { LocalStorageTable } from '@tablecache/local';
import { PostgresAccess } from '@tablecache/postgres';

const access = new PostgresAccess<Database>({ connectionString: process.env.DATABASE_URL! });
// or { pool }, { kysely }, or { pglite } for embedded Postgres
const db = access.kysely;

const usersJoin = () =>
  db
    .selectFrom('users')
    .leftJoin('users_cities', 'users_cities.user_id', 'users.user_id')
    .leftJoin('cities', 'cities.city_id', 'users_cities.city_id')
    .select(['users.user_id', 'users.name', 'cities.city_id', 'cities.name as city_name']);

// The record type comes from the query: { user_id: number; name: string; city_id: number | null; city_name: string | null }
const indexes = new PrimaryKeyIndexes({
  queryAll: usersJoin(),
  primaryKey: (user) => user.user_id,
  querySome: (ids) => usersJoin().where('users.user_id', 'in', ids),
});
const users = new CachedTable(indexes, access, new LocalStorageTable(indexes, { name: 'users' }));

await users.load({ index: 'primaryKey', all: true }); // streams the join into memory
await users.getRecords({ index: 'primaryKey', keys: [1, 2] }); // from memory, no query
await users.getRecords({ index: 'primaryKey', keys: [99] }); // [] — known absent, no query
await users.getFirstRecord({ index: 'primaryKey', keys: [1] }); // or RecordNotFoundError

// Hot paths that must not await: answered from memory or not at all (nothing is started).
users.peek(1); // the record, or undefined: absent, invalid or not cached
users.getRecordsSync({ index: 'primaryKey', keys: [1, 2] }); // any spec: the records, or undefined if memory cannot answer now
const user = users.peek(1) ?? (await users.getFirstRecord({ index: 'primaryKey', keys: [1] }));
console.log(user.name);

// After a change in the database:
users.invalidateRecords([{ index: 'primaryKey', keys: [1] }]); // lazy: the next read of user 1 refreshes it
await users.refreshInvalid(); // or refresh everything invalid now, in few queries

await users.adjust({ index: 'primaryKey', keys: [1, 2, 3] }); // cache a different set: expire the rest, load what enters
for await (const user of users.streamRecords({ index: 'primaryKey', all: true })) {
  console.log(user.name, user.city_name);
}

// Every call that may wait takes a signal; what the database throws arrives as DatabaseError.
await users.getRecords({ index: 'primaryKey', keys: [7] }, { signal: AbortSignal.timeout(2000) });

// #endregion tour

// #region following
import { describePlan } from '@tablecache/core';
import { installTriggers, PgNotifyFeed } from '@tablecache/postgres';

// Once (idempotent): triggers on exactly the tables the query reads. Or from the command line:
// tablecache install --url $DATABASE_URL users cities users_cities (or `install: true` below).
await installTriggers(access, { for: users });

const feed = new PgNotifyFeed({ connectionString: process.env.DATABASE_URL! }); // or { pglite }
// 'auto': Postgres tells which tables the query reads and how a changed row maps to records.
// Here users and users_cities by user_id, cities by city_id: renaming a city refreshes exactly
// the users who live there. watch() resolves once the feed listens and every one of those
// tables has the triggers; otherwise it rejects, listing what is missing.
await users.watch(feed, {
  tables: 'auto',
  refresh: 'eager', // or 'lazy' (default): the next read refreshes
});
console.log(describePlan(await users.describeInvalidation())); // one line per table: by which columns, or whole and why
await users.load({ index: 'primaryKey', all: true }); // watch first, then load: nothing slips between

await db.updateTable('users').set({ name: 'Alicia' }).where('user_id', '=', 1).execute();
await users.sync(); // read-your-writes: every change committed before this call is now visible

await users.close();
await feed.close();
await access.close();
// #endregion following
