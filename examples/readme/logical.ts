// The README's logical-feed snippets, type-checked as written.
import type { CachedTable, PrimaryKeysSpec } from '@tablecache/core';
import type { PostgresAccess } from '@tablecache/postgres';
import type { Database } from './schema.js';

declare const access: PostgresAccess<Database>;
declare const users: CachedTable<{ user_id: number; name: string }, PrimaryKeysSpec<number>, number>;
declare const db: PostgresAccess<Database>['kysely'];

// #region logical
import { installPublication, PgLogicalFeed } from '@tablecache/postgres';

// Once (idempotent), or `tablecache publish --url $DATABASE_URL users cities users_cities`,
// or `install: true` in watch().
await installPublication(access, { tables: ['users', 'cities', 'users_cities'] });

// The one line that changes: the feed. Mappings, 'auto', sync() and everything else stay.
const feed = new PgLogicalFeed({ connectionString: process.env.DATABASE_URL! });
await users.watch(feed, { tables: 'auto', refresh: 'eager' });
// #endregion logical

// #region sync-to
// The writer, in any process: commit, then read the position and hand it on (a response
// header, a job's payload). Every change of the commit is at or before it.
await db.updateTable('users').set({ name: 'Alicia' }).where('user_id', '=', 1).execute();
const [written] = await access.execute<{ lsn: string }>({ sql: 'SELECT pg_current_wal_lsn()::text AS lsn' });

// Any instance: once its cache has everything up to that position, its reads see the write.
await users.syncTo(written!.lsn); // at once when its feed is past it already
await users.getFirstRecord({ index: 'primaryKey', keys: [1] }); // 'Alicia'
// #endregion sync-to
