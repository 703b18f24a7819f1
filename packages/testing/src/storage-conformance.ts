import {
  hashKey,
  Interval,
  InvalidKeyError,
  type StorageIndexDefinition,
  type StorageLayout,
  type StorageTable,
  TablecacheError,
  UndefinedKeyError,
  UnknownIndexError,
} from '@tablecache/core';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';

/** The record every conformance test stores: a primary key, a hash, a unique and a range index. */
export interface Item {
  readonly id: number;
  readonly group: string;
  readonly email: string;
  readonly rank: number;
}

export const itemLayout: StorageLayout<Item> = {
  primaryKey: (item) => item.id,
  storageIndexes: {
    group: { kind: 'hash', key: (item) => item.group },
    email: { kind: 'unique', key: (item) => item.email },
    rank: { kind: 'range', key: (item) => item.rank },
  },
};

const item = (id: number, group = 'a', email = `${id}@example.com`, rank = id): Item => ({ id, group, email, rank });
const ranked = (id: number, rank: number): Item => item(id, 'a', `${id}@example.com`, rank);
const between = (ge: number, lt: number) => ({ kind: 'range' as const, index: 'rank', intervals: [new Interval(ge, lt)] });

export type StorageFactory = <R>(layout: StorageLayout<R>) => StorageTable<R>;

/**
 * The behaviour every `StorageTable` must have. A storage package calls this from its own test
 * file with a factory for its table.
 */
export function describeStorageTableConformance(name: string, create: StorageFactory): void {
  describe(`${name} conforms to StorageTable`, () => {
    const fresh = (...items: Item[]) => {
      const table = create(itemLayout);
      for (const i of items) table.put(i);
      return table;
    };

    test('a record put is found by its primary key', () => {
      const table = fresh(item(1));
      expect(table.get(1)).toEqual(item(1));
      expect(table.size).toBe(1);
    });

    test('an absent primary key finds nothing', () => {
      expect(fresh(item(1)).get(2)).toBeUndefined();
    });

    test('putting a record with a stored primary key replaces it', () => {
      const table = fresh(item(1, 'a'), item(1, 'b'));
      expect(table.get(1)).toEqual(item(1, 'b'));
      expect(table.size).toBe(1);
    });

    test('put says whether a record was already held under the primary key', () => {
      const table = fresh();
      expect(table.put(item(1, 'a'))).toBe(false);
      expect(table.put(item(2, 'a'))).toBe(false);
      expect(table.put(item(1, 'b'))).toBe(true);
    });

    test('replacing a record moves it between hash index keys', () => {
      const table = fresh(item(1, 'a'), item(1, 'b'));
      expect(table.getRecords({ kind: 'keys', index: 'group', keys: ['a'] })).toEqual([]);
      expect(table.getRecords({ kind: 'keys', index: 'group', keys: ['b'] })).toEqual([item(1, 'b')]);
    });

    test('reading by primary keys gives records in key order, each once, skipping absent keys', () => {
      const table = fresh(item(1), item(2), item(3));
      expect(table.getRecords({ kind: 'keys', index: 'primaryKey', keys: [3, 9, 1, 3] })).toEqual([item(3), item(1)]);
    });

    test('reading a hash index key gives every record under it', () => {
      const table = fresh(item(1, 'a'), item(2, 'b'), item(3, 'a'));
      const records = table.getRecords({ kind: 'keys', index: 'group', keys: ['a'] });
      expect(records.map((r) => r.id).sort()).toEqual([1, 3]);
    });

    test('reading a unique index key gives its record', () => {
      const table = fresh(item(1), item(2));
      expect(table.getRecords({ kind: 'keys', index: 'email', keys: ['2@example.com'] })).toEqual([item(2)]);
    });

    test('reading all gives every record, and a filter selects among them', () => {
      const table = fresh(item(1, 'a'), item(2, 'b'), item(3, 'a'));
      expect(
        table
          .getRecords({ kind: 'all' })
          .map((r) => r.id)
          .sort(),
      ).toEqual([1, 2, 3]);
      expect(table.getRecords({ kind: 'all', filter: (r) => r.group === 'b' })).toEqual([item(2, 'b')]);
    });

    test('a filter also applies to reads by key', () => {
      const table = fresh(item(1, 'a'), item(2, 'b'));
      expect(table.getRecords({ kind: 'keys', index: 'primaryKey', keys: [1, 2], filter: (r) => r.id > 1 })).toEqual([item(2, 'b')]);
    });

    test('reading a range gives the records with ge <= score < lt, in score order', () => {
      const table = fresh(ranked(1, 30), ranked(2, 10), ranked(3, 20), ranked(4, 40));
      expect(table.getRecords(between(10, 40)).map((r) => r.id)).toEqual([2, 3, 1]);
    });

    test('records with equal scores all come back, ordered by primary key', () => {
      const table = fresh(ranked(3, 5), ranked(1, 5), ranked(2, 5));
      expect(table.getRecords(between(5, 6)).map((r) => r.id)).toEqual([1, 2, 3]);
    });

    test('overlapping intervals give each record once', () => {
      const table = fresh(ranked(1, 1), ranked(2, 2), ranked(3, 3));
      const spec = { kind: 'range' as const, index: 'rank', intervals: [new Interval(1, 3), new Interval(2, 4)] };
      expect(table.getRecords(spec).map((r) => r.id)).toEqual([1, 2, 3]);
    });

    test('replacing a record moves it to its new score', () => {
      const table = fresh(ranked(1, 10), ranked(1, 50));
      expect(table.getRecords(between(0, 20))).toEqual([]);
      expect(table.getRecords(between(40, 60))).toEqual([ranked(1, 50)]);
    });

    test('Date and tuple scores compare by time and element by element', () => {
      const byDate = create<{ id: number; at: Date }>({
        primaryKey: (r) => r.id,
        storageIndexes: { at: { kind: 'range', key: (r) => r.at } },
      });
      byDate.put({ id: 1, at: new Date(2000) });
      byDate.put({ id: 2, at: new Date(1000) });
      expect(
        byDate.getRecords({ kind: 'range', index: 'at', intervals: [new Interval(new Date(0), new Date(1500))] }).map((r) => r.id),
      ).toEqual([2]);
      const byTuple = create<{ id: number; device: string; t: number }>({
        primaryKey: (r) => r.id,
        storageIndexes: { deviceTime: { kind: 'range', key: (r) => [r.device, r.t] } },
      });
      for (const [id, device, t] of [
        [1, 'a', 5],
        [2, 'b', 1],
        [3, 'a', 1],
        [4, 'a', 9],
      ] as const)
        byTuple.put({ id, device, t });
      const aFrom1To6 = { kind: 'range' as const, index: 'deviceTime', intervals: [new Interval(['a', 1], ['a', 6])] };
      expect(byTuple.getRecords(aFrom1To6).map((r) => r.id)).toEqual([3, 1]);
    });

    test('a range index is read by intervals and a hash index by keys, not the other way round', () => {
      const table = fresh(item(1));
      expect(() => table.getRecords({ kind: 'keys', index: 'rank', keys: [1] })).toThrow(TablecacheError);
      expect(() => table.getRecords({ kind: 'range', index: 'group', intervals: [new Interval('a', 'b')] })).toThrow(TablecacheError);
    });

    test('reading an index the layout does not have throws UnknownIndexError', () => {
      expect(() => fresh().getRecords({ kind: 'keys', index: 'nope', keys: [1] })).toThrow(UnknownIndexError);
    });

    test('what a read returned does not change with later writes', () => {
      const table = fresh(item(1));
      const records = table.getRecords({ kind: 'all' });
      table.put(item(2));
      table.clear();
      expect(records).toEqual([item(1)]);
    });

    test('tuple and Date primary keys match equal values held in other objects', () => {
      const table = create<{ key: [string, Date]; value: number }>({ primaryKey: (r) => r.key, storageIndexes: {} });
      table.put({ key: ['x', new Date(1000)], value: 1 });
      expect(table.get(['x', new Date(1000)])).toEqual({ key: ['x', new Date(1000)], value: 1 });
      expect(table.get(['x', new Date(1001)])).toBeUndefined();
    });

    test('a record whose primary key is undefined is refused with UndefinedKeyError and nothing is stored', () => {
      const table = fresh();
      expect(() => table.put({ group: 'a', email: 'x' } as unknown as Item)).toThrow(UndefinedKeyError);
      expect(table.size).toBe(0);
    });

    test('a record whose index key is invalid is refused and the stored record stays', () => {
      const table = fresh(item(1));
      expect(() => table.put({ id: 1, group: Number.NaN, email: 'x' } as unknown as Item)).toThrow(InvalidKeyError);
      expect(table.get(1)).toEqual(item(1));
      expect(table.getRecords({ kind: 'keys', index: 'group', keys: ['a'] })).toEqual([item(1)]);
    });

    test('clear empties the records and every index', () => {
      const table = fresh(item(1), item(2));
      table.clear();
      expect(table.size).toBe(0);
      expect(table.getRecords({ kind: 'keys', index: 'group', keys: ['a'] })).toEqual([]);
    });

    test('writes to a scratch space are invisible until it commits', () => {
      const table = fresh(item(1));
      const scratch = table.scratch();
      scratch.put(item(2));
      scratch.delete(1);
      expect(table.getRecords({ kind: 'all' })).toEqual([item(1)]);
      scratch.commit();
      expect(table.getRecords({ kind: 'all' })).toEqual([item(2)]);
    });

    test('a scratch space applies puts and deletes of one key in call order', () => {
      const table = fresh(item(1), item(2));
      const scratch = table.scratch();
      scratch.delete(1);
      scratch.put(item(1, 'b'));
      scratch.put(item(2, 'b'));
      scratch.delete(2);
      scratch.commit();
      expect(table.getRecords({ kind: 'all' })).toEqual([item(1, 'b')]);
      expect(table.getRecords({ kind: 'keys', index: 'group', keys: ['a'] })).toEqual([]);
    });

    test('clearing a scratch space drops what is stored on commit and keeps what is put after', () => {
      const table = fresh(item(1), item(2));
      const scratch = table.scratch();
      scratch.put(item(3));
      scratch.clear();
      scratch.put(item(4));
      expect(table.size).toBe(2);
      scratch.commit();
      expect(table.getRecords({ kind: 'all' })).toEqual([item(4)]);
    });

    test('a scratch space refuses a record with a bad index key when it is put, so its commit applies everything', () => {
      const table = fresh(item(1), item(2));
      const scratch = table.scratch();
      scratch.delete(1);
      expect(() => scratch.put({ id: 3, group: undefined, email: 'x', rank: 3 } as unknown as Item)).toThrow(UndefinedKeyError);
      scratch.put(item(4));
      scratch.commit();
      expect(
        table
          .getRecords({ kind: 'all' })
          .map((r) => r.id)
          .sort(),
      ).toEqual([2, 4]);
    });

    test('a scratch space says whether it already holds a record put under the primary key, since made or cleared', () => {
      const scratch = fresh(item(1)).scratch();
      expect(scratch.put(item(1, 'b'))).toBe(false); // stored before, not put in this scratch space
      expect(scratch.put(item(1, 'c'))).toBe(true);
      scratch.delete(1);
      expect(scratch.put(item(1, 'd'))).toBe(false);
      scratch.clear();
      expect(scratch.put(item(1, 'e'))).toBe(false);
    });

    test('a scratch space commits only once', () => {
      const scratch = fresh().scratch();
      scratch.commit();
      expect(() => scratch.commit()).toThrow(TablecacheError);
    });

    test('a scratch space that never commits changes nothing', () => {
      const table = fresh(item(1));
      table.scratch().delete(1);
      expect(table.get(1)).toEqual(item(1));
    });

    test('any sequence of writes leaves every index agreeing with a model', () => {
      const write = fc.oneof(
        fc.record({
          op: fc.constant('put' as const),
          id: fc.integer({ min: 0, max: 9 }),
          group: fc.constantFrom('a', 'b', 'c'),
          rank: fc.integer({ min: 0, max: 20 }),
        }),
        fc.record({ op: fc.constant('delete' as const), id: fc.integer({ min: 0, max: 9 }) }),
        fc.record({ op: fc.constant('clear' as const) }),
      );
      const batch = fc.record({ scratch: fc.boolean(), writes: fc.array(write, { maxLength: 12 }) });
      fc.assert(
        fc.property(fc.array(batch, { maxLength: 8 }), (batches) => {
          const table = create(itemLayout);
          const model = new Map<number, Item>();
          for (const { scratch, writes } of batches) {
            const target = scratch ? table.scratch() : undefined;
            for (const w of writes) {
              if (w.op === 'put') {
                const record = item(w.id, w.group, `${w.id}@example.com`, w.rank);
                model.set(w.id, record);
                (target ?? table).put(record);
              } else if (w.op === 'delete') {
                model.delete(w.id);
                // Storage deletes only through a scratch space; outside a batch, through one of its own.
                const deleter = target ?? table.scratch();
                deleter.delete(w.id);
                if (target === undefined) deleter.commit();
              } else {
                model.clear();
                (target ?? table).clear();
              }
            }
            target?.commit();
          }
          const byId = (a: Item, b: Item) => a.id - b.id;
          expect(table.getRecords({ kind: 'all' }).sort(byId)).toEqual([...model.values()].sort(byId));
          for (const group of ['a', 'b', 'c']) {
            expect(table.getRecords({ kind: 'keys', index: 'group', keys: [group] }).sort(byId)).toEqual(
              [...model.values()].filter((r) => r.group === group).sort(byId),
            );
          }
          for (const id of Array.from({ length: 10 }, (_, i) => i)) {
            expect(table.get(id)).toEqual(model.get(id));
            expect(table.getRecords({ kind: 'keys', index: 'email', keys: [`${id}@example.com`] })).toEqual(
              model.has(id) ? [model.get(id)] : [],
            );
          }
          for (const [ge, lt] of [
            [0, 21],
            [3, 9],
            [10, 11],
          ] as const) {
            const expected = [...model.values()].filter((r) => r.rank >= ge && r.rank < lt).sort((a, b) => a.rank - b.rank || a.id - b.id);
            expect(table.getRecords(between(ge, lt))).toEqual(expected);
          }
          expect(table.size).toBe(model.size);
          expect(new Set(table.getRecords({ kind: 'all' }).map((r) => hashKey(r.id))).size).toBe(model.size);
        }),
      );
    });

    // Optional in the contract: only a storage that has it is held to it (shared memory has not).
    if (create(itemLayout).addIndex === undefined) return;
    describe('addIndex', () => {
      const byRankParity: StorageIndexDefinition<Item> = { kind: 'hash', key: (i) => (i.rank % 2 === 0 ? 'even' : 'odd') };
      const addIndex = (table: StorageTable<Item>, name: string, definition = byRankParity) => table.addIndex?.(name, definition);

      test('an added index finds the records stored before it was added', () => {
        const table = fresh(item(1), item(2), item(3));
        addIndex(table, 'parity');
        expect(
          table
            .getRecords({ kind: 'keys', index: 'parity', keys: ['odd'] })
            .map((r) => r.id)
            .sort(),
        ).toEqual([1, 3]);
      });

      test('an added index follows later puts, replacements, deletes and clears', () => {
        const table = fresh(item(1), item(2));
        addIndex(table, 'parity');
        table.put(item(3));
        table.put(ranked(2, 5));
        const scratch = table.scratch();
        scratch.delete(1);
        scratch.commit();
        expect(
          table
            .getRecords({ kind: 'keys', index: 'parity', keys: ['odd'] })
            .map((r) => r.id)
            .sort(),
        ).toEqual([2, 3]);
        expect(table.getRecords({ kind: 'keys', index: 'parity', keys: ['even'] })).toEqual([]);
        table.clear();
        expect(table.getRecords({ kind: 'keys', index: 'parity', keys: ['odd'] })).toEqual([]);
      });

      test('adding an index under a name the table has throws and keeps the index there', () => {
        const table = fresh(item(1, 'a'));
        expect(() => addIndex(table, 'group')).toThrow(TablecacheError);
        expect(() => addIndex(table, 'primaryKey')).toThrow(TablecacheError);
        expect(table.getRecords({ kind: 'keys', index: 'group', keys: ['a'] })).toEqual([item(1, 'a')]);
      });

      test('an index whose key is invalid for a stored record is refused and not added', () => {
        const table = fresh(item(1));
        expect(() => addIndex(table, 'bad', { kind: 'hash', key: () => Number.NaN as unknown as string })).toThrow(InvalidKeyError);
        expect(() => table.getRecords({ kind: 'keys', index: 'bad', keys: ['x'] })).toThrow(UnknownIndexError);
      });
    });
  });
}
