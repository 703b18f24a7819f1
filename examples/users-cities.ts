/**
 * The schema the examples and the end-to-end tests share: users, cities, and which city each
 * user lives in, cached as one joined record per user.
 */
import { PrimaryKeyIndexes } from '@tablecache/core';
import type { Kysely } from 'kysely';

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
