import { CachedTable, type Logger, PrimaryKeyIndexes, SyncTimeoutError, TablecacheError } from '@tablecache/core';
import { LocalStorageTable } from '@tablecache/local';
import { canCreateClusters, TestCluster } from '@tablecache/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FEED_KINDS } from './feed-kinds.fixture.js';
import { byId } from './items.fixture.js';
import { PostgresAccess } from './postgres-access.js';

/**
 * A real server stopped and restarted (fast and immediate shutdown) under write load, with
 * readers and sync() running: nothing hangs, no error is untyped, no sync() resolves while the
 * cache could miss a change, and everything converges once the server is back.
 */

interface Item {
  readonly id: number;
  readonly version: number;
}

const ROWS = 200;
const SELECT = 'SELECT id, version FROM items';

/** A logger that keeps the lines, so a test can say what an outage looks like in the log. */
function recordingLogger(): Logger & { readonly lines: string[] } {
  const lines: string[] = [];
  const record = (level: string) => (line: string) => void lines.push(`${level}: ${line}`);
  return { lines, error: record('error'), warn: record('warn'), info: record('info'), debug: () => {} };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

// CI (TABLECACHE_REQUIRE_SERVER=1) must be able to make clusters: there, this never skips.
describe.skipIf(!canCreateClusters() && process.env.TABLECACHE_REQUIRE_SERVER !== '1').each(FEED_KINDS)(
  'a database outage, with the $name feed',
  (kind) => {
    let cluster: TestCluster;

    beforeAll(async () => {
      cluster = await TestCluster.create(kind.clusterSettings);
      const admin = new PostgresAccess({ connectionString: cluster.url });
      await admin.execute({ sql: 'CREATE TABLE items (id integer PRIMARY KEY, version integer NOT NULL)' });
      await admin.execute({ sql: `INSERT INTO items SELECT g, 0 FROM generate_series(1, ${ROWS}) g` });
      await kind.install(admin, ['items']);
      await admin.close();
    });

    afterAll(async () => {
      await cluster?.drop();
    });

    async function watchedItems(options: { disconnectedGraceMs?: number } = {}) {
      const logger = recordingLogger();
      const access = new PostgresAccess({ connectionString: cluster.url, connectTimeoutMs: 2000, logger });
      const { feed, close: closeFeed } = kind.open(
        { connectionString: cluster.url },
        {
          lostWithinMs: 1000,
          reconnectDelayMs: { initial: 50, max: 500 },
          syncTimeoutMs: 3000,
          logger,
        },
      );
      const indexes = new PrimaryKeyIndexes<Item, number>({
        primaryKey: (item) => item.id,
        queryAll: { sql: SELECT },
        querySome: (ids) => ({ sql: `${SELECT} WHERE id = ANY($1::int[])`, parameters: [ids] }),
      });
      const table = new CachedTable(indexes, access, new LocalStorageTable(indexes, { name: 'items' }), { logger, syncTimeoutMs: 3000 });
      await table.watch(feed, { tables: { items: byId }, refresh: 'eager', retryDelayMs: { initial: 50, max: 500 }, ...options });
      await table.load({ index: 'primaryKey', all: true });
      const close = async () => {
        await table.close();
        await closeFeed();
        await access.close();
      };
      return { access, feed, table, logger, close };
    }

    for (const mode of ['fast', 'immediate'] as const) {
      test(`a server stopped (${mode}) and restarted under write load converges, and nothing hangs, goes stale after sync or fails untyped`, async () => {
        const { table, logger, close } = await watchedItems();
        const writers = new pg.Pool({ connectionString: cluster.url, max: 2, connectionTimeoutMillis: 1000 });
        writers.on('error', () => undefined);
        /** The latest version of each row whose commit the writer saw acknowledged. */
        const committed = new Map<number, number>();
        const problems: string[] = [];
        let running = true;
        let reads = 0;
        let readErrors = 0;
        let syncsResolved = 0;
        let syncsRejected = 0;
        let slowest = 0;

        const writing = (async () => {
          while (running) {
            const id = 1 + Math.floor(Math.random() * ROWS);
            try {
              const { rows } = await writers.query<{ version: number }>(
                'UPDATE items SET version = version + 1 WHERE id = $1 RETURNING version',
                [id],
              );
              committed.set(id, rows[0]?.version ?? 0);
            } catch {
              await pause(50); // the server is down; the commit's fate is unknown, so nothing is recorded
            }
          }
        })();

        const reading = (async () => {
          while (running) {
            const id = 1 + Math.floor(Math.random() * ROWS);
            const started = performance.now();
            try {
              table.peek(id) ?? (await table.getFirstRecord({ index: 'primaryKey', keys: [id] }));
              reads++;
            } catch (error) {
              readErrors++;
              if (!(error instanceof TablecacheError)) problems.push(`a read failed with an untyped error: ${String(error)}`);
            }
            slowest = Math.max(slowest, performance.now() - started);
            await nextTurn();
          }
        })();

        const syncing = (async () => {
          while (running) {
            const before = new Map(committed);
            try {
              await table.sync();
              syncsResolved++;
              // Read-your-writes: whatever was acknowledged before the call is visible after it.
              for (const [id, version] of [...before].slice(0, 20)) {
                const item = table.peek(id) ?? (await table.getFirstRecord({ index: 'primaryKey', keys: [id] }));
                if (item.version < version) problems.push(`after sync, item ${id} is at version ${item.version}, older than ${version}`);
              }
            } catch (error) {
              syncsRejected++;
              if (!(error instanceof TablecacheError)) problems.push(`sync failed with an untyped error: ${String(error)}`);
            }
            await pause(20);
          }
        })();

        await pause(1000);
        await cluster.stop(mode);
        // Longer than sync's 3 s deadline: syncs that start during the outage must time out.
        await pause(4500);
        const statusDuringOutage = table.status.feed;
        await cluster.start();
        await pause(3000);
        running = false;
        await Promise.all([writing, reading, syncing]);

        // Converged: after a sync that succeeds, the cache equals the database.
        for (let attempt = 0; ; attempt++) {
          try {
            await table.sync();
            break;
          } catch (error) {
            if (!(error instanceof SyncTimeoutError) || attempt > 10) throw error;
          }
        }
        const database = (await writers.query<Item>(`${SELECT} ORDER BY id`)).rows;
        const cached = await table.getRecords({ index: 'primaryKey', all: true });
        expect(
          [...cached].sort((a, b) => a.id - b.id),
          logger.lines.join('\n'),
        ).toEqual(database);
        expect(table.status.feed).toBe('live');

        expect(problems, logger.lines.join('\n')).toEqual([]);
        expect(statusDuringOutage, logger.lines.join('\n')).toBe('disconnected');
        expect(readErrors).toBeGreaterThan(0); // reads that needed the database failed, typed
        expect(reads).toBeGreaterThan(0);
        expect(syncsResolved).toBeGreaterThan(0);
        expect(syncsRejected).toBeGreaterThan(0); // syncs during the outage timed out rather than resolve
        expect(slowest).toBeLessThan(10_000); // nothing waited without a bound
        expect(logger.lines.some((line) => line.includes('disconnected'))).toBe(true);
        await writers.end();
        await close();
      });
    }

    test('a read that needs the database while it is down rejects with DatabaseError carrying the driver error, within the connect timeout', async () => {
      const { table, close } = await watchedItems();
      await cluster.stop('fast');
      try {
        const started = performance.now();
        const error = await table.getRecords({ index: 'primaryKey', keys: [1] }).catch((e: unknown) => e);
        expect(error).toMatchObject({ name: 'DatabaseError' });
        expect((error as Error).cause).toBeInstanceOf(Error);
        expect(performance.now() - started).toBeLessThan(10_000);
      } finally {
        await cluster.start();
        await close();
      }
    });

    test('with a grace period, records keep being served from memory while the server is down, and status says grace', async () => {
      const { table, close } = await watchedItems({ disconnectedGraceMs: 60_000 });
      await cluster.stop('fast');
      try {
        for (let waited = 0; table.status.feed !== 'grace' && waited < 10_000; waited += 50) await pause(50);
        expect(table.status.feed).toBe('grace');
        expect(table.peek(1)).toMatchObject({ id: 1 });
        expect(await table.getRecords({ index: 'primaryKey', keys: [2, 3] })).toHaveLength(2);
      } finally {
        await cluster.start();
        await close();
      }
    });
  },
);
