import { execFile } from 'node:child_process';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { FeedClosedError, SyncTimeoutError } from '@tablecache/core';
import { type OpenBackend, testBackends } from '@tablecache/testing';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { DURABLE_LOGICAL_FEED, FEED_KINDS, type FeedTestOptions, NOTIFY_FEED, type TestFeed } from '../feed-kinds.fixture.js';
import { byId, type Item, itemTable } from '../items.fixture.js';
import { PostgresAccess } from '../postgres-access.js';
import { closedPort, countMarkers, isLocalBackend, ListenerFaults, recordEvents, recordingLogger } from './feed.fixture.js';
import { FeedConnectionError } from './feed-errors.js';
import { PgNotifyFeed } from './pg-notify-feed.js';

const [server] = testBackends();

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const connectionString = (database: OpenBackend) => (database.connection as { connectionString: string }).connectionString;

describe('PgNotifyFeed whose first connection fails', () => {
  test('a wrong port makes ready() reject with FeedConnectionError within connectTimeoutMs, with the driver error as cause', async () => {
    const port = await closedPort();
    const feed = new PgNotifyFeed(
      { connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` },
      { connectTimeoutMs: 1000, reconnectDelayMs: { initial: 20, max: 100 }, onError: () => undefined },
    );
    const started = Date.now();
    const error = await feed.ready().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FeedConnectionError);
    expect((error as FeedConnectionError).channel).toBe('tablecache');
    expect((error as FeedConnectionError).message).toMatch(/channel 'tablecache' could not connect within 1000 ms.*ECONNREFUSED/);
    expect((error as Error).cause).toMatchObject({ code: 'ECONNREFUSED' });
    expect(Date.now() - started).toBeLessThan(1000 + 5000); // a safety bound, not a measure
  });

  test('a server that accepts connections but never answers makes ready() reject within connectTimeoutMs', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.resume(); // reads and drops the startup message, answers nothing
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    try {
      const feed = new PgNotifyFeed({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` }, { connectTimeoutMs: 500 });
      const error = await feed.ready().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FeedConnectionError);
      expect((error as Error).cause).toMatchObject({ message: 'the server did not answer within 500 ms' });
      // The feed gave its socket up: the server sees every connection closed.
      await vi.waitFor(() => expect([...sockets].every((socket) => socket.closed)).toBe(true));
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  test('ready() with a timeoutMs of its own stops waiting then, with FeedConnectionError naming the last error', async () => {
    const port = await closedPort();
    const feed = new PgNotifyFeed(
      { connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` },
      { connectTimeoutMs: 60_000, reconnectDelayMs: { initial: 20, max: 100 }, onError: () => undefined },
    );
    const error = await feed.ready({ timeoutMs: 300 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FeedConnectionError);
    expect((error as Error).message).toMatch(/did not connect within 300 ms: .*ECONNREFUSED/);
    await feed.close();
  });

  describe.skipIf(!server?.available)('on the test server', () => {
    let database: OpenBackend;

    beforeAll(async () => {
      database = await server!.open();
    });

    afterAll(async () => {
      await database?.close();
    });

    test('a database that does not exist makes ready() reject at once with FeedConnectionError (3D000), not after the timeout', async () => {
      const url = new URL(connectionString(database));
      url.pathname = '/tablecache_no_such_database';
      const errors: unknown[] = [];
      // Ten minutes: only refusing at once lets this test finish in its time.
      const feed = new PgNotifyFeed({ connectionString: url.toString() }, { connectTimeoutMs: 600_000, onError: (e) => errors.push(e) });
      const error = await feed.ready().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FeedConnectionError);
      expect((error as Error).message).toMatch(/tablecache_no_such_database.*3D000.*not retried/);
      expect((error as Error).cause).toMatchObject({ code: '3D000' });
      expect(errors).toEqual([error]); // one attempt, one report
    });

    test('a feed whose first connection failed is closed: sync rejects with FeedClosedError, and it stops trying', async () => {
      const port = await closedPort();
      const errors: unknown[] = [];
      const feed = new PgNotifyFeed(
        { connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` },
        { connectTimeoutMs: 300, reconnectDelayMs: { initial: 10, max: 20 }, onError: (e) => errors.push(e) },
      );
      const pending = expect(feed.sync()).rejects.toBeInstanceOf(FeedConnectionError);
      await expect(feed.ready()).rejects.toBeInstanceOf(FeedConnectionError);
      await pending;
      await expect(feed.sync()).rejects.toBeInstanceOf(FeedClosedError);
      const reported = errors.length;
      await delay(200); // ten retry delays
      expect(errors).toHaveLength(reported);
    });
  });
});

/** What both feeds must survive: the connection that receives changes terminated, frozen, or unable to come back. */
for (const kind of [...FEED_KINDS, DURABLE_LOGICAL_FEED]) {
  describe.skipIf(!server?.available)(`the ${kind.name} feed when its connection is lost`, () => {
    let database: OpenBackend;
    let access: PostgresAccess;
    let faults: ListenerFaults;
    const closing: (() => Promise<void>)[] = [];

    beforeAll(async () => {
      database = await server!.open();
      access = new PostgresAccess(database.connection);
      faults = await ListenerFaults.open(connectionString(database), kind.applicationPrefix);
      await database.exec(
        "CREATE TABLE items (id integer PRIMARY KEY, label text NOT NULL); INSERT INTO items SELECT g, 'v0' FROM generate_series(1, 50) g",
      );
      await kind.install(access, ['items']);
    });

    afterEach(async () => {
      for (const close of closing.splice(0)) await close();
    });

    afterAll(async () => {
      await faults?.close();
      await access?.close();
      await database?.close();
    });

    function openFeed(options: FeedTestOptions = {}): TestFeed {
      const { feed, close } = kind.open(database.connection, { onError: () => undefined, ...options });
      closing.push(close);
      return feed;
    }

    /** Runs `body` while the test database refuses new connections and the feed's receiving connection was terminated. */
    async function whileDisconnected<T>(feed: TestFeed, body: () => Promise<T>): Promise<T> {
      const { types } = recordEvents(feed);
      await faults.allowConnections(false);
      try {
        expect(await faults.terminateListeners()).toBe(1);
        await vi.waitFor(() => expect(types()).toContain('lost'));
        return await body();
      } finally {
        await faults.allowConnections(true);
      }
    }

    test(`a terminated connection produces lost, then ${kind.afterReconnect} once reconnected`, async () => {
      const feed = openFeed({ reconnectDelayMs: { initial: 20, max: 100 } });
      await feed.ready();
      const { events, types } = recordEvents(feed);
      expect(await faults.terminateListeners()).toBe(1);
      await vi.waitFor(() => expect(types()).toEqual(['lost', kind.afterReconnect]), { timeout: 10_000 });
      expect(events[0]!.event).toMatchObject({ reason: expect.stringMatching(/lost its connection: terminating connection.*57P01/) });
    });

    test(`a frozen connection (its backend stopped) is reported lost within the liveness bound, then ${kind.afterReconnect} after it thaws`, async (context) => {
      const feed = openFeed({ lostWithinMs: 2000 });
      await feed.ready();
      const pid = await faults.listenerPid();
      if (!isLocalBackend(pid)) context.skip('the test server is not on this machine: its backend cannot be stopped');
      const { types, at } = recordEvents(feed);
      const frozenAt = Date.now();
      process.kill(pid, 'SIGSTOP');
      try {
        await vi.waitFor(() => expect(types()).toContain('lost'), { timeout: 10_000, interval: 20 });
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      // The bound, plus a second for timers and the event loop: a generous safety margin.
      expect(at('lost')! - frozenAt).toBeLessThanOrEqual(2000 + 1000);
      await vi.waitFor(() => expect(types()).toEqual(['lost', kind.afterReconnect]), { timeout: 10_000 });
    });

    test('a sync while the connection cannot come back rejects with SyncTimeoutError after its timeout, not before', async () => {
      const feed = openFeed({ reconnectDelayMs: { initial: 20, max: 100 } });
      await feed.ready();
      await whileDisconnected(feed, async () => {
        const started = Date.now();
        const outcome = await feed.sync({ timeoutMs: 1000 }).then(
          () => 'resolved',
          (error: unknown) => error,
        );
        expect(outcome).toBeInstanceOf(SyncTimeoutError);
        expect(outcome).toMatchObject({ timeoutMs: 1000 });
        expect(Date.now() - started).toBeGreaterThanOrEqual(990); // timers fire no earlier than asked (to the millisecond)
      });
    });

    test('the feed-wide syncTimeoutMs applies to a sync without its own', async () => {
      const feed = openFeed({ reconnectDelayMs: { initial: 20, max: 100 }, syncTimeoutMs: 300 });
      await feed.ready();
      await whileDisconnected(feed, async () => {
        await expect(feed.sync()).rejects.toMatchObject({ name: 'SyncTimeoutError', timeoutMs: 300 });
      });
    });

    test('a sync waiting while the connection is down resolves after the reconnect, with fresh reads', async () => {
      const feed = openFeed({ reconnectDelayMs: { initial: 20, max: 100 } });
      const table = itemTable(access);
      closing.push(() => table.close());
      await table.watch(feed, { tables: { items: true } });
      await table.load({ index: 'primaryKey', all: true });
      // Connected before the outage: the test database refuses new connections during it.
      const writer = new pg.Client({ connectionString: connectionString(database) });
      await writer.connect();
      let pending: Promise<void> | undefined;
      try {
        await whileDisconnected(feed, async () => {
          await writer.query("UPDATE items SET label = 'during outage' WHERE id = 7");
          pending = table.sync();
          // Neither its marker nor a gap can arrive while the connection is away.
          expect(await Promise.race([pending.then(() => 'resolved'), delay(200).then(() => 'waiting')])).toBe('waiting');
        });
        await pending;
      } finally {
        await writer.end();
      }
      expect(await table.getFirstRecord({ index: 'primaryKey', keys: [7] })).toEqual({ id: 7, label: 'during outage' });
    });

    test('pg_terminate_backend on the connection while updates continue: it comes back each time, and no read is stale after sync', async () => {
      const feed = openFeed({ reconnectDelayMs: { initial: 20, max: 200 } });
      const table = itemTable(access);
      closing.push(() => table.close());
      await table.watch(feed, { tables: { items: byId }, refresh: 'eager' });
      await table.load({ index: 'primaryKey', all: true });
      const { types } = recordEvents(feed);
      const writer = new pg.Pool({ connectionString: connectionString(database), max: 1 });
      let round = 0;
      let writing = true;
      const writes = (async () => {
        while (writing) {
          round++;
          await writer.query('UPDATE items SET label = $1 WHERE id = $2', [`v${round}`, 1 + (round % 50)]);
        }
      })();
      try {
        for (let kill = 0; kill < 3; kill++) {
          await delay(50);
          expect(await faults.terminateListeners()).toBeGreaterThan(0);
          await vi.waitFor(() => expect(types().filter((type) => type === kind.afterReconnect)).toHaveLength(kill + 1), {
            timeout: 10_000,
          });
        }
      } finally {
        writing = false;
        await writes;
        await writer.end();
      }
      await table.sync();
      const fresh = await database.exec<Item>('SELECT id, label FROM items ORDER BY id');
      expect(await table.getRecords({ index: 'primaryKey', all: true })).toEqual(fresh);
    });

    if (kind !== NOTIFY_FEED) return;

    test('many concurrent syncs during liveness checks all resolve, share markers, and never run two queries at once on the connection', async () => {
      const errors: unknown[] = [];
      const feed = new PgNotifyFeed(database.connection, { livenessIntervalMs: 1, onError: (e) => errors.push(e) });
      closing.push(() => feed.close());
      await feed.ready();
      const { types } = recordEvents(feed);
      const markers = await countMarkers(database.connection);
      // 200 syncs spread over 20 ms, against a liveness check every millisecond.
      await Promise.all(Array.from({ length: 200 }, (_, i) => delay(i % 20).then(() => feed.sync())));
      // Two queries at once on the connection would make pg's deprecation throw into one (tests run
      // with --throw-deprecation), which the feed reports and takes as a lost connection.
      expect(errors).toEqual([]);
      expect(types()).toEqual([]);
      expect(await markers.total()).toBeLessThan(200);
      await markers.stop();
    });

    test('the logger gets one concise line for a lost connection and one for the reconnect', async () => {
      const logger = recordingLogger();
      const feed = new PgNotifyFeed(database.connection, { logger, reconnectDelayMs: { initial: 20, max: 100 } });
      closing.push(() => feed.close());
      await feed.ready();
      const { types } = recordEvents(feed);
      await faults.terminateListeners();
      await vi.waitFor(() => expect(types()).toEqual(['lost', 'gap']));
      expect(logger.lines).toEqual([
        {
          level: 'error',
          line: "listener on channel 'tablecache' lost its connection: terminating connection due to administrator command (57P01) (retrying)",
        },
        { level: 'info', line: expect.stringMatching(/^listener on channel 'tablecache' reconnected after 1 attempt, \d+\.\d s$/) },
      ]);
    });

    test('a storm of failed reconnects is logged as a few lines, with the number of attempts', async () => {
      const logger = recordingLogger();
      const feed = new PgNotifyFeed(database.connection, { logger, reconnectDelayMs: { initial: 5, max: 20 } });
      closing.push(() => feed.close());
      await feed.ready();
      const { types } = recordEvents(feed);
      await whileDisconnected(feed, () => delay(1000));
      await vi.waitFor(() => expect(types()).toEqual(['lost', 'gap']));
      const errors = logger.at('error');
      expect(errors[0]).toMatch(/^listener on channel 'tablecache' lost its connection: .*\(57P01\) \(retrying\)$/);
      expect(errors.slice(1)).toEqual([expect.stringMatching(/could not reconnect: .*\(55000\) \(attempt 1, retrying\)$/)]);
      const [reconnected] = logger.at('info');
      const attempts = Number(/after (\d+) attempts/.exec(reconnected ?? '')?.[1]);
      expect(attempts).toBeGreaterThan(10);
      expect(logger.lines.every(({ line }) => !line.includes('\n'))).toBe(true);
    });
  });
}

describe.skipIf(!server?.available)('PgNotifyFeed after close', () => {
  const fixture = fileURLToPath(new URL('./close-and-exit.fixture.ts', import.meta.url));
  let database: OpenBackend;

  beforeAll(async () => {
    database = await server!.open();
  });

  afterAll(async () => {
    await database?.close();
  });

  test.each(['is connected', 'is retrying its first connection', 'failed its first connection'])(
    'a process whose feed %s exits on its own once the feed is closed: no timer or socket is left',
    async (state) => {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ['--conditions=source', '--import', 'tsx', fixture, state, connectionString(database)],
        { timeout: 20_000 },
      );
      expect(stdout.trim()).toBe(`closed the feed that ${state}`);
    },
  );
});
