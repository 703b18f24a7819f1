import { describe, expect, expectTypeOf, test } from 'vitest';
import { MalformedSpecError } from '../errors/errors.js';
import { CachedTable } from '../table/cached-table.js';
import { MapStorageTable, MemoryDatabase } from '../testing/index.js';
import { NamedIndexes } from './named-indexes.js';

interface Member {
  readonly id: number;
  readonly city: number;
  readonly joined: number;
  readonly team: readonly [string, number];
}

const member = (id: number, city = id % 3, joined = id * 10, team: readonly [string, number] = ['t', id % 2]): Member => ({
  id,
  city,
  joined,
  team,
});
const sorted = (records: readonly Member[]) => [...records].sort((a, b) => a.id - b.id);

function members() {
  const db = new MemoryDatabase<Member>((m) => m.id);
  for (let id = 0; id < 12; id++) db.set(member(id));
  // Built index by index: each key type flows from its key function, with nothing annotated.
  const indexes = new NamedIndexes({ primaryKey: (m: Member) => m.id, queryAll: db.queryAll, querySome: db.querySome })
    .withHashIndex('byCity', { key: (m) => m.city, query: (cities) => db.where(`city in ${cities}`, (m) => cities.includes(m.city)) })
    .withHashIndex('byTeam', {
      key: (m) => m.team,
      query: (teams) => db.where(`team in ${JSON.stringify(teams)}`, (m) => teams.some((t) => t[0] === m.team[0] && t[1] === m.team[1])),
    })
    .withRangeIndex('byJoined', {
      score: (m) => m.joined,
      query: (ge, lt) => db.where(`joined in [${ge}, ${lt})`, (m) => m.joined >= ge && m.joined < lt),
    });
  const table = new CachedTable(indexes, db, new MapStorageTable(indexes));
  return { db, table };
}

async function loadedMembers() {
  const context = members();
  await context.table.load({ index: 'primaryKey', all: true });
  context.db.queries.length = 0;
  return context;
}

describe('several indexes on one table', () => {
  test('an index name taken twice is refused with MalformedSpecError', () => {
    const db = new MemoryDatabase<Member>((m) => m.id);
    const indexes = new NamedIndexes({ primaryKey: (m: Member) => m.id, queryAll: db.queryAll }).withHashIndex('byCity', {
      key: (m) => m.city,
      query: () => db.queryAll,
    });
    const again = 'byCity' as string;
    expect(() => indexes.withRangeIndex(again, { score: (m) => m.joined, query: () => db.queryAll })).toThrow(MalformedSpecError);
    expect(() => indexes.withHashIndex('primaryKey' as string, { key: (m) => m.id, query: () => db.queryAll })).toThrow(MalformedSpecError);
  });

  test('after loading everything, every index is read from memory', async () => {
    const { db, table } = await loadedMembers();
    expect(sorted(await table.getRecords({ index: 'byCity', keys: [1] }))).toEqual([1, 4, 7, 10].map((id) => member(id)));
    expect(await table.getRecords({ index: 'byJoined', ge: 20, lt: 50 })).toEqual([2, 3, 4].map((id) => member(id)));
    expect(sorted(await table.getRecords({ index: 'byTeam', keys: [['t', 1]] }))).toEqual([1, 3, 5, 7, 9, 11].map((id) => member(id)));
    expect(db.queries).toEqual([]);
  });

  test('a record changed through its primary key is consistent in every index', async () => {
    const { db, table } = await loadedMembers();
    db.set(member(4, 2, 115, ['u', 0]));
    table.invalidateRecords([{ index: 'primaryKey', keys: [4] }]);
    expect(sorted(await table.getRecords({ index: 'byCity', keys: [1] }))).toEqual([1, 7, 10].map((id) => member(id)));
    expect(sorted(await table.getRecords({ index: 'byCity', keys: [2] }))).toEqual([
      member(2),
      member(4, 2, 115, ['u', 0]),
      member(5),
      member(8),
      member(11),
    ]);
    expect((await table.getRecords({ index: 'byJoined', ge: 100, lt: 200 })).map((m) => m.id)).toEqual([10, 11, 4]);
    expect(await table.getRecords({ index: 'byTeam', keys: [['u', 0]] })).toEqual([member(4, 2, 115, ['u', 0])]);
    expect(db.queries).toHaveLength(1);
  });

  test('loading the keys of a hash index caches those, and reads of other keys go to the database', async () => {
    const { db, table } = members();
    await table.load({ index: 'byCity', keys: [0] });
    db.queries.length = 0;
    expect(sorted(await table.getRecords({ index: 'byCity', keys: [0] }))).toEqual([0, 3, 6, 9].map((id) => member(id)));
    expect(db.queries).toEqual([]);
    await table.getRecords({ index: 'byCity', keys: [1] });
    await table.getRecords({ index: 'primaryKey', keys: [0] });
    expect(db.queries).toHaveLength(2);
  });

  test('adjusting the keys of a hash index loads only the keys that enter', async () => {
    const { db, table } = members();
    await table.load({ index: 'byCity', keys: [0, 1] });
    db.queries.length = 0;
    await table.adjust({ index: 'byCity', keys: [1, 2] });
    expect(db.queries.map((q) => q.sql)).toEqual(['select where city in 2']);
    db.queries.length = 0;
    expect(sorted(await table.getRecords({ index: 'byCity', keys: [1, 2] }))).toHaveLength(8);
    expect(db.queries).toEqual([]);
  });

  test('adjusting from everything to a window of a range index keeps only the window', async () => {
    const { db, table } = await loadedMembers();
    await table.adjust({ index: 'byJoined', ge: 30, lt: 60 });
    expect(db.queries).toEqual([]);
    expect(await table.getRecords({ index: 'byJoined', ge: 30, lt: 60 })).toEqual([3, 4, 5].map((id) => member(id)));
    await table.getRecords({ index: 'byCity', keys: [0] });
    expect(db.queries).toHaveLength(1);
  });

  test('a record that changes city is refreshed for readers of either city', async () => {
    const { db, table } = await loadedMembers();
    db.set(member(3, 1));
    table.invalidateRecords([{ index: 'primaryKey', keys: [3] }]);
    expect((await table.getRecords({ index: 'byCity', keys: [0] })).map((m) => m.id).sort((a, b) => a - b)).toEqual([0, 6, 9]);
  });

  test('keys of one hash index invalidated apart are refreshed with one query', async () => {
    const { db, table } = await loadedMembers();
    table.invalidateRecords([{ index: 'byCity', keys: [1] }]);
    table.invalidateRecords([{ index: 'byCity', keys: [2, 1] }]);
    await table.refreshInvalid();
    expect(db.queries.map((q) => q.sql)).toEqual(['select where city in 1,2']);
  });

  test('hash keys beyond maxKeysPerQuery are refreshed in several queries', async () => {
    const db = new MemoryDatabase<Member>((m) => m.id);
    for (let id = 0; id < 12; id++) db.set(member(id));
    const indexes = new NamedIndexes({
      primaryKey: (m: Member) => m.id,
      hash: { byCity: { key: (m: Member) => m.city, query: (cities) => db.where(`city in ${cities}`, (m) => cities.includes(m.city)) } },
    });
    const table = new CachedTable(indexes, db, new MapStorageTable(indexes), { maxKeysPerQuery: 2 });
    await table.load({ index: 'byCity', keys: [0, 1, 2] });
    db.queries.length = 0;
    table.invalidateRecords([{ index: 'byCity', keys: [0, 1, 2] }]);
    await table.refreshInvalid();
    expect(db.queries.map((q) => q.sql)).toEqual(['select where city in 0,1', 'select where city in 2']);
  });

  test('a record a running refresh brings in is stale for every index when its hash key was invalidated meanwhile', async () => {
    const { db, table } = await loadedMembers();
    db.set(member(20, 7)); // the only member of city 7
    table.invalidateRecords([], [{ index: 'primaryKey', keys: [20] }]);
    const gate = db.pause();
    const refreshing = table.refreshInvalid();
    await gate.reached; // the refresh has read member 20
    db.delete(20);
    table.invalidateRecords([{ index: 'byCity', keys: [7] }], []); // what city 7 held is gone, nothing enters
    gate.release();
    await refreshing;
    expect(table.peek(20)).toBeUndefined();
    expect(await table.getRecords({ index: 'primaryKey', keys: [20] })).toEqual([]);
  });

  test('a record a load brings in is stale for every index when its hash key was invalidated during the load', async () => {
    const { db, table } = members();
    db.set(member(20, 7));
    const gate = db.pause();
    const loading = table.load({ index: 'primaryKey', all: true });
    await gate.reached;
    db.delete(20);
    table.invalidateRecords([{ index: 'byCity', keys: [7] }], []);
    gate.release();
    await loading;
    expect(table.peek(20)).toBeUndefined();
    expect(await table.getRecords({ index: 'primaryKey', keys: [20] })).toEqual([]);
  });

  test('a record an adjust brings in is stale for every index when its hash key was invalidated during the adjust', async () => {
    const { db, table } = members();
    db.set(member(20, 7));
    await table.load({ index: 'byCity', keys: [1] });
    const gate = db.pause();
    const adjusting = table.adjust({ index: 'byCity', keys: [1, 7] });
    await gate.reached;
    db.delete(20);
    table.invalidateRecords([{ index: 'byCity', keys: [7] }], []);
    gate.release();
    await adjusting;
    expect(table.peek(20)).toBeUndefined();
    expect(await table.getRecords({ index: 'byCity', keys: [7] })).toEqual([]);
  });

  test('a record a running refresh replaces is not deleted by a later invalidation that saw its old version', async () => {
    const { db, table } = await loadedMembers();
    db.set(member(7, 2)); // 7 moves from city 1 to city 2, announced by primary key
    table.invalidateRecords([{ index: 'primaryKey', keys: [7] }]);
    const gate = db.pause();
    const refreshing = table.refreshInvalid();
    await gate.reached; // the refresh has read 7 in city 2
    // Meanwhile 4 changes in city 1, announced through the city index. Storage still holds
    // 7's old version in city 1, which this invalidation finds stale too.
    db.set(member(4, 1, 45));
    table.invalidateRecords([{ index: 'byCity', keys: [1] }]);
    gate.release();
    await refreshing; // stores 7 in city 2
    await table.refreshInvalid(); // reloads city 1, which 7 has left
    expect(await table.getRecords({ index: 'primaryKey', keys: [7] })).toEqual([member(7, 2)]);
    expect(sorted(await table.getRecords({ index: 'byCity', keys: [2] }))).toEqual([2, 5, 7, 8, 11].map((id) => member(id, 2)));
  });

  test('a hash index read with a range spec, or a range index with keys, is refused', async () => {
    const { table } = await loadedMembers();
    await expect(table.getRecords({ index: 'byCity', ge: 1, lt: 2 } as never)).rejects.toThrow(MalformedSpecError);
    await expect(table.getRecords({ index: 'byJoined', keys: [1] } as never)).rejects.toThrow(MalformedSpecError);
  });

  test('specs are typed per index', () => {
    const { table } = members();
    expectTypeOf(table.getRecords)
      .parameter(0)
      .toEqualTypeOf<
        | { readonly index: 'primaryKey'; readonly all: true }
        | { readonly index: 'primaryKey'; readonly keys: readonly number[] }
        | { readonly index: 'byCity'; readonly keys: readonly number[] }
        | { readonly index: 'byTeam'; readonly keys: readonly (readonly [string, number])[] }
        | { readonly index: 'byJoined'; readonly ge: number; readonly lt: number }
      >();
    // @ts-expect-error: cities are numbers
    void (() => table.getRecords({ index: 'byCity', keys: ['x'] }));
    // @ts-expect-error: byJoined is read by ge and lt
    void (() => table.getRecords({ index: 'byJoined', keys: [1] }));
  });
});
