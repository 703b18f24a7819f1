import { CachedTable, type Change, NamedIndexes, PrimaryKeyIndexes } from '@tablecache/core';
import { LocalStorageTable } from '@tablecache/local';
import type { PostgresAccess } from '@tablecache/postgres';

export const SCHEMA = 'tablecache_bench';

export interface User {
  user_id: number;
  name: string;
  nickname: string | null;
  city_id: number | null;
  city_name: string | null;
}

/** The users ⋈ users_cities ⋈ cities join every scenario reads. */
export const JOIN = `SELECT u.user_id, u.name, u.nickname, c.city_id, c.name AS city_name
  FROM ${SCHEMA}.users u
  LEFT JOIN ${SCHEMA}.users_cities uc ON uc.user_id = u.user_id
  LEFT JOIN ${SCHEMA}.cities c ON c.city_id = uc.city_id`;

export async function createData(access: PostgresAccess, rows: number): Promise<void> {
  for (const sql of [
    `DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`,
    `CREATE SCHEMA ${SCHEMA}`,
    `CREATE TABLE ${SCHEMA}.cities (city_id integer PRIMARY KEY, name text NOT NULL)`,
    `CREATE TABLE ${SCHEMA}.users (user_id integer PRIMARY KEY, name text NOT NULL, nickname text)`,
    `CREATE TABLE ${SCHEMA}.users_cities (user_id integer PRIMARY KEY, city_id integer NOT NULL)`,
    `INSERT INTO ${SCHEMA}.cities SELECT g, 'city ' || g FROM generate_series(1, 1000) g`,
    `INSERT INTO ${SCHEMA}.users SELECT g, 'user name ' || g, CASE WHEN g % 3 = 0 THEN NULL ELSE 'nick' || g END FROM generate_series(1, ${rows}) g`,
    `INSERT INTO ${SCHEMA}.users_cities SELECT g, 1 + g % 1000 FROM generate_series(1, ${rows}) g`,
    `ANALYZE ${SCHEMA}.users, ${SCHEMA}.users_cities, ${SCHEMA}.cities`,
  ]) {
    await access.execute({ sql });
  }
}

const querySome = (ids: readonly number[]) => ({ sql: `${JOIN} WHERE u.user_id = ANY($1::int[])`, parameters: [ids] });

/** The join's indexes by primary key (plain SQL: built alike on any thread, with or without a database). */
export function userIndexes() {
  return new PrimaryKeyIndexes<User, number>({ primaryKey: (user) => user.user_id, queryAll: { sql: JOIN }, querySome });
}

/** The cached join by primary key: what the load and point-read scenarios measure. */
export function usersTable(access: PostgresAccess) {
  const indexes = userIndexes();
  return new CachedTable(indexes, access, new LocalStorageTable(indexes, { name: 'users' }));
}

/** What `watch` maps a change to users to: the joined record of that user (the propagation scenarios' mapping). */
export const usersByKey = {
  [`${SCHEMA}.users`]: (change: Change) => [{ index: 'primaryKey' as const, keys: [(change.new ?? change.old)!.user_id as number] }],
};

/** The same join with a range index on the key, for reads of consecutive users. */
export function usersByIdTable(access: PostgresAccess) {
  const indexes = new NamedIndexes({
    primaryKey: (user: User) => user.user_id,
    queryAll: { sql: JOIN },
    querySome,
    range: {
      byId: {
        score: (user: User) => user.user_id,
        query: (ge: number, lt: number) => ({
          sql: `${JOIN} WHERE u.user_id >= $1 AND u.user_id < $2 ORDER BY u.user_id`,
          parameters: [ge, lt],
        }),
      },
    },
  });
  return new CachedTable(indexes, access, new LocalStorageTable(indexes, { name: 'users by id' }));
}
