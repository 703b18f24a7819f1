import { once } from 'node:events';
import type { Worker } from 'node:worker_threads';
import { CachedTable } from '@tablecache/core';
import { installTriggers, PgNotifyFeed, PostgresAccess } from '@tablecache/postgres';
import { type OpenBackend, testBackends } from '@tablecache/testing';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { type Account, accountIndexes, accountsById } from './reader/accounts.fixture.js';
import { quiet } from './reader/items.fixture.js';
import { SharedMemoryStorageTable } from './shared-memory-storage-table.js';
import { typeScriptWorker } from './typescript-worker.fixture.js';

for (const backend of testBackends()) {
  describe.skipIf(!backend.available)(`a shared table on ${backend.name}, read by worker threads`, () => {
    let database: OpenBackend;
    let access: PostgresAccess;
    const closing: (() => Promise<unknown>)[] = [];

    beforeAll(async () => {
      database = await backend.open();
      await database.exec(
        `CREATE TABLE accounts (id integer PRIMARY KEY, name text NOT NULL, opened timestamptz NOT NULL, tags jsonb, balance numeric NOT NULL);
         INSERT INTO accounts SELECT g, 'Zoë ' || g, '2026-01-01T00:00:00Z'::timestamptz + g * interval '1 hour',
           jsonb_build_object('n', g, 'list', jsonb_build_array(g, 'ü', null)), (g * 1.25)::numeric FROM generate_series(1, 200) g`,
      );
      access = new PostgresAccess(database.connection);
      await installTriggers(access, { tables: ['accounts'] });
    });

    afterEach(async () => {
      for (const close of closing.splice(0).reverse()) await close();
    });

    afterAll(async () => {
      await access?.close();
      await database?.close();
    });

    /** The owner on this thread (loaded, watching eagerly) and a reader in a worker that answers questions. */
    async function ownerAndWorker() {
      const indexes = accountIndexes();
      const storage = new SharedMemoryStorageTable(indexes, { name: 'accounts' });
      const table = new CachedTable(indexes, access, storage, { logger: quiet });
      const feed = new PgNotifyFeed(database.connection, { logger: quiet });
      closing.push(
        () => feed.close(),
        () => table.close(),
      );
      await table.watch(feed, { tables: { accounts: accountsById }, refresh: 'eager' });
      await table.load({ index: 'primaryKey', all: true });
      const worker: Worker = typeScriptWorker(new URL('./reader/answering-reader.fixture.ts', import.meta.url), storage.handle());
      closing.push(() => worker.terminate());
      await once(worker, 'message');
      const ask = async (question: 'peek' | 'read' | 'syncThenRead', id: number): Promise<Account | undefined> => {
        worker.postMessage({ ask: question, id });
        const [answer] = (await once(worker, 'message')) as [{ record?: Account; error?: string }];
        if (answer.error !== undefined) throw new Error(answer.error);
        return answer.record;
      };
      return { table, ask };
    }

    test('a worker reads exactly the record the owner holds, from shared memory', async () => {
      const { table, ask } = await ownerAndWorker();
      const queries = table.stats.queries;
      expect(await ask('peek', 7)).toEqual(table.peek(7));
      expect(await ask('read', 200)).toEqual(table.peek(200));
      expect(table.stats.queries).toBe(queries);
    });

    test("an update in Postgres shows in a worker's read that starts after the owner's sync", async () => {
      const { table, ask } = await ownerAndWorker();
      await database.exec("UPDATE accounts SET name = 'renamed', tags = '{\"moved\": true}' WHERE id = 7");
      await table.sync();
      expect(await ask('read', 7)).toMatchObject({ id: 7, name: 'renamed', tags: { moved: true } });
      expect(await ask('peek', 8)).toMatchObject({ id: 8, name: 'Zoë 8' });
    });

    test("a worker's own sync waits for the owner's, and its read then sees the update and the delete", async () => {
      const { ask } = await ownerAndWorker();
      await database.exec("UPDATE accounts SET name = 'synced from the worker' WHERE id = 9; DELETE FROM accounts WHERE id = 10");
      expect(await ask('syncThenRead', 9)).toMatchObject({ id: 9, name: 'synced from the worker' });
      await expect(ask('read', 10)).rejects.toThrow(/RecordNotFoundError/);
    });
  });
}
