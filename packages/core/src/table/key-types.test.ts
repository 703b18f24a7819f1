import { describe, expect, test } from 'vitest';
import { KeyTypeError } from '../errors/errors.js';
import { NamedIndexes } from '../indexes/named-indexes.js';
import { PrimaryKeyIndexes } from '../indexes/primary-key-indexes.js';
import type { Key } from '../key/key.js';
import { MapStorageTable, MemoryDatabase } from '../testing/index.js';
import { CachedTable } from './cached-table.js';
import { all, keys, usersTable } from './users.fixture.js';

async function loadedUsers() {
  const { db, table } = usersTable();
  await table.load(all);
  db.queries.length = 0;
  return { db, table };
}

/** A loaded table of one row per key, keyed by `key`. */
async function keyedBy<K extends Key>(...rowKeys: K[]) {
  const db = new MemoryDatabase<{ key: K }>((row) => row.key);
  db.set(...rowKeys.map((key) => ({ key })));
  const indexes = new PrimaryKeyIndexes<{ key: K }, K>({ primaryKey: (row) => row.key, queryAll: db.queryAll, querySome: db.querySome });
  const table = new CachedTable(indexes, db, new MapStorageTable(indexes));
  await table.load({ index: 'primaryKey', all: true });
  return table;
}

describe('keys of another type than the table keys', () => {
  test('a read by a string key where the keys are numbers is refused with KeyTypeError saying both types', async () => {
    const { table } = await loadedUsers();
    const read = table.getRecords({ index: 'primaryKey', keys: ['1' as unknown as number] });
    await expect(read).rejects.toThrow(KeyTypeError);
    await expect(read).rejects.toThrow("index 'primaryKey' has keys of type number, this is string");
  });

  test('getFirstRecord, getRecordsSync and peek refuse it too', async () => {
    const { table } = await loadedUsers();
    const wrong = '2' as unknown as number;
    await expect(table.getFirstRecord(keys(wrong))).rejects.toThrow(KeyTypeError);
    expect(() => table.getRecordsSync(keys(wrong))).toThrow(KeyTypeError);
    expect(() => table.peek(wrong)).toThrow(KeyTypeError);
  });

  test('an invalidation by such a key is refused, so a deleted row cannot stay cached under the real key', async () => {
    const { db, table } = await loadedUsers();
    db.delete(1);
    expect(() => table.invalidateRecords([keys('1' as unknown as number)])).toThrow(KeyTypeError);
    table.invalidateRecords([keys(1)]);
    expect(await table.getRecords(keys(1))).toEqual([]);
  });

  test('a number where the keys are bigints is refused, since 1 and 1n never match', async () => {
    const table = await keyedBy<bigint>(1n, 2n);
    expect(table.peek(1n)).toEqual({ key: 1n });
    expect(() => table.peek(1 as unknown as bigint)).toThrow('has keys of type bigint, this is number');
  });

  test('tuple keys are checked element by element', async () => {
    const table = await keyedBy<readonly [string, number]>(['a', 1], ['b', 2]);
    expect(table.peek(['a', 1])).toEqual({ key: ['a', 1] });
    expect(() => table.peek(['a', '1'] as unknown as readonly [string, number])).toThrow('[string, number], this is [string, string]');
  });

  test('Date and byte keys match equal values held in other objects', async () => {
    const dates = await keyedBy<Date>(new Date('2024-01-02T03:04:05Z'));
    expect(dates.peek(new Date('2024-01-02T03:04:05Z'))).toBeDefined();
    expect(() => dates.peek('2024-01-02T03:04:05Z' as unknown as Date)).toThrow(KeyTypeError);
    const bytes = await keyedBy<Uint8Array>(new Uint8Array([1, 2]));
    expect(bytes.peek(Buffer.from([1, 2]))).toEqual({ key: new Uint8Array([1, 2]) });
  });

  test('a hash index refuses keys of another type than its own', async () => {
    const db = new MemoryDatabase<{ id: number; city: number }>((row) => row.id);
    db.set({ id: 1, city: 10 });
    const indexes = new NamedIndexes({
      primaryKey: (row: { id: number; city: number }) => row.id,
      queryAll: db.queryAll,
      hash: {
        byCity: {
          key: (row) => row.city,
          query: (cities: readonly number[]) => db.where(`city in ${cities}`, (row) => cities.includes(row.city)),
        },
      },
    });
    const table = new CachedTable(indexes, db, new MapStorageTable(indexes));
    await table.load({ index: 'primaryKey', all: true });
    expect(table.getRecordsSync({ index: 'byCity', keys: [10] })).toEqual([{ id: 1, city: 10 }]);
    expect(() => table.getRecordsSync({ index: 'byCity', keys: ['10' as unknown as number] })).toThrow(
      "index 'byCity' has keys of type number",
    );
  });

  test('a table that holds no record yet has no key type to check against', async () => {
    const table = await keyedBy<number>();
    expect(await table.getRecords({ index: 'primaryKey', keys: ['1' as unknown as number] })).toEqual([]);
  });
});
