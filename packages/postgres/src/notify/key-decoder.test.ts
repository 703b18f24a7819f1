import { describe, expect, test } from 'vitest';
import { keyDecoder } from './key-decoder.js';
import { PayloadError } from './payload.js';

const keyColumns = [
  { name: 'id', typeId: 23 },
  { name: 'org', typeId: 25 },
];

describe('a key decoder from a value parser', () => {
  const decode = keyDecoder((text, typeId) => (typeId === 23 ? Number(text) : text));

  test('decodes each value by its column’s type', () => {
    expect(
      decode(keyColumns, [
        ['1', 'a'],
        ['2', 'b'],
      ]),
    ).toEqual([
      [1, 'a'],
      [2, 'b'],
    ]);
  });

  test('refuses a key with another number of values than key columns', () => {
    expect(() => decode(keyColumns, [['1']])).toThrow(PayloadError);
  });
});
