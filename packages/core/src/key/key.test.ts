import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { InvalidKeyError, UndefinedKeyError } from '../errors/errors.js';
import { assertKey, compareKeys, hashKey, type Key } from './key.js';

const keyPart = fc.oneof(fc.string(), fc.integer(), fc.bigInt(), fc.boolean(), fc.date({ noInvalidDate: true }));
const key: fc.Arbitrary<Key> = fc.oneof(keyPart, fc.array(keyPart, { minLength: 1, maxLength: 4 }));

describe('keys', () => {
  test('equal keys held in different objects hash equal', () => {
    expect(hashKey(['a', 1, new Date(5)])).toBe(hashKey(['a', 1, new Date(5)]));
    expect(hashKey(new Date(5))).toBe(hashKey(new Date(5)));
  });

  test('keys that differ in type or value hash differently', () => {
    fc.assert(
      fc.property(key, key, (a, b) => {
        if (hashKey(a) === hashKey(b)) expect(compareKeys(a, b)).toBe(0);
      }),
    );
    expect(hashKey(['1'])).not.toBe(hashKey([1]));
    expect(hashKey([1n])).not.toBe(hashKey([1]));
    expect(hashKey([new Date(1)])).not.toBe(hashKey([1]));
  });

  test('tuples compare element by element, a shorter prefix first', () => {
    expect(compareKeys([1, 'b'], [1, 'a'])).toBeGreaterThan(0);
    expect(compareKeys([1, 'a'], [2, 'a'])).toBeLessThan(0);
    expect(compareKeys([1], [1, 'a'])).toBeLessThan(0);
    expect(compareKeys([new Date(1), 2], [new Date(1), 2])).toBe(0);
  });

  test('numbers and bigints compare by value', () => {
    expect(compareKeys(1, 2n)).toBeLessThan(0);
    expect(compareKeys(3n, 2)).toBeGreaterThan(0);
  });

  test('comparison is a total order on keys of one shape', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer(), fc.string()), { maxLength: 20 }), (tuples) => {
        const sorted = [...tuples].sort(compareKeys);
        for (let i = 1; i < sorted.length; i++) expect(compareKeys(sorted[i - 1]!, sorted[i]!)).toBeLessThanOrEqual(0);
      }),
    );
  });

  test.each([
    [undefined, UndefinedKeyError],
    [null, UndefinedKeyError],
    [Number.NaN, InvalidKeyError],
    [new Date(Number.NaN), InvalidKeyError],
    [{ id: 1 }, InvalidKeyError],
    [[], InvalidKeyError],
    [[1, undefined], InvalidKeyError],
    [[[1]], InvalidKeyError],
    [() => 1, InvalidKeyError],
  ])('%s is not a key', (value, error) => {
    expect(() => assertKey(value, 'a test')).toThrow(error);
  });

  test('the error says whose key was wrong', () => {
    expect(() => assertKey(undefined, 'keys[2] of the spec')).toThrow('keys[2] of the spec');
  });
});
