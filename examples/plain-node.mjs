// Plain JavaScript, run with `node examples/plain-node.mjs` after `pnpm build`: the packages
// import by name from their built output, with no TypeScript tooling.

import { PGlite } from '@electric-sql/pglite';
import { CachedTable, PrimaryKeyIndexes } from '@tablecache/core';
import { LocalStorageTable } from '@tablecache/local';
import { PostgresAccess } from '@tablecache/postgres';

const pglite = await PGlite.create();
await pglite.exec("CREATE TABLE notes (id integer PRIMARY KEY, body text); INSERT INTO notes VALUES (1, 'hello'), (2, 'world')");
const access = new PostgresAccess({ pglite });
const indexes = new PrimaryKeyIndexes({
  queryAll: { sql: 'SELECT id, body FROM notes' },
  primaryKey: (note) => note.id,
  querySome: (ids) => ({ sql: 'SELECT id, body FROM notes WHERE id = ANY($1::int[])', parameters: [ids] }),
});
const notes = new CachedTable(indexes, access, new LocalStorageTable(indexes, { name: 'notes' }));
await notes.load({ index: 'primaryKey', all: true });
const records = await notes.getRecords({ index: 'primaryKey', keys: [2, 1] });
console.log(records.map((note) => note.body).join(' '));
await notes.close();
await pglite.close();
