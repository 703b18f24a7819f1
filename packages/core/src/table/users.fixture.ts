// Test support for the table tests: a users table over a MemoryDatabase. Not part of the build.
import { PrimaryKeyIndexes, type PrimaryKeySpec } from '../indexes/primary-key-indexes.js';
import { MapStorageTable, MemoryDatabase } from '../testing/index.js';
import { CachedTable, type CachedTableOptions } from './cached-table.js';

export interface User {
  readonly id: number;
  readonly name: string;
}

export const all = { index: 'primaryKey', all: true } as const;
export const keys = (...ks: number[]): PrimaryKeySpec<number> => ({ index: 'primaryKey', keys: ks });
/** Tests that look at what is logged pass a logger of their own. */
export const silent = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };

export const user = (id: number, name = `user ${id}`): User => ({ id, name });

/** A table of `rows` (default users 1 to 3), not loaded, with the database it reads. */
export function usersTable(rows: User[] = [user(1), user(2), user(3)], options: CachedTableOptions = {}) {
  const db = new MemoryDatabase<User>((u) => u.id);
  db.set(...rows);
  const indexes = new PrimaryKeyIndexes<User, number>({ primaryKey: (u) => u.id, queryAll: db.queryAll, querySome: db.querySome });
  const table = new CachedTable(indexes, db, new MapStorageTable(indexes, { name: 'users' }), { logger: silent, ...options });
  return { db, table, indexes };
}
