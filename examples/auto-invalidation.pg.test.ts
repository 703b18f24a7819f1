import { testBackends } from '@tablecache/testing';
import { describe, expect, test } from 'vitest';
import { runAutoInvalidationExample } from './auto-invalidation.js';

for (const backend of testBackends()) {
  describe.skipIf(!backend.available)(`the auto-invalidation example on ${backend.name}`, () => {
    test('follows plain SQL changes in all three tables and reads nothing stale after sync', async () => {
      const database = await backend.open();
      const lines: string[] = [];
      try {
        const result = await runAutoInvalidationExample(database.connection, { latencySamples: 20, log: (line) => lines.push(line) });
        expect(result.afterCityRename).toEqual(['München', 'München', 'München']);
        expect(result.afterMove).toBe('Munich');
        expect(result.deletedUserPresent).toBe(false);
        expect(result.insertedUser).toBe('Newcomer in Hamburg');
        expect(result.staleReadsAfterSync).toBe(0);
        expect(result.latency.samples).toBe(20);
        expect(lines.at(-2)).toMatch(/p50 .* ms, p99 .* ms/);
      } finally {
        await database.close();
      }
    });
  });
}
