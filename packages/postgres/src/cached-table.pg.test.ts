import { CachedTable, PrimaryKeyIndexes } from '@tablecache/core';
import { readWhile } from '@tablecache/core/testing';
import { LocalStorageTable } from '@tablecache/local';
import { type OpenBackend, testBackends } from '@tablecache/testing';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { type Item, itemTable } from './items.fixture.js';
import { PostgresAccess } from './postgres-access.js';

const ROWS = 5000;

for (const backend of testBackends()) {
  describe.skipIf(!backend.available)(`a cached table on ${backend.name}`, () => {
    let database: OpenBackend;
    let access: PostgresAccess;

    beforeAll(async () => {
      database = await backend.open();
      await database.exec('CREATE TABLE items (id integer PRIMARY KEY, label text NOT NULL)');
      access = new PostgresAccess(database.connection);
    });

    beforeEach(async () => {
      await database.exec(`TRUNCATE items; INSERT INTO items SELECT g, 'v1' FROM generate_series(0, ${ROWS - 1}) g`);
    });

    afterAll(async () => {
      await access?.close();
      await database?.close();
    });

    test('after loading everything, loaded and absent keys are read without a query', async () => {
      const table = itemTable(access);
      await table.load({ index: 'primaryKey', all: true });
      expect(table.stats.queries).toBe(1);
      expect(await table.getRecords({ index: 'primaryKey', keys: [3, 1] })).toEqual([
        { id: 3, label: 'v1' },
        { id: 1, label: 'v1' },
      ]);
      expect(await table.getRecords({ index: 'primaryKey', keys: [ROWS + 1] })).toEqual([]);
      expect(table.stats.queries).toBe(1);
    });

    test('a row changed in the database is fresh after invalidation', async () => {
      const table = itemTable(access);
      await table.load({ index: 'primaryKey', all: true });
      await database.exec("UPDATE items SET label = 'v2' WHERE id = 7");
      expect(await table.getFirstRecord({ index: 'primaryKey', keys: [7] })).toEqual({ id: 7, label: 'v1' });
      table.invalidateRecords([{ index: 'primaryKey', keys: [7] }]);
      expect(await table.getFirstRecord({ index: 'primaryKey', keys: [7] })).toEqual({ id: 7, label: 'v2' });
    });

    test('a load whose query fails rejects load() and loaded() and reads fall back to the database', async () => {
      const table = itemTable(access, { from: 'no_such_table' });
      await expect(table.load({ index: 'primaryKey', all: true })).rejects.toThrow(/no_such_table/);
      await expect(table.loaded()).rejects.toThrow(/no_such_table/);
    });

    test('a load failing midway leaves the table empty and unloaded', async () => {
      const failing = new PrimaryKeyIndexes<Item, number>({
        primaryKey: (item) => item.id,
        queryAll: { sql: `SELECT id, CASE WHEN id > 2500 THEN (1 / (id - id))::text ELSE label END AS label FROM items ORDER BY id` },
        querySome: (ids) => ({ sql: 'SELECT id, label FROM items WHERE id = ANY($1::int[])', parameters: [ids] }),
      });
      const storage = new LocalStorageTable(failing);
      const table = new CachedTable(failing, access, storage);
      await expect(table.load({ index: 'primaryKey', all: true })).rejects.toThrow(/division by zero/);
      expect(storage.size).toBe(0);
      expect(await table.getRecords({ index: 'primaryKey', keys: [1] })).toEqual([{ id: 1, label: 'v1' }]);
    });

    test('readers busy while refreshInvalid rewrites thousands of records never see one missing or half-updated', async () => {
      const table = itemTable(access);
      await table.load({ index: 'primaryKey', all: true });
      const ids = Array.from({ length: ROWS }, (_, i) => i);
      await database.exec("UPDATE items SET label = 'v2' WHERE id % 2 = 0");
      let invalidated = false;
      const { problems, readsDuring } = await readWhile(
        async () => {
          table.invalidateRecords([{ index: 'primaryKey', keys: ids.filter((id) => id % 2 === 0) }]);
          invalidated = true;
          await table.refreshInvalid();
        },
        async (reader, round) => {
          // Readers 0 and 1 read only rows that are not rewritten: they are served during the refresh.
          const wanted = ids.filter((id) => (id + round + reader) % 11 === 0 && (reader > 1 || id % 2 === 1));
          const startedAfterInvalidation = invalidated;
          const records = await table.getRecords({ index: 'primaryKey', keys: wanted });
          const evenLabels = new Set(records.filter((r) => r.id % 2 === 0).map((r) => r.label));
          const whole =
            records.length === wanted.length &&
            records.every((r, i) => r.id === wanted[i] && (r.id % 2 === 0 || r.label === 'v1')) &&
            evenLabels.size <= 1 &&
            !(startedAfterInvalidation && evenLabels.has('v1'));
          return whole ? undefined : `${records.length}/${wanted.length} records, even labels ${[...evenLabels].join(',')}`;
        },
      );
      expect(problems).toEqual([]);
      expect(readsDuring).toBeGreaterThan(0);
      const after = await table.getRecords({ index: 'primaryKey', all: true });
      expect(after).toHaveLength(ROWS);
      expect(after.every((r) => r.label === (r.id % 2 === 0 ? 'v2' : 'v1'))).toBe(true);
    });

    test('readers busy while an adjust reloads thousands of records see all old or all new records', async () => {
      const table = itemTable(access);
      await table.load({ index: 'primaryKey', all: true });
      await database.exec("UPDATE items SET label = 'v2'");
      const { problems, readsDuring } = await readWhile(
        () => table.adjust({ index: 'primaryKey', all: true }),
        async () => {
          const records = await table.getRecords({ index: 'primaryKey', all: true });
          const labels = new Set(records.map((r) => r.label));
          return records.length === ROWS && labels.size === 1 ? undefined : `${records.length} records, labels ${[...labels].join(',')}`;
        },
        3,
      );
      expect(problems).toEqual([]);
      expect(readsDuring).toBeGreaterThan(0);
    });
  });
}

const [server] = testBackends();

describe.skipIf(!server?.available)('a cached table over a pool on postgres', () => {
  test('reads of loaded keys and absent keys acquire no connection after loading everything', async () => {
    const database = await server!.open();
    const pool = new pg.Pool({ connectionString: (database.connection as { connectionString: string }).connectionString });
    const access = new PostgresAccess({ pool });
    try {
      await database.exec("CREATE TABLE items AS SELECT g AS id, 'v1' AS label FROM generate_series(1, 100) g");
      let acquisitions = 0;
      pool.on('acquire', () => acquisitions++);
      const table = itemTable(access);
      await table.load({ index: 'primaryKey', all: true });
      const afterLoad = acquisitions;
      expect(afterLoad).toBeGreaterThan(0);
      for (let id = 1; id <= 100; id++) await table.getFirstRecord({ index: 'primaryKey', keys: [id] });
      expect(await table.getRecords({ index: 'primaryKey', keys: [101, 102] })).toEqual([]);
      expect(await table.getRecords({ index: 'primaryKey', all: true })).toHaveLength(100);
      expect(acquisitions).toBe(afterLoad);
      table.invalidateRecords([{ index: 'primaryKey', keys: [5] }]);
      await table.getRecords({ index: 'primaryKey', keys: [5] });
      expect(acquisitions).toBe(afterLoad + 1);
    } finally {
      await access.close();
      await pool.end();
      await database.close();
    }
  });
});
