import { PGlite } from '@electric-sql/pglite';
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { PostgresConnection } from '@tablecache/postgres';

/**
 * The examples run on the server of DATABASE_URL when it is set, else on embedded PGlite, in
 * memory, with no server at all.
 */
export async function connectFromEnv<DB>(): Promise<{ connection: PostgresConnection<DB>; description: string }> {
  const url = process.env.DATABASE_URL;
  if (url) return { connection: { connectionString: url }, description: `Postgres at ${new URL(url).host}` };
  return { connection: { pglite: await PGlite.create() }, description: 'embedded PGlite (set DATABASE_URL for a server)' };
}

/** Whether this module is the script node was started with. */
export function isMain(moduleUrl: string): boolean {
  const script = process.argv[1];
  return script !== undefined && pathToFileURL(realpathSync(script)).href === moduleUrl;
}
