import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { CachedTable } from '../table/cached-table.js';
import { InjectedFailures, MapStorageTable, MemoryDatabase } from '../testing/index.js';
import { NamedIndexes } from './named-indexes.js';

interface Member {
  readonly id: number;
  readonly city: number;
  readonly joined: number;
  readonly version: number;
}

const IDS = 8;
const id = fc.integer({ min: 0, max: IDS - 1 });
const city = fc.integer({ min: 0, max: 3 });
const joined = fc.integer({ min: 0, max: 5 });
const cities = fc.uniqueArray(city, { minLength: 1, maxLength: 4 });
// The index a change is announced through: its old row's spec there is the stale spec.
const via = fc.constantFrom('city' as const, 'joined' as const, 'primaryKey' as const);
const change = fc.record({ id, city, joined, remove: fc.boolean(), via });
const operation = fc.oneof(
  fc.record({ op: fc.constant('change' as const), change }),
  fc.record({ op: fc.constant('changeDuringRefresh' as const), change }),
  fc.record({ op: fc.constant('changeDuringAdjust' as const), change, cities }),
  fc.record({ op: fc.constant('adjust' as const), cities }),
  fc.record({ op: fc.constant('refresh' as const) }),
  fc.record({ op: fc.constant('read' as const), city }),
  fc.record({ op: fc.constant('failNextQuery' as const), afterRows: fc.integer({ min: 0, max: 3 }) }),
);

type Change = {
  readonly id: number;
  readonly city: number;
  readonly joined: number;
  readonly remove: boolean;
  readonly via: 'city' | 'joined' | 'primaryKey';
};

/**
 * How a change is announced. `watcher`: the specs of the old and the new row, as old and new
 * specs both (what a watch mapping gives). `stale old, new by key`: the old row's spec as
 * stale, the new row by primary key only; storage may then drop records of the stale spec that
 * nothing brings back (the caller said so), so only what memory serves is checked, not that it
 * serves everything.
 */
const announcing = [
  ['watcher', { newByPrimaryKey: false }],
  ['stale old, new by key', { newByPrimaryKey: true }],
] as const;

describe.each(announcing)('changes announced %s style, through any one index', (_, { newByPrimaryKey }) => {
  test('whatever peek, getRecordsSync and getRecords return equals the database, through loads, refreshes, adjusts, races and failures', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(id, city, joined), { maxLength: IDS }),
        cities,
        fc.array(change, { maxLength: 3 }),
        fc.array(operation, { maxLength: 25 }),
        async (initial, loadCities, duringLoad, operations) => {
          const db = new MemoryDatabase<Member>((m) => m.id, { batchSize: 2 });
          let version = 0;
          for (const [rowId, rowCity, rowJoined] of initial) db.set({ id: rowId, city: rowCity, joined: rowJoined, version: version++ });
          const indexes = new NamedIndexes({
            primaryKey: (m: Member) => m.id,
            queryAll: db.queryAll,
            querySome: db.querySome,
            hash: {
              byCity: {
                key: (m: Member) => m.city,
                query: (keys: readonly number[]) => db.where(`city in ${keys}`, (m) => keys.includes(m.city)),
              },
            },
            range: {
              byJoined: {
                score: (m: Member) => m.joined,
                query: (ge: number, lt: number) => db.where(`joined in [${ge}, ${lt})`, (m) => m.joined >= ge && m.joined < lt),
              },
            },
          });
          const table = new CachedTable(indexes, db, new MapStorageTable(indexes));
          const failures = new InjectedFailures(db);
          const tolerate = <T>(work: Promise<T>) => failures.tolerate(work);
          const byId = (a: Member, b: Member) => a.id - b.id;
          const inCity = (c: number) => [...db.rows.values()].filter((m) => m.city === c).sort(byId);
          const apply = (c: Change) => {
            const before = db.rows.get(c.id);
            if (c.remove) db.delete(c.id);
            else db.set({ id: c.id, city: c.city, joined: c.joined, version: version++ });
            const after = db.rows.get(c.id);
            const spec = (m: Member) =>
              c.via === 'city'
                ? { index: 'byCity' as const, keys: [m.city] }
                : c.via === 'joined'
                  ? { index: 'byJoined' as const, ge: m.joined, lt: m.joined + 1 }
                  : { index: 'primaryKey' as const, keys: [m.id] };
            const olds = before === undefined ? [] : [spec(before)];
            const news = newByPrimaryKey
              ? after === undefined
                ? []
                : [{ index: 'primaryKey' as const, keys: [c.id] }]
              : [...olds, ...(after === undefined ? [] : [spec(after)])];
            table.invalidateRecords(olds, news);
          };
          const expectCityRead = (c: number, records: readonly Member[] | undefined) => {
            if (records !== undefined && !newByPrimaryKey) expect([...records].sort(byId)).toEqual(inCity(c));
          };
          // Synchronous reads may decline (undefined), but what they return must be the database's.
          const checkSyncReads = () => {
            for (let i = 0; i < IDS; i++) {
              const peeked = table.peek(i);
              if (peeked !== undefined) expect(peeked).toEqual(db.rows.get(i));
            }
            for (let c = 0; c < 4; c++) expectCityRead(c, table.getRecordsSync({ index: 'byCity', keys: [c] }));
          };

          // The change lands after the write's query has read the database, before it commits.
          const changeDuring = async (write: () => Promise<void>, c: Change) => {
            const paused = db.pause();
            const writing = tolerate(write());
            await Promise.race([paused.reached, writing]);
            apply(c);
            checkSyncReads();
            paused.release();
            await writing;
          };

          const gate = db.pause();
          const loading = table.load({ index: 'byCity', keys: loadCities });
          await gate.reached;
          for (const c of duringLoad) apply(c);
          gate.release();
          await loading;
          for (const operation of operations) {
            checkSyncReads();
            switch (operation.op) {
              case 'change':
                apply(operation.change);
                break;
              case 'refresh':
                await tolerate(table.refreshInvalid());
                break;
              case 'adjust':
                await tolerate(table.adjust({ index: 'byCity', keys: operation.cities }));
                break;
              case 'read':
                expectCityRead(operation.city, await tolerate(table.getRecords({ index: 'byCity', keys: [operation.city] })));
                break;
              case 'failNextQuery':
                failures.arm(operation.afterRows);
                break;
              case 'changeDuringRefresh':
                table.invalidateRecords([{ index: 'primaryKey', keys: [operation.change.id] }]);
                await changeDuring(() => table.refreshInvalid(), operation.change);
                break;
              case 'changeDuringAdjust':
                await changeDuring(() => table.adjust({ index: 'byCity', keys: operation.cities }), operation.change);
                break;
            }
          }
          checkSyncReads();
          if (failures.armed) await tolerate(table.refreshInvalid());
          for (let c = 0; c < 4; c++) expectCityRead(c, await tolerate(table.getRecords({ index: 'byCity', keys: [c] })));
          checkSyncReads();
        },
      ),
      // FC_NUM_RUNS=100000 for a long run; the default keeps the suite fast.
      { numRuns: Number(process.env.FC_NUM_RUNS) || 500 },
    );
  }, 600_000);
});
