import fc from 'fast-check';
import { expect, test } from 'vitest';
import { PrimaryKeyIndexes, type PrimaryKeySpec } from '../indexes/primary-key-indexes.js';
import { InjectedFailures, MapStorageTable, MemoryDatabase } from '../testing/index.js';
import { CachedTable } from './cached-table.js';

interface Row {
  readonly id: number;
  readonly version: number;
}

const KEYS = 8;
const key = fc.integer({ min: 0, max: KEYS - 1 });
const keySet = fc.uniqueArray(key, { maxLength: KEYS });

/**
 * What happens to the database and the cache. Every change to the database is announced with
 * an invalidation, as a change feed would do, except `change` with `announce: false`, whose keys
 * stay unannounced (and unchecked) until an `announceAll`.
 */
const operation = fc.oneof(
  fc.record({
    op: fc.constant('change' as const),
    id: key,
    remove: fc.boolean(),
    // 'reload' names the key only as a spec to reload (no old spec): its rows are the whole truth.
    announce: fc.constantFrom('invalidate' as const, 'reload' as const, false as const),
  }),
  fc.record({ op: fc.constant('announceAll' as const), everything: fc.boolean() }),
  fc.record({ op: fc.constant('read' as const), ids: keySet }),
  fc.record({ op: fc.constant('readAll' as const) }),
  fc.record({ op: fc.constant('refresh' as const) }),
  fc.record({ op: fc.constant('adjust' as const), ids: fc.option(keySet, { nil: undefined }) }),
  fc.record({ op: fc.constant('changeDuringRefresh' as const), id: key }),
  fc.record({ op: fc.constant('failNextQuery' as const), afterRows: fc.integer({ min: 0, max: 3 }) }),
);

test('after any sequence of changes, invalidations, refreshes, adjusts and failures, every read equals the database', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(key, { maxLength: KEYS }),
      fc.array(fc.record({ id: key, remove: fc.boolean() }), { maxLength: 4 }),
      fc.array(operation, { maxLength: 30 }),
      async (initial, duringLoad, operations) => {
        const db = new MemoryDatabase<Row>((row) => row.id, { batchSize: 2 });
        for (const id of initial) db.set({ id, version: 0 });
        const indexes = new PrimaryKeyIndexes<Row, number>({ primaryKey: (r) => r.id, queryAll: db.queryAll, querySome: db.querySome });
        const table = new CachedTable(indexes, db, new MapStorageTable(indexes));
        const unannounced = new Set<number>();
        let version = 0;
        // Changes announced while the load runs: the load's snapshot predates them.
        const gate = db.pause();
        const loading = table.load({ index: 'primaryKey', all: true });
        await gate.reached;
        for (const { id, remove } of duringLoad) {
          if (remove) db.delete(id);
          else db.set({ id, version: ++version });
          table.invalidateRecords([{ index: 'primaryKey', keys: [id] }]);
        }
        gate.release();
        await loading;
        const failures = new InjectedFailures(db);
        const tolerate = <T>(work: Promise<T>) => failures.tolerate(work);

        const expected = (ids: readonly number[]) => ids.filter((id) => db.rows.has(id)).map((id) => db.rows.get(id));
        const change = (id: number, remove: boolean) => {
          if (remove) db.delete(id);
          else db.set({ id, version: ++version });
        };
        const checked = (ids: readonly number[]) => ids.filter((id) => !unannounced.has(id));
        // A synchronous read may decline (undefined), but what it returns must be the database's.
        const expectSyncReadsCorrect = (ids: readonly number[]) => {
          for (const id of ids) {
            const peeked = table.peek(id);
            if (peeked !== undefined) expect(peeked).toEqual(db.rows.get(id));
          }
          const now = table.getRecordsSync({ index: 'primaryKey', keys: ids });
          if (now !== undefined) expect(now).toEqual(expected(ids));
        };

        for (const operation of operations) {
          switch (operation.op) {
            case 'change':
              change(operation.id, operation.remove);
              if (operation.announce === 'invalidate') table.invalidateRecords([{ index: 'primaryKey', keys: [operation.id] }]);
              else if (operation.announce === 'reload') table.invalidateRecords([], [{ index: 'primaryKey', keys: [operation.id] }]);
              else unannounced.add(operation.id);
              break;
            case 'announceAll':
              table.invalidateRecords(
                operation.everything ? [{ index: 'primaryKey', all: true }] : [{ index: 'primaryKey', keys: [...unannounced] }],
              );
              unannounced.clear();
              break;
            case 'read': {
              const ids = checked(operation.ids);
              expectSyncReadsCorrect(ids);
              const records = await tolerate(table.getRecords({ index: 'primaryKey', keys: ids }));
              if (records !== undefined) expect(records).toEqual(expected(ids));
              break;
            }
            case 'readAll': {
              const records = await tolerate(table.getRecords({ index: 'primaryKey', all: true }));
              if (records !== undefined) {
                expect(records.filter((r) => !unannounced.has(r.id)).sort((a, b) => a.id - b.id)).toEqual(
                  expected(checked([...Array(KEYS).keys()])),
                );
              }
              break;
            }
            case 'refresh':
              await tolerate(table.refreshInvalid());
              break;
            case 'adjust': {
              const spec: PrimaryKeySpec<number> =
                operation.ids === undefined ? { index: 'primaryKey', all: true } : { index: 'primaryKey', keys: operation.ids };
              await tolerate(table.adjust(spec));
              break;
            }
            case 'changeDuringRefresh': {
              table.invalidateRecords([{ index: 'primaryKey', keys: [operation.id] }]);
              const gate = db.pause();
              const refreshing = tolerate(table.refreshInvalid());
              await Promise.race([gate.reached, refreshing]);
              change(operation.id, false);
              table.invalidateRecords([{ index: 'primaryKey', keys: [operation.id] }]);
              expectSyncReadsCorrect(checked([...Array(KEYS).keys()]));
              gate.release();
              await refreshing;
              break;
            }
            case 'failNextQuery':
              failures.arm(operation.afterRows);
              break;
          }
        }
        // With every change announced, the whole table equals the database.
        table.invalidateRecords([{ index: 'primaryKey', keys: [...unannounced] }]);
        if (failures.armed) await tolerate(table.refreshInvalid());
        if (failures.armed) await tolerate(table.getRecords({ index: 'primaryKey', all: true }));
        const byId = (a: Row, b: Row) => a.id - b.id;
        expect((await table.getRecords({ index: 'primaryKey', all: true })).sort(byId)).toEqual([...db.rows.values()].sort(byId));
        const all = await table.getRecords({ index: 'primaryKey', keys: [...Array(KEYS).keys()] });
        expect(all).toEqual(expected([...Array(KEYS).keys()]));
      },
    ),
    // FC_NUM_RUNS=20000 for a long run; the default keeps the suite fast.
    { numRuns: Number(process.env.FC_NUM_RUNS) || 300 },
  );
});
