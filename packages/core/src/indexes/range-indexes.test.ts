import { describe, expect, test } from 'vitest';
import { InvalidKeyError, MalformedSpecError, UndefinedKeyError, UnknownIndexError } from '../errors/errors.js';
import { CachedTable } from '../table/cached-table.js';
import { MapStorageTable, MemoryDatabase } from '../testing/index.js';
import { NamedIndexes } from './named-indexes.js';
import { RangeIndexes, type RangeIndexesSpec } from './range-indexes.js';

interface Reading {
  readonly id: number;
  readonly ts: number;
  readonly value: string;
}

const reading = (id: number, ts = id * 10, value = `v${id}`): Reading => ({ id, ts, value });
const range = (ge: number, lt: number): RangeIndexesSpec<number, number> => ({ index: 'range', ge, lt });
const byScore = (records: readonly Reading[]) => [...records].sort((a, b) => a.ts - b.ts || a.id - b.id);

function readings(options: { querySome?: boolean } = {}) {
  const db = new MemoryDatabase<Reading>((r) => r.id);
  for (let id = 0; id < 10; id++) db.set(reading(id)); // ts 0, 10, …, 90
  const indexes = new RangeIndexes<Reading, number, number>({
    primaryKey: (r) => r.id,
    score: (r) => r.ts,
    queryRange: (ge, lt) => db.where(`ts in [${ge}, ${lt})`, (r) => r.ts >= ge && r.ts < lt),
    ...(options.querySome !== false && { querySome: db.querySome }),
  });
  const table = new CachedTable(indexes, db, new MapStorageTable(indexes));
  return { db, table };
}

async function windowed(ge = 20, lt = 60, options: { querySome?: boolean } = {}) {
  const context = readings(options);
  await context.table.load(range(ge, lt));
  context.db.queries.length = 0;
  return context;
}

describe('range indexes', () => {
  test('reads inside the loaded window come from memory, in score order', async () => {
    const { db, table } = await windowed();
    expect(await table.getRecords(range(30, 50))).toEqual([reading(3), reading(4)]);
    expect(db.queries).toEqual([]);
  });

  test('a read outside the window goes to the database', async () => {
    const { db, table } = await windowed();
    expect(byScore(await table.getRecords(range(70, 100)))).toEqual([reading(7), reading(8), reading(9)]);
    expect(db.queries).toHaveLength(1);
  });

  test('a read straddling the edge of the window is complete, with only the part outside from the database', async () => {
    const { db, table } = await windowed(20, 60);
    expect(await table.getRecords(range(40, 80))).toEqual([reading(4), reading(5), reading(6), reading(7)]);
    expect(db.queries.map((q) => q.sql)).toEqual(['select where ts in [60, 80)']);
  });

  test('a read around the whole window takes the middle from memory and both ends from the database, in order', async () => {
    const { db, table } = await windowed(20, 60);
    expect(await table.getRecords(range(0, 100))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((id) => reading(id)));
    expect(db.queries.map((q) => q.sql)).toEqual(['select where ts in [0, 20)', 'select where ts in [60, 100)']);
    expect(table.stats.readsFromStorage).toBe(1);
  });

  test('streamRecords and getFirstRecord follow the pieces of a straddling read in order', async () => {
    const { table } = await windowed(20, 60);
    const streamed: Reading[] = [];
    for await (const record of table.streamRecords(range(10, 70))) streamed.push(record);
    expect(streamed).toEqual([1, 2, 3, 4, 5, 6].map((id) => reading(id)));
    expect(await table.getFirstRecord(range(10, 70))).toEqual(reading(1));
  });

  test('sliding the window expires what leaves and queries only what enters', async () => {
    const { db, table } = await windowed(20, 60);
    await table.adjust(range(40, 80));
    expect(db.queries.map((q) => q.sql)).toEqual(['select where ts in [60, 80)']);
    db.queries.length = 0;
    expect(await table.getRecords(range(40, 80))).toEqual([reading(4), reading(5), reading(6), reading(7)]);
    expect(db.queries).toEqual([]);
    await table.getRecords(range(20, 30));
    expect(db.queries).toHaveLength(1);
  });

  test('a window moved somewhere else entirely is loaded whole', async () => {
    const { db, table } = await windowed(20, 40);
    await table.adjust(range(70, 90));
    expect(db.queries.map((q) => q.sql)).toEqual(['select where ts in [70, 90)']);
    expect(await table.getRecords(range(70, 90))).toEqual([reading(7), reading(8)]);
  });

  test('a record whose score changes moves between ranges, and leaves when it leaves the window', async () => {
    const { db, table } = await windowed(20, 60);
    db.set(reading(3, 55));
    table.invalidateRecords([{ index: 'primaryKey', keys: [3] }]);
    expect(await table.getRecords(range(30, 40))).toEqual([]);
    expect(await table.getRecords(range(50, 60))).toEqual([reading(5), reading(3, 55)]);
    db.set(reading(4, 95));
    table.invalidateRecords([{ index: 'primaryKey', keys: [4] }]);
    await table.refreshInvalid();
    db.queries.length = 0;
    expect(await table.getRecords(range(20, 60))).toEqual([reading(2), reading(5), reading(3, 55)]);
    expect(db.queries).toEqual([]);
  });

  test('a record that moves into the window from outside is picked up', async () => {
    const { db, table } = await windowed(20, 60);
    db.set(reading(9, 25));
    table.invalidateRecords([{ index: 'primaryKey', keys: [9] }]);
    expect(await table.getRecords(range(20, 30))).toEqual([reading(2), reading(9, 25)]);
  });

  test('without querySome, an invalidation by key reloads the window', async () => {
    const { db, table } = await windowed(20, 60, { querySome: false });
    db.set(reading(3, 35));
    table.invalidateRecords([{ index: 'primaryKey', keys: [3] }]);
    expect(await table.getRecords(range(30, 40))).toEqual([reading(3, 35)]);
    expect(db.queries.map((q) => q.sql)).toEqual(['select where ts in [20, 60)']);
  });

  test('without querySome, a read by primary key is refused with MalformedSpecError', async () => {
    const { table } = await windowed(20, 60, { querySome: false });
    await expect(table.getRecords({ index: 'primaryKey', keys: [3] })).rejects.toThrow(MalformedSpecError);
  });

  test('a read of a range that no invalid range touches runs no refresh', async () => {
    const { db, table } = await windowed(20, 60);
    table.invalidateRecords([range(20, 30)]);
    expect(await table.getRecords(range(40, 60))).toEqual([reading(4), reading(5)]);
    expect(db.queries).toEqual([]);
  });

  test('a read of any range waits for a primary key being reloaded, since its row may land anywhere', async () => {
    const { db, table } = await windowed(20, 60);
    db.set(reading(2, 45));
    table.invalidateRecords([{ index: 'primaryKey', keys: [2] }]);
    expect(await table.getRecords(range(40, 60))).toEqual([reading(4), reading(2, 45), reading(5)]);
  });

  test('a record declared stale without a reload makes reads of its score wait, and is dropped', async () => {
    const { db, table } = await windowed(20, 60);
    db.delete(3);
    table.invalidateRecords([{ index: 'primaryKey', keys: [3] }], []);
    expect(await table.getRecords(range(30, 40))).toEqual([]);
    expect(await table.getRecords(range(40, 60))).toEqual([reading(4), reading(5)]);
  });

  test('invalidating a range reloads it', async () => {
    const { db, table } = await windowed(20, 60);
    db.set(reading(4, 40, 'changed'));
    db.delete(5);
    table.invalidateRecords([range(40, 60)]);
    expect(await table.getRecords(range(20, 60))).toEqual([reading(2), reading(3), reading(4, 40, 'changed')]);
    expect(db.queries.map((q) => q.sql)).toEqual(['select where ts in [40, 60)']);
  });

  test('overlapping and touching ranges invalidated apart are refreshed with one query', async () => {
    const { db, table } = await windowed(0, 100);
    table.invalidateRecords([range(20, 30)]);
    table.invalidateRecords([range(25, 40)]);
    table.invalidateRecords([range(40, 50)]);
    table.invalidateRecords([range(70, 80)]);
    await table.refreshInvalid();
    expect(db.queries.map((q) => q.sql)).toEqual(['select where ts in [20, 50)', 'select where ts in [70, 80)']);
  });

  test.each([
    ['ge greater than lt', { index: 'range', ge: 5, lt: 1 }, MalformedSpecError],
    ['ge and lt of different types', { index: 'range', ge: 1, lt: new Date() }, MalformedSpecError],
    ['a missing lt', { index: 'range', ge: 1 }, MalformedSpecError],
    ['a NaN bound', { index: 'range', ge: 1, lt: Number.NaN }, InvalidKeyError],
    ['an undefined bound', { index: 'range', ge: undefined, lt: 2 }, UndefinedKeyError],
    ['everything, which a range table cannot load', { index: 'primaryKey', all: true }, MalformedSpecError],
    ['an unknown index', { index: 'time', ge: 1, lt: 2 }, UnknownIndexError],
  ])('a spec with %s is refused', async (_, spec, error) => {
    const { table } = readings();
    await expect(table.load(spec as unknown as RangeIndexesSpec<number, number>)).rejects.toThrow(error);
  });

  test('Date and bigint scores work', async () => {
    const db = new MemoryDatabase<{ id: number; at: Date; big: bigint }>((r) => r.id);
    for (let id = 0; id < 5; id++) db.set({ id, at: new Date(id * 1000), big: BigInt(id) * 10n ** 20n });
    const byDate = new RangeIndexes({
      primaryKey: (r: { id: number; at: Date }) => r.id,
      score: (r) => r.at,
      queryRange: (ge, lt) => db.where(`at in [${ge.getTime()}, ${lt.getTime()})`, (r) => r.at >= ge && r.at < lt),
    });
    const dated = new CachedTable(byDate, db, new MapStorageTable(byDate));
    await dated.load({ index: 'range', ge: new Date(1000), lt: new Date(4000) });
    expect((await dated.getRecords({ index: 'range', ge: new Date(2000), lt: new Date(4000) })).map((r) => r.id)).toEqual([2, 3]);
    const byBig = new RangeIndexes({
      primaryKey: (r: { id: number; big: bigint }) => r.id,
      score: (r) => r.big,
      queryRange: (ge, lt) => db.where(`big in [${ge}, ${lt})`, (r) => r.big >= ge && r.big < lt),
    });
    const big = new CachedTable(byBig, db, new MapStorageTable(byBig));
    await big.load({ index: 'range', ge: 0n, lt: 3n * 10n ** 20n });
    expect((await big.getRecords({ index: 'range', ge: 10n ** 20n, lt: 3n * 10n ** 20n })).map((r) => r.id)).toEqual([1, 2]);
  });
});

describe('adjusting under concurrency and failure', () => {
  test('concurrent adjusts are serialized and end in the last window, with its records', async () => {
    const { db, table } = await windowed(0, 20);
    await Promise.all([table.adjust(range(10, 40)), table.adjust(range(50, 70)), table.adjust(range(30, 60))]);
    db.queries.length = 0;
    expect(await table.getRecords(range(30, 60))).toEqual([reading(3), reading(4), reading(5)]);
    expect(db.queries).toEqual([]);
    await table.getRecords(range(60, 70));
    expect(db.queries).toHaveLength(1);
  });

  test('an adjust that fails midway keeps the previous window and records, and the next one works', async () => {
    const { db, table } = await windowed(20, 60);
    db.failNext(new Error('connection reset'), 1);
    await expect(table.adjust(range(40, 90))).rejects.toThrow('connection reset');
    expect(await table.getRecords(range(20, 60))).toEqual([reading(2), reading(3), reading(4), reading(5)]);
    expect(db.queries).toHaveLength(1);
    await table.adjust(range(40, 90));
    expect(await table.getRecords(range(40, 90))).toEqual([4, 5, 6, 7, 8].map((id) => reading(id)));
  });

  test('a read during an adjust sees the old window or the new one, never a mix', async () => {
    const { db, table } = await windowed(20, 60);
    const gate = db.pause();
    const adjusting = table.adjust(range(40, 80));
    await gate.reached;
    expect(await table.getRecords(range(20, 60))).toEqual([reading(2), reading(3), reading(4), reading(5)]);
    gate.release();
    await adjusting;
    db.queries.length = 0;
    expect(await table.getRecords(range(40, 80))).toEqual([reading(4), reading(5), reading(6), reading(7)]);
    expect(db.queries).toEqual([]);
  });

  test('getFirstRecord of a straddling read takes the memory piece with the plan, not after awaiting the database', async () => {
    const { db, table } = await windowed(10, 20);
    const gate = db.pause();
    const first = table.getFirstRecord(range(5, 30)); // pieces: [5, 10) database, [10, 20) memory, [20, 30) database
    await gate.reached;
    await table.adjust(range(20, 40)); // expires reading 1 (ts 10) from memory
    gate.release();
    expect(await first).toEqual(reading(1));
  });

  test('an adjust that meets a row it cannot store rejects and changes nothing', async () => {
    const db = new MemoryDatabase<{ id: number; ts: number; city: number | null }>((r) => r.id);
    db.set({ id: 1, ts: 1, city: 1 }, { id: 2, ts: 7, city: 1 }, { id: 3, ts: 12, city: null });
    const indexes = new NamedIndexes({
      primaryKey: (r: { id: number; ts: number; city: number | null }) => r.id,
      hash: { byCity: { key: (r) => r.city as number, query: () => db.queryAll } },
      range: {
        time: { score: (r) => r.ts, query: (ge: number, lt: number) => db.where(`ts in [${ge}, ${lt})`, (r) => r.ts >= ge && r.ts < lt) },
      },
    });
    const table = new CachedTable(indexes, db, new MapStorageTable(indexes));
    await table.load({ index: 'time', ge: 0, lt: 10 });
    await expect(table.adjust({ index: 'time', ge: 5, lt: 15 })).rejects.toThrow(UndefinedKeyError);
    db.queries.length = 0;
    expect((await table.getRecords({ index: 'time', ge: 0, lt: 10 })).map((r) => r.id)).toEqual([1, 2]);
    expect(db.queries).toEqual([]);
  });

  test('an invalidation during an adjust is not lost', async () => {
    const { db, table } = await windowed(20, 60);
    const gate = db.pause();
    const adjusting = table.adjust(range(20, 80));
    await gate.reached;
    db.set(reading(3, 30, 'changed'));
    table.invalidateRecords([{ index: 'primaryKey', keys: [3] }]);
    gate.release();
    await adjusting;
    expect(await table.getRecords(range(30, 40))).toEqual([reading(3, 30, 'changed')]);
  });
});
