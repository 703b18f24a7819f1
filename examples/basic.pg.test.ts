import { testBackends } from '@tablecache/testing';
import { describe, expect, test } from 'vitest';
import { runBasicExample } from './basic.js';

for (const backend of testBackends()) {
  describe.skipIf(!backend.available)(`the basic example on ${backend.name}`, () => {
    test('loads, serves from memory, goes stale, refreshes on invalidation and picks up an insert', async () => {
      const database = await backend.open();
      const lines: string[] = [];
      try {
        const result = await runBasicExample(database.connection, (line) => lines.push(line));
        expect(result).toEqual({
          loaded: 2,
          staleName: 'Alice',
          freshName: 'Alicia',
          queriesForAbsentUser: 0,
          insertedUser: { name: 'Carol', city_name: 'Hamburg' },
          queriesForInsertedUser: 0,
        });
        expect(lines).toHaveLength(8);
      } finally {
        await database.close();
      }
    });
  });
}
