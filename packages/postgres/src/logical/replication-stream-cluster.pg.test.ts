import { canCreateClusters, TestCluster } from '@tablecache/testing';
import pg from 'pg';
import { afterAll, describe, expect, test } from 'vitest';
import { WalLevelError } from './logical-errors.js';
import { PgLogicalFeed } from './pg-logical-feed.js';
import { ReplicationStream } from './replication-stream.js';
import { recordStream, testSlotName } from './stream.fixture.js';

/** Server settings these tests need (a WAL level, a walsender timeout) are their own cluster's, never the shared server's. */
const clusters: TestCluster[] = [];
const silent = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };

async function cluster(settings: Record<string, string>): Promise<TestCluster> {
  const created = await TestCluster.create(settings);
  clusters.push(created);
  const admin = new pg.Client({ connectionString: created.url });
  await admin.connect();
  await admin.query('CREATE TABLE items (id integer PRIMARY KEY); CREATE PUBLICATION tablecache_test_pub FOR TABLE items');
  await admin.end();
  return created;
}

afterAll(async () => {
  for (const created of clusters) await created.drop();
}, 60_000);

describe.skipIf(!canCreateClusters() && process.env.TABLECACHE_REQUIRE_SERVER !== '1')('ReplicationStream on a cluster of its own', () => {
  test('wal_level replica: WalLevelError names the setting, its value and the restart', async () => {
    const { url } = await cluster({ wal_level: 'replica' });
    const opened = ReplicationStream.open({
      connectionString: url,
      slot: testSlotName(),
      slotMode: 'temporary',
      publications: ['tablecache_test_pub'],
      handlers: recordStream().handlers,
    });
    await expect(opened).rejects.toThrow(WalLevelError);
    await expect(opened).rejects.toMatchObject({ walLevel: 'replica' });
    await expect(opened).rejects.toThrow(/ALTER SYSTEM SET wal_level = logical.*restart/);
  });

  test("wal_level replica: a logical feed's ready() rejects at once with WalLevelError, and the feed is closed", async () => {
    const { url } = await cluster({ wal_level: 'replica' });
    const feed = new PgLogicalFeed(
      { connectionString: url },
      { publication: 'tablecache_test_pub', connectTimeoutMs: 30_000, logger: silent },
    );
    const started = performance.now();
    await expect(feed.ready()).rejects.toThrow(WalLevelError);
    expect(performance.now() - started).toBeLessThan(10_000); // not retried until connectTimeoutMs
    await expect(feed.sync()).rejects.toThrow('closed');
    await feed.close();
  });

  test('replies to keepalive requests keep the stream alive past a short wal_sender_timeout', async () => {
    // In milliseconds.
    const { url } = await cluster({ wal_level: 'logical', wal_sender_timeout: '500' });
    const recorded = recordStream();
    // Status updates of its own only every 60 s: only the replies to the server's requests keep it alive.
    const stream = await ReplicationStream.open({
      connectionString: url,
      slot: testSlotName(),
      slotMode: 'temporary',
      publications: ['tablecache_test_pub'],
      statusIntervalMs: 60_000,
      timeoutMs: 120_000,
      handlers: recorded.handlers,
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 3000)); // six walsender timeouts
      expect(recorded.losses()).toEqual([]);
      expect(recorded.keepalives()).toBeGreaterThanOrEqual(4); // the server asks every 250 ms
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      await admin.query('INSERT INTO items VALUES (1)');
      await admin.end();
      await expect.poll(() => recorded.messages().map((m) => m.tag)).toContain('commit');
    } finally {
      await stream.close();
    }
  });
});
