import fc from 'fast-check';
import { expect, test } from 'vitest';
import { CachedTable } from '../table/cached-table.js';
import { InjectedFailures, MapStorageTable, MemoryDatabase } from '../testing/index.js';
import { RangeIndexes } from './range-indexes.js';

interface Row {
  readonly id: number;
  readonly ts: number;
  readonly version: number;
}

const IDS = 10;
const TS = 50;
const id = fc.integer({ min: 0, max: IDS - 1 });
const ts = fc.integer({ min: 0, max: TS });
const window = fc.tuple(ts, ts).map(([a, b]) => (a <= b ? { ge: a, lt: b } : { ge: b, lt: a }));

const operation = fc.oneof(
  fc.record({ op: fc.constant('change' as const), id, ts, remove: fc.boolean() }),
  fc.record({ op: fc.constant('adjust' as const), window }),
  fc.record({ op: fc.constant('read' as const), window }),
  // Reads inside the loaded window, as fractions of it: these are the ones served from memory.
  fc.record({
    op: fc.constant('readInside' as const),
    from: fc.double({ min: 0, max: 1, noNaN: true }),
    to: fc.double({ min: 0, max: 1, noNaN: true }),
  }),
  // A deleted row announced only as stale (no reload spec): only its marked score makes reads wait.
  fc.record({ op: fc.constant('dropStale' as const), id }),
  fc.record({ op: fc.constant('readKeys' as const), ids: fc.uniqueArray(id, { maxLength: 4 }) }),
  fc.record({ op: fc.constant('refresh' as const) }),
  fc.record({ op: fc.constant('invalidateRange' as const), window }),
  fc.record({ op: fc.constant('changeDuringAdjust' as const), id, ts, window }),
  fc.record({ op: fc.constant('failNextQuery' as const), afterRows: fc.integer({ min: 0, max: 3 }) }),
);

const order = (a: Row, b: Row) => a.ts - b.ts || a.id - b.id;

/**
 * A model test of a range-indexed table: random changes (each announced by primary key, as a
 * change feed would), window slides, range invalidations, failures and races; every read must
 * equal the database at that moment, whether it came from memory or not.
 */
test('a range table under random changes, slides, failures and races always reads what the database holds', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(id, ts), { maxLength: IDS }),
      window,
      fc.array(operation, { maxLength: 25 }),
      async (initial, start, operations) => {
        const db = new MemoryDatabase<Row>((r) => r.id, { batchSize: 2 });
        let version = 0;
        for (const [rowId, rowTs] of initial) db.set({ id: rowId, ts: rowTs, version: version++ });
        const indexes = new RangeIndexes<Row, number, number>({
          primaryKey: (r) => r.id,
          score: (r) => r.ts,
          queryRange: (ge, lt) => db.where(`ts in [${ge}, ${lt})`, (r) => r.ts >= ge && r.ts < lt),
          querySome: db.querySome,
        });
        const table = new CachedTable(indexes, db, new MapStorageTable(indexes));
        const failures = new InjectedFailures(db);
        const tolerate = <T>(work: Promise<T>) => failures.tolerate(work);
        const change = (rowId: number, rowTs: number, remove: boolean) => {
          if (remove) db.delete(rowId);
          else db.set({ id: rowId, ts: rowTs, version: version++ });
          table.invalidateRecords([{ index: 'primaryKey', keys: [rowId] }]);
        };
        const inDatabase = (ge: number, lt: number) => [...db.rows.values()].filter((r) => r.ts >= ge && r.ts < lt).sort(order);
        // A synchronous read may decline (undefined), but what it returns must be the database's.
        const expectPeekCorrect = (rowId: number) => {
          const peeked = table.peek(rowId);
          if (peeked !== undefined) expect(peeked).toEqual(db.rows.get(rowId));
        };

        await table.load({ index: 'range', ...start });
        let loaded = start;
        for (const operation of operations) {
          switch (operation.op) {
            case 'change':
              change(operation.id, operation.ts, operation.remove);
              break;
            case 'adjust':
              if ((await tolerate(table.adjust({ index: 'range', ...operation.window }).then(() => true))) === true)
                loaded = operation.window;
              break;
            case 'readInside': {
              const [a, b] = [operation.from, operation.to].sort((x, y) => x - y) as [number, number];
              const length = loaded.lt - loaded.ge;
              const ge = loaded.ge + Math.floor(a * length);
              const lt = loaded.ge + Math.floor(b * length);
              const now = table.getRecordsSync({ index: 'range', ge, lt });
              if (now !== undefined) expect(now).toEqual(inDatabase(ge, lt));
              const records = await tolerate(table.getRecords({ index: 'range', ge, lt }));
              // Covered, so from memory: already in score order, unlike the database's answer.
              if (records !== undefined) expect(records).toEqual(inDatabase(ge, lt));
              break;
            }
            case 'dropStale':
              db.delete(operation.id);
              table.invalidateRecords([{ index: 'primaryKey', keys: [operation.id] }], []);
              break;
            case 'read': {
              const { ge, lt } = operation.window;
              const records = await tolerate(table.getRecords({ index: 'range', ge, lt }));
              if (records !== undefined) expect([...records].sort(order)).toEqual(inDatabase(ge, lt));
              break;
            }
            case 'readKeys': {
              for (const rowId of operation.ids) expectPeekCorrect(rowId);
              const records = await tolerate(table.getRecords({ index: 'primaryKey', keys: operation.ids }));
              if (records !== undefined) {
                expect([...records].sort(order)).toEqual(
                  operation.ids.flatMap((key) => (db.rows.has(key) ? [db.rows.get(key)!] : [])).sort(order),
                );
              }
              break;
            }
            case 'refresh':
              await tolerate(table.refreshInvalid());
              break;
            case 'invalidateRange':
              table.invalidateRecords([{ index: 'range', ...operation.window }]);
              break;
            case 'changeDuringAdjust': {
              const gate = db.pause();
              const adjusting = tolerate(table.adjust({ index: 'range', ...operation.window }).then(() => true));
              await Promise.race([gate.reached, adjusting]);
              change(operation.id, operation.ts, false);
              expectPeekCorrect(operation.id);
              gate.release();
              if ((await adjusting) === true) loaded = operation.window;
              break;
            }
            case 'failNextQuery':
              failures.arm(operation.afterRows);
              break;
          }
        }
        if (failures.armed) await tolerate(table.getRecords({ index: 'range', ge: 0, lt: TS + 1 }));
        expect([...(await table.getRecords({ index: 'range', ge: 0, lt: TS + 1 }))].sort(order)).toEqual(inDatabase(0, TS + 1));
      },
    ),
    // FC_NUM_RUNS=20000 for a long run; the default keeps the suite fast.
    { numRuns: Number(process.env.FC_NUM_RUNS) || 1000 },
  );
});
