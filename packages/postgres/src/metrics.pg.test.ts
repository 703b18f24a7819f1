import { TABLECACHE_METRICS } from '@tablecache/core';
import { type OpenBackend, testBackends } from '@tablecache/testing';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { InMemoryMetrics, type MetricsSnapshot } from '../../core/src/instrumentation/in-memory-metrics.fixture.js';
import { byId, itemTable } from './items.fixture.js';
import { ListenerFaults } from './notify/feed.fixture.js';
import { PgNotifyFeed } from './notify/pg-notify-feed.js';
import { PostgresAccess } from './postgres-access.js';
import { installTriggers } from './triggers/install-triggers.js';

const items = { table: 'items' };
const channel = { channel: 'tablecache' };
const keys = (from: number, to: number) => ({
  index: 'primaryKey' as const,
  keys: Array.from({ length: to - from + 1 }, (_, i) => from + i),
});

/** Collects until `ready` accepts the snapshot (gauges sampled by a timer take a moment). */
async function collectUntil(metrics: InMemoryMetrics, ready: (snapshot: MetricsSnapshot) => boolean): Promise<MetricsSnapshot> {
  for (let tries = 0; ; tries++) {
    const snapshot = await metrics.collect();
    if (ready(snapshot) || tries === 100) return snapshot;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

for (const backend of testBackends()) {
  describe.skipIf(!backend.available)(`metrics of a watched table on ${backend.name}`, () => {
    let database: OpenBackend;
    let access: PostgresAccess;

    beforeAll(async () => {
      database = await backend.open();
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

    test('a committed update is measured as commit-to-visible lag, and its notification and refresh are counted', async () => {
      const metrics = new InMemoryMetrics();
      const feed = new PgNotifyFeed(database.connection, { meterProvider: metrics.provider });
      const table = itemTable(access, { meterProvider: metrics.provider });
      try {
        await table.watch(feed, { tables: { items: byId }, refresh: 'eager' });
        await table.load(keys(1, 50));
        await database.exec("UPDATE items SET label = 'v1' WHERE id = 1");
        await table.sync();
        const snapshot = await metrics.collect();
        const lag = snapshot.histogram('tablecache.change.lag.seconds', items);
        expect(lag?.count).toBe(1);
        expect(lag?.sum).toBeLessThan(10);
        expect(snapshot.value('tablecache.feed.notifications', channel)).toBe(1);
        expect(snapshot.value('tablecache.refreshes', { ...items, operation: 'refresh', outcome: 'ok' })).toBe(1);
        expect(snapshot.value('tablecache.refresh.rows', items)).toBe(1);
        expect(snapshot.value('tablecache.feed.up', channel)).toBe(1);
      } finally {
        await table.close();
        await feed.close();
        await metrics.shutdown();
      }
    });
  });
}

const server = testBackends().find((backend) => backend.name === 'postgres');

describe.skipIf(!server?.available)('every instrument, after a scripted run on the server', () => {
  let database: OpenBackend;
  let access: PostgresAccess;
  let faults: ListenerFaults;

  beforeAll(async () => {
    database = await server!.open();
    access = new PostgresAccess(database.connection);
    faults = await ListenerFaults.open((database.connection as { connectionString: string }).connectionString);
    await database.exec(
      "CREATE TABLE items (id integer PRIMARY KEY, label text NOT NULL); INSERT INTO items SELECT g, 'v0' FROM generate_series(1, 50) g",
    );
    await installTriggers(access, { tables: ['items'] });
  });

  afterAll(async () => {
    await faults?.close();
    await access?.close();
    await database?.close();
  });

  test('load, change, read, adjust, gap and refresh are each reported by their instruments', async () => {
    const metrics = new InMemoryMetrics();
    const feed = new PgNotifyFeed(database.connection, { meterProvider: metrics.provider, livenessIntervalMs: 50 });
    const table = itemTable(access, { meterProvider: metrics.provider });
    try {
      await table.watch(feed, { tables: { items: byId }, refresh: 'eager' });
      await table.load(keys(1, 40));
      await database.exec("UPDATE items SET label = 'v1' WHERE id <= 3");
      await table.sync();
      expect(await table.getRecords(keys(45, 45))).toEqual([{ id: 45, label: 'v0' }]); // not cached: the database answers
      table.peek(1);
      await table.adjust(keys(1, 50));
      await faults.terminateListeners();
      await collectUntil(metrics, (snapshot) => snapshot.value('tablecache.feed.gaps', channel) === 1);
      await table.sync();

      const snapshot = await collectUntil(metrics, (s) => s.value('tablecache.feed.queue.usage', channel) !== undefined);
      // All but the slot lag, which only the logical feed's durable slots report.
      const notifyMetrics = Object.values(TABLECACHE_METRICS).filter((metric) => metric !== TABLECACHE_METRICS.feedSlotLag);
      expect(new Set(snapshot.names)).toEqual(new Set(notifyMetrics.map((metric) => metric.name)));
      expect(snapshot.value('tablecache.records', items)).toBe(50);
      expect(snapshot.value('tablecache.memory.bytes', items)).toBeGreaterThan(50 * 16);
      expect(snapshot.value('tablecache.invalid.pending', items)).toBe(0);
      expect(snapshot.value('tablecache.loads', { ...items, outcome: 'ok' })).toBe(1);
      expect(snapshot.histogram('tablecache.load.duration.seconds', items)?.count).toBe(1);
      expect(snapshot.value('tablecache.load.rows', items)).toBe(40);
      // The update's refresh, and the whole-table one after the gap.
      expect(snapshot.value('tablecache.refreshes', { ...items, operation: 'refresh', outcome: 'ok' })).toBeGreaterThanOrEqual(2);
      expect(snapshot.histogram('tablecache.refresh.duration.seconds', { ...items, operation: 'refresh' })?.count).toBeGreaterThanOrEqual(
        2,
      );
      expect(snapshot.value('tablecache.refresh.rows', { ...items, operation: 'refresh' })).toBeGreaterThanOrEqual(3 + 50);
      expect(snapshot.value('tablecache.refreshes', { ...items, operation: 'adjust', outcome: 'ok' })).toBe(1);
      expect(snapshot.value('tablecache.refresh.rows', { ...items, operation: 'adjust' })).toBe(10);
      for (const reason of ['load', 'refresh', 'adjust', 'read']) {
        expect(snapshot.value('tablecache.queries', { ...items, reason }), reason).toBeGreaterThanOrEqual(1);
      }
      expect(snapshot.value('tablecache.reads', { ...items, source: 'memory' })).toBe(1);
      expect(snapshot.value('tablecache.reads', { ...items, source: 'database' })).toBe(1);
      expect(snapshot.histogram('tablecache.change.lag.seconds', items)?.count).toBe(1);
      expect(snapshot.value('tablecache.feed.notifications', channel)).toBe(1);
      expect(snapshot.value('tablecache.feed.gaps', channel)).toBe(1);
      expect(snapshot.value('tablecache.feed.reconnects', channel)).toBe(1);
      expect(snapshot.value('tablecache.feed.up', channel)).toBe(1);
      const usage = snapshot.value('tablecache.feed.queue.usage', channel);
      expect(usage).toBeGreaterThanOrEqual(0);
      expect(usage).toBeLessThan(1);
    } finally {
      await table.close();
      await feed.close();
      await metrics.shutdown();
    }
  });

  test('a lost listener reports the feed down until it is back', async () => {
    const metrics = new InMemoryMetrics();
    const feed = new PgNotifyFeed(database.connection, {
      meterProvider: metrics.provider,
      reconnectDelayMs: { initial: 2000, max: 2000 },
      logger: { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} },
    });
    try {
      await feed.ready();
      await faults.allowConnections(false);
      await faults.terminateListeners();
      expect((await collectUntil(metrics, (s) => s.value('tablecache.feed.up', channel) === 0)).value('tablecache.feed.up', channel)).toBe(
        0,
      );
      await faults.allowConnections(true);
      expect((await collectUntil(metrics, (s) => s.value('tablecache.feed.up', channel) === 1)).value('tablecache.feed.up', channel)).toBe(
        1,
      );
    } finally {
      await faults.allowConnections(true);
      await feed.close();
      await metrics.shutdown();
    }
  });
});
