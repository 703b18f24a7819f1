import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { inject } from 'vitest';
import { createTestDatabase } from './test-server.js';

/** How a test connects a `PostgresAccess` (or a trigger installer) to its backend. */
export type BackendConnection = { readonly connectionString: string } | { readonly pglite: PGlite };

export interface OpenBackend {
  readonly name: string;
  readonly connection: BackendConnection;
  /** Runs SQL on the database directly, as an application would, behind the cache's back. */
  exec<T = Record<string, unknown>>(sql: string, parameters?: readonly unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

export interface TestBackend {
  readonly name: 'postgres' | 'pglite';
  /** False when no server was found; server tests are then skipped (or fail, see global-setup). */
  readonly available: boolean;
  /** A fresh, empty database. */
  open(): Promise<OpenBackend>;
}

/** The real server (in a database of its own) and embedded PGlite; scenarios run on both. */
export function testBackends(): TestBackend[] {
  const serverUrl = inject('databaseUrl');
  return [
    {
      name: 'postgres',
      available: serverUrl !== null,
      async open() {
        if (serverUrl === null) throw new Error('no Postgres server for tests');
        const database = await createTestDatabase(serverUrl);
        const pool = new pg.Pool({ connectionString: database.url, max: 2 });
        pool.on('error', () => undefined); // idle clients ended by the database drop at close
        return {
          name: 'postgres',
          connection: { connectionString: database.url },
          async exec<T>(sql: string, parameters?: readonly unknown[]) {
            const result = await pool.query(sql, parameters ? [...parameters] : undefined);
            // A multi-statement text returns one result per statement; the last one is wanted.
            const last = Array.isArray(result) ? result[result.length - 1] : result;
            return (last?.rows ?? []) as T[];
          },
          async close() {
            await pool.end();
            await database.drop();
          },
        };
      },
    },
    {
      name: 'pglite',
      available: true,
      async open() {
        const pglite = await PGlite.create();
        return {
          name: 'pglite',
          connection: { pglite },
          async exec<T>(sql: string, parameters?: readonly unknown[]) {
            if (parameters !== undefined) return (await pglite.query<T>(sql, [...parameters])).rows;
            const results = await pglite.exec(sql);
            return (results[results.length - 1]?.rows ?? []) as T[];
          },
          async close() {
            await pglite.close();
          },
        };
      },
    },
  ];
}
