/**
 * The schema the examples and the end-to-end tests share: users, cities, and which city each
 * user lives in, cached as one joined record per user.
 */
import { PrimaryKeyIndexes } from '@tablecache/core';
import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, sql } from 'kysely';

export const SCHEMA = 'tablecache_example';

export interface Database {
  users: { user_id: number; name: string; nickname: string | null };
  cities: { city_id: number; name: string };
  users_cities: { user_id: number; city_id: number };
}

/** Drops and recreates the example's own schema (nothing outside it is touched), one statement each. */
export const CREATE_SCHEMA_STATEMENTS: readonly string[] = [
  `DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`,
  `CREATE SCHEMA ${SCHEMA}`,
  `CREATE TABLE ${SCHEMA}.users (user_id integer PRIMARY KEY, name text NOT NULL, nickname text)`,
  `CREATE TABLE ${SCHEMA}.cities (city_id integer PRIMARY KEY, name text NOT NULL)`,
  `CREATE TABLE ${SCHEMA}.users_cities (
    user_id integer PRIMARY KEY REFERENCES ${SCHEMA}.users ON DELETE CASCADE,
    city_id integer NOT NULL REFERENCES ${SCHEMA}.cities
  )`,
];

/**
 * Creates the example's schema afresh (see CREATE_SCHEMA_STATEMENTS) with its seed: cities 1
 * (Berlin) and 2 (Hamburg), users 1 (Alice, in Berlin) and 2 (Bob, in Hamburg).
 */
export async function createSeedSchema(db: Kysely<Database>): Promise<void> {
  for (const statement of CREATE_SCHEMA_STATEMENTS) await sql.raw(statement).execute(db);
  await db
    .withSchema(SCHEMA)
    .insertInto('cities')
    .values([
      { city_id: 1, name: 'Berlin' },
      { city_id: 2, name: 'Hamburg' },
    ])
    .execute();
  await db
    .withSchema(SCHEMA)
    .insertInto('users')
    .values([
      { user_id: 1, name: 'Alice', nickname: 'al' },
      { user_id: 2, name: 'Bob', nickname: null },
    ])
    .execute();
  await db
    .withSchema(SCHEMA)
    .insertInto('users_cities')
    .values([
      { user_id: 1, city_id: 1 },
      { user_id: 2, city_id: 2 },
    ])
    .execute();
}

/**
 * Creates the seeded schema when it is absent, for a service that keeps what an earlier run
 * left. Returns whether it created it.
 */
export async function ensureSeedSchema(db: Kysely<Database>): Promise<boolean> {
  const { rows } = await sql<{ present: boolean }>`SELECT to_regclass(${`${SCHEMA}.users_cities`}) IS NOT NULL AS present`.execute(db);
  if (rows[0]?.present) return false;
  await createSeedSchema(db);
  return true;
}

/**
 * A query builder that compiles Postgres SQL and never connects: for threads that build the
 * same indexes as the table's owner (to read its shared memory) but never query the database.
 */
export function queryBuilder(): Kysely<Database> {
  return new Kysely<Database>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (db) => new PostgresIntrospector(db),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
  });
}

export function usersJoin(db: Kysely<Database>) {
  return db
    .withSchema(SCHEMA)
    .selectFrom('users')
    .leftJoin('users_cities', 'users_cities.user_id', 'users.user_id')
    .leftJoin('cities', 'cities.city_id', 'users_cities.city_id')
    .select(['users.user_id', 'users.name', 'users.nickname', 'cities.city_id', 'cities.name as city_name'])
    .orderBy('users.user_id');
}

/** The joined users, read by primary key (`user_id`). The record type comes from the query. */
export function userIndexes(db: Kysely<Database>) {
  return new PrimaryKeyIndexes({
    queryAll: usersJoin(db),
    primaryKey: (user) => user.user_id,
    querySome: (userIds) => usersJoin(db).where('users.user_id', 'in', userIds),
  });
}

export const WATCHED_TABLES = [`${SCHEMA}.users`, `${SCHEMA}.cities`, `${SCHEMA}.users_cities`];
