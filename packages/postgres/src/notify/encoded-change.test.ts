import { describe, expect, test } from 'vitest';
import { keyDecoder, readNotification } from './encoded-change.js';
import { PayloadError } from './payload.js';

const read = (value: unknown) => readNotification(JSON.stringify(value));
const header = { v: 1, op: 'update', schema: 'public', table: 'users', columns: ['id', 'org'], types: [23, 25] };
const keyColumns = [
  { name: 'id', typeId: 23 },
  { name: 'org', typeId: 25 },
];

describe('reading notifications into encoded changes', () => {
  test('kept keys of an update keep their text, with the key columns and their types', () => {
    expect(read({ ...header, keys: [['1', 'a']] })).toEqual({
      kind: 'changes',
      changes: [{ op: 'update', schema: 'public', table: 'users', keyColumns, old: ['1', 'a'], new: ['1', 'a'] }],
    });
  });

  test('old and new key lists become changes with only that side', () => {
    expect(read({ ...header, op: 'delete', old: [['2', 'b']] })).toEqual({
      kind: 'changes',
      changes: [{ op: 'delete', schema: 'public', table: 'users', keyColumns, old: ['2', 'b'] }],
    });
    expect(read({ ...header, op: 'insert', new: [['3', 'c']] })).toEqual({
      kind: 'changes',
      changes: [{ op: 'insert', schema: 'public', table: 'users', keyColumns, new: ['3', 'c'] }],
    });
  });

  test('a truncate and an overflow become changes without key columns or keys', () => {
    expect(read({ v: 1, op: 'truncate', schema: 's', table: 't' })).toEqual({
      kind: 'changes',
      changes: [{ op: 'truncate', schema: 's', table: 't', keyColumns: [] }],
    });
    expect(read({ ...header, overflow: true })).toEqual({
      kind: 'changes',
      changes: [{ op: 'update', schema: 'public', table: 'users', keyColumns: [] }],
    });
  });

  test('each text stays with its column, whatever the column names', () => {
    const notification = read({ ...header, columns: ['z', '1', '__proto__'], types: [25, 23, 25], new: [['zz', '11', 'pp']] });
    if (notification.kind !== 'changes') throw new Error('expected changes');
    const [change] = notification.changes;
    const byName = Object.fromEntries(change!.keyColumns.map((column, i) => [column.name, change!.new![i]]));
    expect(byName).toEqual({ z: 'zz', 1: '11', ['__proto__']: 'pp' });
  });

  test('a marker passes through', () => {
    expect(read({ v: 1, marker: 'feed:1' })).toEqual({ kind: 'marker', id: 'feed:1' });
  });

  test('a payload that is not tablecache’s throws PayloadError', () => {
    expect(() => readNotification('garbage')).toThrow(PayloadError);
  });
});

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
