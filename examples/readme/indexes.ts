// The README's "More than one way in" snippet, type-checked as written.
import { LocalStorageTable } from '@tablecache/local';
import type { PostgresAccess } from '@tablecache/postgres';
import type { Database } from './schema.js';

declare const access: PostgresAccess<Database>;
declare const lastWeek: Date;
declare const now: Date;
declare const tenMinutesAgo: Date;
declare const nineMinutesAgo: Date;
declare const aMinuteFromNow: Date;
const db = access.kysely;
// Inner joins: a hash index key (the city) must not be null.
const usersJoin = () =>
  db
    .selectFrom('users')
    .innerJoin('users_cities', 'users_cities.user_id', 'users.user_id')
    .innerJoin('cities', 'cities.city_id', 'users_cities.city_id')
    .select(['users.user_id', 'users.name', 'users.created_at', 'cities.city_id', 'cities.name as city_name']);
const readings = () => db.selectFrom('readings').selectAll();

// #region indexes
import { CachedTable, NamedIndexes, RangeIndexes } from '@tablecache/core';

// One table, several indexes, all kept consistent by every load, refresh and adjust.
// Each index's key type flows from its key function to its query and to the specs.
const indexes = new NamedIndexes({
  queryAll: usersJoin(),
  primaryKey: (user) => user.user_id,
  querySome: (ids) => usersJoin().where('users.user_id', 'in', ids),
})
  .withHashIndex('byCity', { key: (user) => user.city_id, query: (cityIds) => usersJoin().where('cities.city_id', 'in', cityIds) })
  .withRangeIndex('byCreated', {
    score: (user) => user.created_at,
    query: (ge, lt) => usersJoin().where('users.created_at', '>=', ge).where('users.created_at', '<', lt),
  });
const users = new CachedTable(indexes, access, new LocalStorageTable(indexes, { name: 'users' }));
await users.getRecords({ index: 'byCity', keys: [1] });
await users.getRecords({ index: 'byCreated', ge: lastWeek, lt: now });

// A sliding window: the last 10 minutes in memory, older reads from the database.
const recent = new RangeIndexes({
  queryRange: (ge: Date, lt: Date) => readings().where('ts', '>=', ge).where('ts', '<', lt).orderBy('ts'),
  primaryKey: (reading) => reading.data_id,
  score: (reading) => reading.ts,
  querySome: (ids) => readings().where('data_id', 'in', ids),
});
const table = new CachedTable(recent, access, new LocalStorageTable(recent, { name: 'readings' }));
await table.load({ index: 'range', ge: tenMinutesAgo, lt: now });
await table.adjust({ index: 'range', ge: nineMinutesAgo, lt: aMinuteFromNow }); // expires what leaves, loads only what enters
// #endregion indexes
