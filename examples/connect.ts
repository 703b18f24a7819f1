import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { PGlite } from '@electric-sql/pglite';

/** What every example runs on: a server, or an embedded PGlite. */
export type ExampleConnection = { readonly connectionString: string } | { readonly pglite: PGlite };

/**
 * Runs an example when its module is the script node was started with: on the server of
 * DATABASE_URL when it is set, else on embedded PGlite, in memory, with no server at all.
 */
export async function runAsScript(
  moduleUrl: string,
  title: string,
  run: (connection: ExampleConnection) => Promise<unknown>,
): Promise<void> {
  const script = process.argv[1];
  if (script === undefined || pathToFileURL(realpathSync(script)).href !== moduleUrl) return;
  const url = process.env.DATABASE_URL;
  if (url) {
    console.log(`${title} on Postgres at ${new URL(url).host}`);
    await run({ connectionString: url });
    return;
  }
  console.log(`${title} on embedded PGlite (set DATABASE_URL for a server)`);
  const pglite = await PGlite.create();
  try {
    await run({ pglite });
  } finally {
    await pglite.close();
  }
}
