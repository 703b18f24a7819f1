import type { ChangeFeedEvent, EncodedChange } from '@tablecache/core';
import { type OpenBackend, testBackends } from '@tablecache/testing';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test, vi } from 'vitest';
import { InMemoryMetrics } from '../../../core/src/instrumentation/in-memory-metrics.fixture.js';
import { byId, itemTable } from '../items.fixture.js';
import { PostgresAccess } from '../postgres-access.js';
import { compareLsn, parseLsn } from './lsn.js';
import { PgLogicalFeed, type PgLogicalFeedOptions } from './pg-logical-feed.js';
import { MissingPublicationError } from './publication.js';
import { dropReplicationSlot, readSlotLag } from './slots.js';
import { testSlotName } from './stream.fixture.js';

const server = testBackends().find((backend) => backend.name === 'postgres');
const silent = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };

describe.skipIf(!server?.available)('PgLogicalFeed', () => {
  let database: OpenBackend;
  let url: string;
  let access: PostgresAccess;
  let admin: pg.Client;
  const closing: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    database = await server!.open();
    url = (database.connection as { connectionString: string }).connectionString;
    access = new PostgresAccess(database.connection);
    admin = new pg.Client({ connectionString: url });
    await admin.connect();
  });

  beforeEach(async () => {
    await database.exec(`
      DROP TABLE IF EXISTS items; DROP PUBLICATION IF EXISTS tablecache;
      CREATE TABLE items (id integer PRIMARY KEY, label text NOT NULL);
      INSERT INTO items SELECT g, 'v0' FROM generate_series(1, 50) g;
      CREATE PUBLICATION tablecache FOR TABLE items`);
  });

  afterEach(async () => {
    for (const close of closing.splice(0).reverse()) await close();
  });

  afterAll(async () => {
    await admin?.end();
    await access?.close();
    await database?.close();
  });

  function feedOf(options: PgLogicalFeedOptions = {}): PgLogicalFeed {
    const feed = new PgLogicalFeed({ connectionString: url }, { logger: silent, ...options });
    closing.push(async () => {
      await feed.close();
      if (options.slot !== undefined) await dropReplicationSlot(url, options.slot);
    });
    return feed;
  }

  function recorded(feed: PgLogicalFeed) {
    const events: ChangeFeedEvent[] = [];
    feed.subscribe((event) => {
      events.push(event);
    });
    const changes = () => events.flatMap((event) => (event.type === 'changes' ? event.changes : [])) as EncodedChange[];
    return { events, changes };
  }

  async function watchedItems(feed: PgLogicalFeed) {
    const table = itemTable(access, { logger: silent });
    closing.push(() => table.close());
    await table.watch(feed, { tables: { items: byId } });
    await table.load({ index: 'primaryKey', all: true });
    return table;
  }

  /** The backend pid of a feed's walsender. */
  async function walsender(feed: PgLogicalFeed): Promise<number> {
    const { rows } = await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [
      `tablecache-logical:${feed.slot}`,
    ]);
    return rows[0]!.pid;
  }

  test('after sync, a committed update is visible in a watching table', async () => {
    const feed = feedOf();
    const table = await watchedItems(feed);
    await database.exec("UPDATE items SET label = 'v1' WHERE id = 7");
    await table.sync();
    expect(await table.getFirstRecord({ index: 'primaryKey', keys: [7] })).toEqual({ id: 7, label: 'v1' });
  });

  test('under concurrent writers and eager refresh, after sync the table holds what the database holds (a commit is applied only once visible)', async () => {
    const feed = feedOf();
    const table = itemTable(access, { logger: silent });
    closing.push(() => table.close());
    await table.watch(feed, { tables: { items: byId }, refresh: 'eager' });
    await table.load({ index: 'primaryKey', all: true });
    const writers = Array.from({ length: 4 }, () => new pg.Client({ connectionString: url }));
    await Promise.all(writers.map((writer) => writer.connect()));
    try {
      await Promise.all(
        writers.map(async (writer, w) => {
          for (let i = 0; i < 150; i++)
            await writer.query('UPDATE items SET label = $1 WHERE id = $2', [`w${w} ${i}`, 1 + ((i * 4 + w) % 50)]);
        }),
      );
    } finally {
      await Promise.all(writers.map((writer) => writer.end()));
    }
    await table.sync();
    const { rows } = await admin.query('SELECT id, label FROM items ORDER BY id');
    expect(await table.getRecords({ index: 'primaryKey', all: true })).toEqual(rows);
  });

  test('changes carry their keys as text with the key columns, old and new for a key change, and their commit time', async () => {
    const feed = feedOf();
    await feed.ready();
    const { events, changes } = recorded(feed);
    const before = Date.now();
    await database.exec("INSERT INTO items VALUES (51, 'new')");
    await database.exec('UPDATE items SET id = 52 WHERE id = 51');
    await database.exec('DELETE FROM items WHERE id = 52');
    await feed.sync();
    const key = { schema: 'public', table: 'items', keyColumns: [{ name: 'id', typeId: 23 }] };
    expect(changes()).toEqual([
      { op: 'insert', ...key, new: ['51'] },
      { op: 'update', ...key, old: ['51'], new: ['52'] },
      { op: 'delete', ...key, old: ['52'] },
    ]);
    const first = events.find((event) => event.type === 'changes');
    expect(first?.type === 'changes' && Math.abs((first.committedAt ?? 0) - before)).toBeLessThan(1000);
  });

  test("key texts are each type's own output under fixed settings, whatever the database's DateStyle, TimeZone or bytea_output", async () => {
    const database_ = (await admin.query<{ name: string }>('SELECT current_database() AS name')).rows[0]!.name;
    await admin.query(
      `ALTER DATABASE "${database_}" SET DateStyle = 'SQL, DMY'; ALTER DATABASE "${database_}" SET TimeZone = 'America/New_York';
       ALTER DATABASE "${database_}" SET bytea_output = 'escape'; ALTER DATABASE "${database_}" SET IntervalStyle = 'sql_standard';
       ALTER DATABASE "${database_}" SET extra_float_digits = 0`,
    );
    try {
      await database.exec(`
        CREATE TABLE typed (ts timestamptz, d date, b bytea, i interval, f float8, PRIMARY KEY (ts, d, b, i, f));
        ALTER PUBLICATION tablecache ADD TABLE typed`);
      const feed = feedOf(); // a new walsender: it starts with the database's settings
      await feed.ready();
      const { changes } = recorded(feed);
      await database.exec(
        "INSERT INTO typed VALUES ('2024-03-05 10:00:00.25+00', '2024-03-05', '\\x0102ff', '1 day 02:00:00', 0.30000000000000004)",
      );
      await feed.sync();
      expect(changes().map((change) => change.new)).toEqual([
        ['2024-03-05 10:00:00.25+00', '2024-03-05', '\\x0102ff', '1 day 02:00:00', '0.30000000000000004'],
      ]);
    } finally {
      await admin.query(`ALTER DATABASE "${database_}" RESET ALL`);
      await database.exec('DROP TABLE IF EXISTS typed');
    }
  });

  test('an update that keeps its key names it as old and new', async () => {
    const feed = feedOf();
    await feed.ready();
    const { changes } = recorded(feed);
    await database.exec("UPDATE items SET label = 'x' WHERE id = 3");
    await feed.sync();
    expect(changes()).toMatchObject([{ op: 'update', old: ['3'], new: ['3'] }]);
  });

  test('under REPLICA IDENTITY FULL every column is the key, and a row with a NULL in one changes the whole table', async () => {
    await database.exec('ALTER TABLE items ALTER COLUMN label DROP NOT NULL; ALTER TABLE items REPLICA IDENTITY FULL');
    const feed = feedOf();
    await feed.ready();
    const { changes } = recorded(feed);
    await database.exec('DELETE FROM items WHERE id = 1; UPDATE items SET label = NULL WHERE id = 2; DELETE FROM items WHERE id = 2');
    await feed.sync();
    const columns = [
      { name: 'id', typeId: 23 },
      { name: 'label', typeId: 25 },
    ];
    expect(changes()).toEqual([
      { op: 'delete', schema: 'public', table: 'items', keyColumns: columns, old: ['1', 'v0'] },
      { op: 'update', schema: 'public', table: 'items', keyColumns: columns },
      { op: 'delete', schema: 'public', table: 'items', keyColumns: columns },
    ]);
  });

  test('a truncate is a change of the whole table', async () => {
    const feed = feedOf();
    const table = await watchedItems(feed);
    const { changes } = recorded(feed);
    await database.exec("TRUNCATE items; INSERT INTO items VALUES (1, 'after truncate')");
    await table.sync();
    expect(changes()[0]).toEqual({ op: 'truncate', schema: 'public', table: 'items', keyColumns: [] });
    expect(await table.getRecords({ index: 'primaryKey', all: true })).toEqual([{ id: 1, label: 'after truncate' }]);
  });

  test('a transaction of 100,000 rows arrives as a few events, and the table then reads what the database holds', async () => {
    const feed = feedOf();
    const table = await watchedItems(feed);
    const { events } = recorded(feed);
    await database.exec("INSERT INTO items SELECT g, 'bulk' FROM generate_series(1000, 100999) g");
    await table.sync();
    const batches = events.filter((event) => event.type === 'changes');
    expect(batches.length).toBeLessThanOrEqual(10);
    expect(batches.reduce((rows, event) => rows + (event.type === 'changes' ? event.changes.length : 0), 0)).toBe(100_000);
    expect(await table.getRecords({ index: 'primaryKey', keys: [1000, 100999] })).toHaveLength(2);
  });

  test('a schema change of a watched table is a gap', async () => {
    const feed = feedOf();
    await feed.ready();
    const { events } = recorded(feed);
    await database.exec("UPDATE items SET label = 'before' WHERE id = 1");
    await feed.sync();
    await database.exec("ALTER TABLE items ADD COLUMN extra text; UPDATE items SET label = 'after' WHERE id = 1");
    await feed.sync();
    expect(events.filter((event) => event.type === 'gap')).toEqual([{ type: 'gap', reason: 'the definition of public.items changed' }]);
    expect(feed.gaps).toBe(1);
  });

  test('syncTo the LSN a writer read after its commit makes the write visible, and position() reaches it', async () => {
    const feed = feedOf();
    const table = await watchedItems(feed);
    const writer = new pg.Client({ connectionString: url });
    await writer.connect();
    await writer.query("UPDATE items SET label = 'written elsewhere' WHERE id = 9");
    const { rows } = await writer.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    await writer.end();
    await table.syncTo(rows[0]!.lsn);
    expect(table.peek(9)).toBeUndefined(); // invalidated: the next read refreshes
    expect(await table.getFirstRecord({ index: 'primaryKey', keys: [9] })).toEqual({ id: 9, label: 'written elsewhere' });
    await vi.waitFor(() => expect(compareLsn(parseLsn(feed.position() ?? '0/0'), parseLsn(rows[0]!.lsn))).toBeGreaterThanOrEqual(0));
  });

  test('syncTo a position already passed on resolves without writing a marker', async () => {
    const feed = feedOf();
    await feed.ready();
    await database.exec("UPDATE items SET label = 'x' WHERE id = 1");
    await feed.sync();
    const markers = vi.spyOn(pg.Pool.prototype, 'query');
    await feed.syncTo('0/1');
    expect(markers).not.toHaveBeenCalled();
    markers.mockRestore();
  });

  test('a watch with install creates the publication; without it, a missing publication rejects the watch', async () => {
    await database.exec('DROP PUBLICATION tablecache');
    const table = itemTable(access, { logger: silent });
    closing.push(() => table.close());
    await expect(table.watch(feedOf(), { tables: { items: byId } })).rejects.toThrow(MissingPublicationError);
    await table.watch(feedOf(), { tables: { items: byId }, install: true });
    expect(await database.exec("SELECT tablename FROM pg_publication_tables WHERE pubname = 'tablecache'")).toEqual([
      { tablename: 'items' },
    ]);
  });

  test('with a temporary slot, a terminated walsender is a gap: the table refreshes whole and changes flow again', async () => {
    const feed = feedOf({ reconnectDelayMs: { initial: 20, max: 50 } });
    const table = await watchedItems(feed);
    const { events } = recorded(feed);
    await admin.query('SELECT pg_terminate_backend($1)', [await walsender(feed)]);
    await vi.waitFor(() => expect(feed.gaps).toBe(1), { timeout: 10_000 });
    expect(events.map((event) => event.type)).toEqual(['lost', 'gap']);
    await database.exec("UPDATE items SET label = 'after the gap' WHERE id = 2");
    await table.sync();
    expect(await table.getFirstRecord({ index: 'primaryKey', keys: [2] })).toEqual({ id: 2, label: 'after the gap' });
  });

  test('with a durable slot, a terminated walsender resumes where it stopped: no gap, and changes made while away arrive', async () => {
    const slot = testSlotName();
    const feed = feedOf({ slot, reconnectDelayMs: { initial: 500, max: 500 } });
    const table = await watchedItems(feed);
    const { events } = recorded(feed);
    await admin.query('SELECT pg_terminate_backend($1)', [await walsender(feed)]);
    await database.exec("UPDATE items SET label = 'while away' WHERE id = 4");
    await vi.waitFor(() => expect(events.map((event) => event.type)).toContain('resumed'), { timeout: 10_000 });
    await table.sync();
    expect(feed.gaps).toBe(0);
    expect(events.map((event) => event.type)).toEqual(['lost', 'resumed', 'changes']);
    expect(await table.getFirstRecord({ index: 'primaryKey', keys: [4] })).toEqual({ id: 4, label: 'while away' });
  });

  test('a durable slot dropped from outside while the feed was away is made again, and that is a gap', async () => {
    const slot = testSlotName();
    const feed = feedOf({ slot, reconnectDelayMs: { initial: 300, max: 300 } });
    await feed.ready();
    const { events } = recorded(feed);
    await admin.query('SELECT pg_terminate_backend($1)', [await walsender(feed)]);
    await vi.waitFor(async () => expect((await readSlotLag(url, slot))?.active).toBe(false));
    await dropReplicationSlot(url, slot);
    await vi.waitFor(() => expect(feed.gaps).toBe(1), { timeout: 10_000 });
    expect(events.at(-1)).toEqual({ type: 'gap', reason: `slot '${slot}' was dropped while the feed was away, and made again` });
    expect(await readSlotLag(url, slot)).toBeDefined();
  });

  test('a durable slot acknowledges a commit only once every listener has applied it', async () => {
    const slot = testSlotName();
    const feed = feedOf({ slot, statusIntervalMs: 50, timeoutMs: 5000 });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    feed.subscribe((event) => (event.type === 'changes' ? released : undefined));
    await feed.ready();
    await database.exec("UPDATE items SET label = 'held' WHERE id = 5");
    const { rows } = await admin.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    await feed.sync();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const confirmed = async () => (await readSlotLag(url, slot))?.confirmedFlush ?? 0n;
    expect(await confirmed()).toBeLessThan(parseLsn(rows[0]!.lsn));
    release();
    await vi.waitFor(async () => expect(await confirmed()).toBeGreaterThanOrEqual(parseLsn(rows[0]!.lsn)));
  });

  test('a new feed on a durable slot that kept changes starts at the present', async () => {
    const slot = testSlotName();
    const first = new PgLogicalFeed({ connectionString: url }, { slot, logger: silent });
    await first.ready();
    await first.close();
    closing.push(() => dropReplicationSlot(url, slot));
    await database.exec("UPDATE items SET label = 'while no feed ran' WHERE id = 6");
    const feed = feedOf({ slot });
    const { changes } = recorded(feed);
    await feed.ready();
    await database.exec("UPDATE items SET label = 'now' WHERE id = 8");
    await feed.sync();
    expect(changes().map((change) => change.new)).toEqual([['8']]);
  });

  test("a durable slot's lag is reported as a gauge, labelled by the slot", async () => {
    const slot = testSlotName();
    const metrics = new InMemoryMetrics();
    closing.push(() => metrics.shutdown());
    const feed = feedOf({ slot, meterProvider: metrics.provider, slotLagIntervalMs: 50 });
    await feed.ready();
    await vi.waitFor(async () =>
      expect((await metrics.collect()).value('tablecache.feed.slot.lag.bytes', { channel: slot })).toBeGreaterThanOrEqual(0),
    );
    expect((await metrics.collect()).value('tablecache.feed.up', { channel: slot })).toBe(1);
  });

  test('dropSlot removes a durable slot, and is harmless when it is gone', async () => {
    const slot = testSlotName();
    const feed = new PgLogicalFeed({ connectionString: url }, { slot, logger: silent });
    await feed.ready();
    await feed.close();
    await PgLogicalFeed.dropSlot({ connectionString: url }, slot);
    await PgLogicalFeed.dropSlot({ connectionString: url }, slot);
    expect(await readSlotLag(url, slot)).toBeUndefined();
  });

  test('a role without REPLICATION makes ready() reject at once with ReplicationPermissionError, and the feed is closed', async () => {
    const role = `tablecache_norepl_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    await admin.query(`CREATE ROLE ${role} LOGIN`);
    try {
      const asRole = new URL(url);
      asRole.username = role;
      const feed = new PgLogicalFeed({ connectionString: asRole.toString() }, { logger: silent, connectTimeoutMs: 30_000 });
      const started = performance.now();
      await expect(feed.ready()).rejects.toThrow(`ALTER ROLE "${role}" REPLICATION`);
      expect(performance.now() - started).toBeLessThan(10_000); // not retried until connectTimeoutMs
      await expect(feed.sync()).rejects.toThrow('closed');
      await feed.close();
    } finally {
      await admin.query(`DROP ROLE ${role}`);
    }
  });

  test('logical messages of other prefixes, and markers of other feeds, pass nothing on', async () => {
    const feed = feedOf();
    await feed.ready();
    const { events } = recorded(feed);
    await admin.query("SELECT pg_logical_emit_message(true, 'someone else', 'hello')");
    await admin.query("SELECT pg_logical_emit_message(true, 'tablecache', '00000000-0000-0000-0000-000000000000:1')");
    await feed.sync();
    expect(events).toEqual([]);
    expect(feed.gaps).toBe(0);
  });

  test("a change whose visibility cannot be checked (the feed's own connection frozen) is passed on with a gap, not held back", async () => {
    const feed = feedOf({ timeoutMs: 1000, statusIntervalMs: 250 });
    const table = await watchedItems(feed);
    await database.exec("UPDATE items SET label = 'warm' WHERE id = 1");
    await table.sync(); // the feed's connections for markers and snapshots are open now
    const { events } = recorded(feed);
    const { rows } = await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [
      `tablecache-logical-sync:${feed.slot}`,
    ]);
    for (const { pid } of rows) process.kill(pid, 'SIGSTOP');
    try {
      await database.exec("UPDATE items SET label = 'unchecked' WHERE id = 2");
      await vi.waitFor(() => expect(events.map((event) => event.type)).toEqual(['changes', 'gap']), { timeout: 10_000 });
      expect(table.peek(2)).toBeUndefined(); // invalid: the next read refreshes it
    } finally {
      for (const { pid } of rows) process.kill(pid, 'SIGCONT');
    }
    expect(await table.getFirstRecord({ index: 'primaryKey', keys: [2] })).toEqual({ id: 2, label: 'unchecked' });
  });

  test('a closed feed rejects sync with FeedClosedError and leaves no temporary slot behind', async () => {
    const feed = new PgLogicalFeed({ connectionString: url }, { logger: silent });
    await feed.ready();
    await feed.close();
    await expect(feed.sync()).rejects.toThrow('closed');
    // close() waits for the walsender to let go of the slot: a temporary one is gone.
    expect(await readSlotLag(url, feed.slot)).toBeUndefined();
  });
});
