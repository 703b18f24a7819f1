import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { UnstorableValueError } from '../errors.js';
import { SharedMemoryStorageTable } from '../shared-memory-storage-table.js';
import { SharedStorageView } from '../shared-storage-view.js';

/** Stores `value` as a record and reads it back, through the owner and through a view. */
function roundTrip(value: unknown): { owner: unknown; view: unknown } {
  const layout = { primaryKey: (r: { id: number; value: unknown }) => r.id, storageIndexes: {} };
  const table = new SharedMemoryStorageTable(layout, { initialBytes: 64 * 1024 });
  table.put({ id: 1, value });
  const view = SharedStorageView.open(table.handle(), layout);
  return {
    owner: (table.get(1) as { value: unknown }).value,
    view: (view.read((at) => at.get(1)) as { value: unknown }).value,
  };
}

const same = (value: unknown) => {
  const { owner, view } = roundTrip(value);
  expect(owner).toStrictEqual(value);
  expect(view).toStrictEqual(value);
};

describe('the record codec', () => {
  test('strings come back exactly, non-ASCII, long and lone surrogates included', () => {
    for (const value of ['', 'a', 'ÿé', '€uro', '\ud800', 'x\udfffy', '😀', 'a'.repeat(300), 'é'.repeat(1000), `${'ü'.repeat(40)}€`])
      same(value);
  });

  test('numbers stay numbers: integers of every width, floats, -0, NaN, ±Infinity, beyond 2^32', () => {
    for (const value of [
      0,
      1,
      127,
      128,
      -1,
      -128,
      -129,
      32767,
      -32768,
      2 ** 31 - 1,
      -(2 ** 31),
      2 ** 31,
      2 ** 32 + 1,
      2 ** 53,
      0.5,
      -0,
      Number.NaN,
      Infinity,
      -Infinity,
    ])
      same(value);
    expect(Object.is(roundTrip(-0).view, -0)).toBe(true);
  });

  test('bigints stay bigints, beyond 64 bits too', () => {
    for (const value of [0n, 1n, -1n, 2n ** 64n + 1n, -(2n ** 200n)]) same(value);
  });

  test('Dates keep their milliseconds; booleans, null and undefined come back', () => {
    same(new Date(1_700_000_000_123));
    same(new Date(Number.NaN));
    for (const value of [true, false, null, undefined]) same(value);
  });

  test('bytes come back as the class they were: Uint8Array or Buffer', () => {
    same(new Uint8Array([0, 1, 255]));
    const { view } = roundTrip(Buffer.from('hi'));
    expect(Buffer.isBuffer(view)).toBe(true);
    expect(view).toEqual(Buffer.from('hi'));
  });

  test('objects keep their property order, nested and with many or odd names', () => {
    const value = { b: 1, a: { z: [1, { y: 2 }], x: null }, ['__proto__']: 5, 'with space': 'x' };
    Object.defineProperty(value, '__proto__', { value: 5, enumerable: true });
    const { view } = roundTrip(value);
    expect(Object.keys(view as object)).toEqual(Object.keys(value));
    expect(view).toStrictEqual(value);
    const wide = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i]));
    same(wide);
  });

  test('what cannot come back exactly is refused with UnstorableValueError and nothing is stored', () => {
    const layout = { primaryKey: (r: { id: number; value: unknown }) => r.id, storageIndexes: {} };
    const table = new SharedMemoryStorageTable(layout);
    for (const value of [new Map(), new (class Point {})(), () => 1, Symbol('s'), new Uint16Array(2), new Array(3), Object.create(null)]) {
      expect(() => table.put({ id: 1, value })).toThrow(UnstorableValueError);
    }
    expect(table.size).toBe(0);
  });

  test('any JSON-ish value comes back exactly', () => {
    const leaf = fc.oneof(
      fc.string({ unit: 'binary' }),
      fc.string({ unit: 'grapheme' }),
      fc.double(),
      fc.integer(),
      fc.bigInt({ min: -(2n ** 100n), max: 2n ** 100n }),
      fc.boolean(),
      fc.constant(null),
      fc.date({ noInvalidDate: true }),
      fc.uint8Array({ maxLength: 8 }),
    );
    const value = fc.letrec((tie) => ({
      any: fc.oneof({ depthSize: 'small' }, leaf, tie('array'), tie('object')),
      array: fc.array(tie('any'), { maxLength: 5 }),
      object: fc.dictionary(fc.string({ maxLength: 6 }), tie('any'), { maxKeys: 5, noNullPrototype: true }),
    })).any;
    fc.assert(
      fc.property(value, (v) => {
        const { owner, view } = roundTrip(v);
        expect(owner).toStrictEqual(v);
        expect(view).toStrictEqual(v);
      }),
      { numRuns: 300 },
    );
  });
});
