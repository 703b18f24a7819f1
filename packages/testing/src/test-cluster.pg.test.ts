import pg from 'pg';
import { describe, expect, test } from 'vitest';
import { canCreateClusters, TestCluster } from './test-cluster.js';

// CI (TABLECACHE_REQUIRE_SERVER=1) must be able to make clusters: there, this never skips.
describe.skipIf(!canCreateClusters() && process.env.TABLECACHE_REQUIRE_SERVER !== '1')('a throwaway cluster for fault tests', () => {
  test('starts, stops in both modes, starts again and is dropped', async () => {
    const cluster = await TestCluster.create();
    const answers = async () => {
      const client = new pg.Client({ connectionString: cluster.url, connectionTimeoutMillis: 3000 });
      client.on('error', () => undefined);
      try {
        await client.connect();
        return (await client.query('SELECT 1 AS one')).rows[0]?.one === 1;
      } catch {
        return false;
      } finally {
        await client.end().catch(() => undefined);
      }
    };
    try {
      expect(await answers()).toBe(true);
      await cluster.stop('fast');
      expect(await answers()).toBe(false);
      await cluster.start();
      await cluster.stop('immediate');
      await cluster.start();
      expect(await answers()).toBe(true);
    } finally {
      await cluster.drop();
    }
  }, 60_000);
});
