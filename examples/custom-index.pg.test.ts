import { testBackends } from '@tablecache/testing';
import { describe, expect, test } from 'vitest';
import { runCustomIndexExample } from './custom-index.js';

for (const backend of testBackends()) {
  describe.skipIf(!backend.available)(`the custom-index example on ${backend.name}`, () => {
    test('a device-and-time index written against the Indexes contract serves covered reads from memory', async () => {
      const database = await backend.open();
      try {
        const result = await runCustomIndexExample(database.connection, () => undefined);
        expect(result).toEqual({ cachedReadings: 60, fromMemory: [10, 10], fromDatabase: [10, 10], queriesForMemoryReads: 0 });
      } finally {
        await database.close();
      }
    });
  });
}
