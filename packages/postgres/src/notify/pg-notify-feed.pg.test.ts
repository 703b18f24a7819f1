import { CachedTable, type ChangeFeedEvent, InvalidOptionsError, PrimaryKeyIndexes } from '@tablecache/core';
import { LocalStorageTable } from '@tablecache/local';
import { type OpenBackend, testBackends } from '@tablecache/testing';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, test, vi } from 'vitest';
import { PostgresAccess } from '../postgres-access.js';
import { installTriggers } from '../triggers/install-triggers.js';
import { PgNotifyFeed } from './pg-notify-feed.js';

interface Item {
  id: number;
  label: string;
}

function itemTable(access: PostgresAccess) {
  const indexes = new PrimaryKeyIndexes<Item, number>({
    primaryKey: (item) => item.id,
    queryAll: { sql: 'SELECT id, label FROM items ORDER BY id' },
    querySome: (ids) => ({ sql: 'SELECT id, label FROM items WHERE id = ANY($1::int[]) ORDER BY id', parameters: [ids] }),
  });
  return new CachedTable(indexes, access, new LocalStorageTable(indexes, { name: 'items' }));
}

const byId = (change: { old?: Record<string, unknown>; new?: Record<string, unknown> }) => [
  {
    index: 'primaryKey' as const,
    keys: [...new Set([change.old?.id, change.new?.id].filter((id): id is number => typeof id === 'number'))],
  },
];

for (const backend of testBackends()) {
  describe.skipIf(!backend.available)(`PgNotifyFeed on ${backend.name}`, () => {
    let database: OpenBackend;
    let access: PostgresAccess;

    beforeAll(async () => {
      database = await backend.open();
      access = new PostgresAccess(database.connection);
      await database.exec('CREATE TABLE items (id integer PRIMARY KEY, label text NOT NULL)');
      await installTriggers(access, { tables: ['items'] });
    });

    beforeEach(async () => {
      await database.exec("TRUNCATE items; INSERT INTO items SELECT g, 'v1' FROM generate_series(1, 20) g");
    });

    afterAll(async () => {
      await access?.close();
      await database?.close();
    });

    async function watchedTable(options: { onError?: (error: unknown) => void } = {}) {
      const errors: unknown[] = [];
      const feed = new PgNotifyFeed(database.connection, { onError: options.onError ?? ((error) => errors.push(error)) });
      const table = itemTable(access);
      await table.watch(feed, { tables: { items: byId } });
      await table.load({ index: 'primaryKey', all: true });
      return { feed, table, errors };
    }

    test('after sync, a committed update is visible', async () => {
      const { feed, table } = await watchedTable();
      await database.exec("UPDATE items SET label = 'v2' WHERE id = 3");
      await table.sync();
      expect(await table.getFirstRecord({ index: 'primaryKey', keys: [3] })).toEqual({ id: 3, label: 'v2' });
      await table.close();
      await feed.close();
    });

    test('several statements in one transaction are all visible after sync', async () => {
      const { feed, table } = await watchedTable();
      await database.exec(
        "BEGIN; UPDATE items SET label = 'v2' WHERE id = 1; DELETE FROM items WHERE id = 2; INSERT INTO items VALUES (99, 'new'); COMMIT",
      );
      await table.sync();
      expect(await table.getRecords({ index: 'primaryKey', keys: [1, 2, 99] })).toEqual([
        { id: 1, label: 'v2' },
        { id: 99, label: 'new' },
      ]);
      await table.close();
      await feed.close();
    });

    test('garbage on the channel is reported and treated as a gap, and never crashes', async () => {
      const { feed, table, errors } = await watchedTable();
      const events: ChangeFeedEvent[] = [];
      feed.subscribe((event) => events.push(event));
      await database.exec(
        "SELECT pg_notify('tablecache', 'garbage'), pg_notify('tablecache', '{\"v\":2}'), pg_notify('tablecache', '{\"v\":1,\"op\":\"drop\"}')",
      );
      await feed.sync();
      expect(events.map((e) => e.type)).toEqual(['gap', 'gap', 'gap']);
      expect(errors).toHaveLength(3);
      expect(feed.gaps).toBe(3);
      expect(await table.getRecords({ index: 'primaryKey', keys: [1] })).toEqual([{ id: 1, label: 'v1' }]);
      await table.close();
      await feed.close();
    });

    test('a forged payload naming a fake row puts no data into the cache', async () => {
      const { feed, table } = await watchedTable();
      const forged = {
        v: 2,
        op: 'insert',
        schema: 'public',
        table: 'items',
        at: Date.now(),
        columns: ['id', 'label'],
        types: [23, 25],
        new: [
          ['1', 'FORGED'],
          ['12345', 'FORGED'],
        ],
      };
      await access.execute({ sql: "SELECT pg_notify('tablecache', $1)", parameters: [JSON.stringify(forged)] });
      await table.sync();
      const records = await table.getRecords({ index: 'primaryKey', all: true });
      expect(records).toHaveLength(20);
      expect(records.some((r) => r.label === 'FORGED' || r.id === 12345)).toBe(false);
      await table.close();
      await feed.close();
    });

    test('a forged marker does not release a sync', async () => {
      const { feed, table } = await watchedTable();
      await database.exec('SELECT pg_notify(\'tablecache\', \'{"v":2,"marker":"someone-else:1"}\')');
      await database.exec("UPDATE items SET label = 'v2' WHERE id = 4");
      await table.sync();
      expect(await table.getFirstRecord({ index: 'primaryKey', keys: [4] })).toEqual({ id: 4, label: 'v2' });
      await table.close();
      await feed.close();
    });

    test('a rolled-back update leaves the cache as it was', async () => {
      const { feed, table } = await watchedTable();
      await database.exec("BEGIN; UPDATE items SET label = 'v2' WHERE id = 5; ROLLBACK");
      await table.sync();
      expect(table.stats.refreshes).toBe(0);
      expect(await table.getFirstRecord({ index: 'primaryKey', keys: [5] })).toEqual({ id: 5, label: 'v1' });
      await table.close();
      await feed.close();
    });

    test('a statement updating 100,000 rows is visible after sync with a bounded number of refresh queries', async () => {
      await database.exec("INSERT INTO items SELECT g, 'v1' FROM generate_series(21, 100000) g");
      const { feed, table } = await watchedTable();
      await database.exec("UPDATE items SET label = 'v2'");
      await table.sync();
      const records = await table.getRecords({ index: 'primaryKey', all: true });
      expect(records).toHaveLength(100_000);
      expect(records.every((r) => r.label === 'v2')).toBe(true);
      // 10,000 keys per refresh query (maxKeysPerQuery) and one refresh per few notifications at most.
      expect(table.stats.refreshQueries).toBeLessThanOrEqual(400);
      await table.close();
      await feed.close();
    });

    test.each([
      ['an empty channel', { channel: '' }],
      ['a zero liveness interval', { livenessIntervalMs: 0 }],
    ])('%s is refused with InvalidOptionsError', (_, options) => {
      expect(() => new PgNotifyFeed(database.connection, options)).toThrow(InvalidOptionsError);
    });
  });
}

const [server] = testBackends();

describe.skipIf(!server?.available)('PgNotifyFeed when its connection is killed', () => {
  let database: OpenBackend;
  let access: PostgresAccess;

  beforeAll(async () => {
    database = await server!.open();
    access = new PostgresAccess(database.connection);
    await database.exec(
      "CREATE TABLE items (id integer PRIMARY KEY, label text NOT NULL); INSERT INTO items SELECT g, 'v0' FROM generate_series(1, 50) g",
    );
    await installTriggers(access, { tables: ['items'] });
  });

  afterAll(async () => {
    await access?.close();
    await database?.close();
  });

  async function killListener(): Promise<number> {
    const [row] = await database.exec<{ n: number }>(
      "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'tablecache-listener'",
    );
    return row!.n;
  }

  test('pg_terminate_backend on the listener while updates continue: a gap, a reconnect, and no stale read after sync', async () => {
    const errors: unknown[] = [];
    const feed = new PgNotifyFeed(database.connection, {
      onError: (error) => errors.push(error),
      reconnectDelayMs: { initial: 20, max: 200 },
    });
    const table = itemTable(access);
    await table.watch(feed, { tables: { items: byId }, refresh: 'eager' });
    await table.load({ index: 'primaryKey', all: true });
    const writer = new pg.Pool({ connectionString: (database.connection as { connectionString: string }).connectionString, max: 1 });
    let round = 0;
    let writing = true;
    const writes = (async () => {
      while (writing) {
        round++;
        await writer.query('UPDATE items SET label = $1 WHERE id = $2', [`v${round}`, 1 + (round % 50)]);
      }
    })();
    for (let kill = 0; kill < 3; kill++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(await killListener()).toBeGreaterThan(0);
      await vi.waitFor(() => expect(feed.gaps).toBe(kill + 1), { timeout: 10_000 });
    }
    writing = false;
    await writes;
    await table.sync();
    const fresh = await database.exec<Item>('SELECT id, label FROM items ORDER BY id');
    expect(await table.getRecords({ index: 'primaryKey', all: true })).toEqual(fresh);
    expect(errors.length).toBeGreaterThan(0);
    await table.close();
    await feed.close();
    await writer.end();
  });

  // Whether Postgres still delivers a notification committed before the new LISTEN varies
  // (it did here); the gap after the reconnect is what makes this read fresh either way.
  test('a sync waiting while the connection is down resolves after the reconnect with fresh reads', async () => {
    const errors: unknown[] = [];
    const feed = new PgNotifyFeed(database.connection, {
      onError: (error) => errors.push(error),
      reconnectDelayMs: { initial: 200, max: 200 },
    });
    const table = itemTable(access);
    await table.watch(feed, { tables: { items: byId } });
    await table.load({ index: 'primaryKey', all: true });
    await killListener();
    await vi.waitFor(() => expect(errors).not.toEqual([])); // the listener knows it lost its connection
    await database.exec("UPDATE items SET label = 'during outage' WHERE id = 7");
    await table.sync();
    expect(await table.getFirstRecord({ index: 'primaryKey', keys: [7] })).toEqual({ id: 7, label: 'during outage' });
    await table.close();
    await feed.close();
  });
});

describe('PgNotifyFeed without a server', () => {
  test('closing a feed that never connected returns, and ready() rejects', async () => {
    const errors: unknown[] = [];
    const feed = new PgNotifyFeed(
      { connectionString: 'postgres://nobody@127.0.0.1:1/none' },
      { onError: (error) => errors.push(error), reconnectDelayMs: { initial: 10, max: 50 } },
    );
    await vi.waitFor(() => expect(errors.length).toBeGreaterThan(1));
    await feed.close();
    await expect(feed.ready()).rejects.toThrow(/closed before it connected/);
  });
});
