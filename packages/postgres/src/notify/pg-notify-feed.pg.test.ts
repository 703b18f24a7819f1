import { PGlite } from '@electric-sql/pglite';
import { type ChangeFeedEvent, FeedClosedError, InvalidOptionsError, type Logger, SyncTimeoutError } from '@tablecache/core';
import { type OpenBackend, testBackends } from '@tablecache/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { byId, itemTable } from '../items.fixture.js';
import { PostgresAccess } from '../postgres-access.js';
import { installTriggers } from '../triggers/install-triggers.js';
import { countMarkers, recordEvents, recordingLogger } from './feed.fixture.js';
import { FeedConnectionError } from './feed-errors.js';
import { PgNotifyFeed } from './pg-notify-feed.js';

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
      ['an infinite sync timeout', { syncTimeoutMs: Number.POSITIVE_INFINITY }],
      ['a logger without its methods', { logger: {} as Logger }],
    ])('%s is refused with InvalidOptionsError', (_, options) => {
      expect(() => new PgNotifyFeed(database.connection, options)).toThrow(InvalidOptionsError);
    });

    test('changes carry their keys as Postgres text, with the key columns and their types, and when they were made', async () => {
      const feed = new PgNotifyFeed(database.connection);
      await feed.ready();
      const { events } = recordEvents(feed);
      const before = Date.now();
      await database.exec("UPDATE items SET label = 'v2' WHERE id = 3");
      await feed.sync();
      expect(events.map(({ event }) => event)).toEqual([
        {
          type: 'changes',
          changes: [{ op: 'update', schema: 'public', table: 'items', keyColumns: [{ name: 'id', typeId: 23 }], old: ['3'], new: ['3'] }],
          committedAt: expect.any(Number),
        },
      ]);
      // The server's clock: the same machine's here, give or take a second.
      const [first] = events;
      expect(first?.event.type === 'changes' && Math.abs((first.event.committedAt ?? 0) - before)).toBeLessThan(1000);
      await feed.close();
    });

    test('decodeKeys decodes key texts as this backend decodes the same columns in query results', async () => {
      const feed = new PgNotifyFeed(database.connection);
      const texts = ['3', '9007199254740993', '2024-05-06 07:08:09.123+00', 'a b', '6f1c2a9e-0d3b-4c55-9a3e-2b8d7f0e1a22'];
      const [row] = await database.exec<Record<string, unknown>>(
        'SELECT $1::int4 AS a, $2::int8 AS b, $3::timestamptz AS c, $4::text AS d, $5::uuid AS e',
        texts,
      );
      const columns = [23, 20, 1184, 25, 2950].map((typeId, i) => ({ name: 'abcde'[i]!, typeId }));
      expect(await feed.decodeKeys(columns, [texts])).toEqual([Object.values(row!)]);
      await feed.close();
    });

    test('syncs that start before their marker is sent share it', async () => {
      const feed = new PgNotifyFeed(database.connection);
      await feed.ready();
      const markers = await countMarkers(database.connection);
      await Promise.all(Array.from({ length: 50 }, () => feed.sync()));
      expect(await markers.total()).toBe(1);
      await markers.stop();
      await feed.close();
    });

    test('an aborted sync rejects with the abort reason', async () => {
      const feed = new PgNotifyFeed(database.connection);
      await feed.ready();
      const controller = new AbortController();
      const reason = new Error('the caller gave up');
      const pending = feed.sync({ signal: controller.signal });
      controller.abort(reason);
      await expect(pending).rejects.toBe(reason);
      await feed.sync(); // the feed goes on
      await feed.close();
    });

    test('a sync with a signal aborted already rejects with its reason', async () => {
      const feed = new PgNotifyFeed(database.connection);
      const reason = new Error('aborted before');
      await expect(feed.sync({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
      await feed.close();
    });

    test('an aborted ready() rejects with the abort reason', async () => {
      const feed = new PgNotifyFeed(database.connection);
      const reason = new Error('no time to wait');
      await expect(feed.ready({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
      await feed.close();
    });

    test('closing a feed while it connects returns, and ready() rejects with FeedClosedError', async () => {
      const feed = new PgNotifyFeed(database.connection);
      const ready = expect(feed.ready()).rejects.toBeInstanceOf(FeedClosedError);
      await feed.close();
      await ready;
    });

    test('sync and ready on a closed feed reject with FeedClosedError', async () => {
      const feed = new PgNotifyFeed(database.connection);
      await feed.ready();
      await feed.close();
      await expect(feed.sync()).rejects.toBeInstanceOf(FeedClosedError);
      await expect(feed.ready()).rejects.toBeInstanceOf(FeedClosedError);
    });

    test('a sync waiting when the feed closes rejects with FeedClosedError', async () => {
      const feed = new PgNotifyFeed(database.connection);
      await feed.ready();
      const pending = expect(feed.sync()).rejects.toBeInstanceOf(FeedClosedError);
      await feed.close();
      await pending;
    });

    test('a closed feed passes nothing to subscribers, old or new', async () => {
      const feed = new PgNotifyFeed(database.connection);
      await feed.ready();
      const events: ChangeFeedEvent[] = [];
      feed.subscribe((event) => events.push(event));
      await feed.close();
      feed.subscribe((event) => events.push(event));
      await database.exec("UPDATE items SET label = 'after close' WHERE id = 1");
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(events).toEqual([]);
    });

    test('a subscriber that throws is reported and the others still get the event', async () => {
      const logger = recordingLogger();
      const feed = new PgNotifyFeed(database.connection, { logger });
      await feed.ready();
      feed.subscribe(() => {
        throw new Error('subscriber bug');
      });
      const { types } = recordEvents(feed);
      await database.exec("UPDATE items SET label = 'v2' WHERE id = 1");
      await feed.sync();
      expect(types()).toEqual(['changes']);
      expect(logger.at('error')).toEqual(["feed on channel 'tablecache': a subscriber failed on a changes event: subscriber bug"]);
      await feed.close();
    });

    test('an unreadable payload is one line for the logger, and a gap', async () => {
      const logger = recordingLogger();
      const feed = new PgNotifyFeed(database.connection, { logger });
      await feed.ready();
      const { types } = recordEvents(feed);
      await database.exec("SELECT pg_notify('tablecache', 'garbage')");
      await feed.sync();
      expect(types()).toEqual(['gap']);
      expect(logger.at('error')).toEqual([expect.stringMatching(/^feed on channel 'tablecache': not JSON: garbage \(treated as a gap\)$/)]);
      await feed.close();
    });
  });
}

describe('PgNotifyFeed on PGlite, where there is no connection to lose', () => {
  test('a sync held back by a transaction left open on the one session rejects with SyncTimeoutError', async () => {
    const pglite = await PGlite.create();
    const feed = new PgNotifyFeed({ pglite });
    await feed.ready();
    // PGlite is one session: the marker's NOTIFY joins the open transaction, delivered at its commit.
    await pglite.exec('BEGIN');
    await expect(feed.sync({ timeoutMs: 200 })).rejects.toBeInstanceOf(SyncTimeoutError);
    await pglite.exec('COMMIT');
    await feed.sync();
    await feed.close();
    await pglite.close();
  });

  test('a sync on a feed whose PGlite was closed rejects with FeedConnectionError', async () => {
    const pglite = await PGlite.create();
    const feed = new PgNotifyFeed({ pglite });
    await feed.ready();
    await pglite.close();
    const error = await feed.sync().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FeedConnectionError);
    expect((error as Error).cause).toBeDefined();
    await feed.close();
  });
});
