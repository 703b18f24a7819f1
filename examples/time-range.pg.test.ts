import { testBackends } from '@tablecache/testing';
import { describe, expect, test } from 'vitest';
import { runTimeRangeExample } from './time-range.js';

for (const backend of testBackends()) {
  describe.skipIf(!backend.available)(`the time-range example on ${backend.name}`, () => {
    test('slides the window on a timer, serves recent reads from memory and old ones from the database, and moves a changed reading', async () => {
      const database = await backend.open();
      try {
        const result = await runTimeRangeExample(database.connection, { slides: 3, tickMs: 20, log: () => undefined });
        expect(result.slides).toHaveLength(3);
        for (const slide of result.slides) {
          expect(slide.cached).toBe(33); // 11 minutes × 3 devices: what leaves expires, what enters is loaded
          expect(slide.queries).toBe(1); // only the minute that entered
        }
        expect(result.hits).toBe(2);
        expect(result.misses).toBe(1);
        expect(result.movedReading.afterInRecent).toBe(false);
        expect(result.movedReading.afterInOld).toBe(true);
      } finally {
        await database.close();
      }
    });
  });
}
