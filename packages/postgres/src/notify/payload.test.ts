import { describe, expect, test } from 'vitest';
import { markerPayload, PayloadError, parsePayload } from './payload.js';

const parse = (value: unknown) => parsePayload(JSON.stringify(value));
const at = 1_700_000_000_123;
const header = { v: 2, op: 'update', schema: 'public', table: 'users', at, columns: ['id', 'org'], types: [23, 25] };
const keyColumns = [
  { name: 'id', typeId: 23 },
  { name: 'org', typeId: 25 },
];

describe('reading NOTIFY payloads', () => {
  test('kept keys of an update become changes with the same old and new key, as text', () => {
    expect(parse({ ...header, keys: [['1', 'a']] })).toEqual({
      kind: 'changes',
      changes: [{ op: 'update', schema: 'public', table: 'users', keyColumns, old: ['1', 'a'], new: ['1', 'a'] }],
      at,
    });
  });

  test('old and new key lists become changes with only that side', () => {
    expect(parse({ ...header, op: 'delete', old: [['2', 'b']] })).toEqual({
      kind: 'changes',
      changes: [{ op: 'delete', schema: 'public', table: 'users', keyColumns, old: ['2', 'b'] }],
      at,
    });
    expect(parse({ ...header, op: 'insert', new: [['3', 'c']] })).toEqual({
      kind: 'changes',
      changes: [{ op: 'insert', schema: 'public', table: 'users', keyColumns, new: ['3', 'c'] }],
      at,
    });
  });

  test('a truncate and an overflow become a change without rows', () => {
    expect(parse({ v: 2, op: 'truncate', schema: 's', table: 't', at })).toEqual({
      kind: 'changes',
      changes: [{ op: 'truncate', schema: 's', table: 't', keyColumns: [] }],
      at,
    });
    expect(parse({ ...header, op: 'insert', overflow: true })).toEqual({
      kind: 'changes',
      changes: [{ op: 'insert', schema: 'public', table: 'users', keyColumns }],
      at,
    });
  });

  test('a marker is read as a marker', () => {
    expect(parsePayload(markerPayload('abc:1'))).toEqual({ kind: 'marker', id: 'abc:1' });
  });

  test('a column named __proto__ is an ordinary key column', () => {
    const payload = parse({ ...header, columns: ['__proto__'], types: [25], keys: [['x']] });
    expect(payload.kind === 'changes' && payload.changes[0]?.keyColumns).toEqual([{ name: '__proto__', typeId: 25 }]);
  });

  test.each([
    ['text that is not JSON', 'hello'],
    ['a payload of version 1 (triggers of an older tablecache)', JSON.stringify({ ...header, v: 1, keys: [] })],
    ['a marker of version 1', JSON.stringify({ v: 1, marker: 'abc:1' })],
    ['an unknown op', JSON.stringify({ ...header, op: 'merge', keys: [] })],
    ['a missing table', JSON.stringify({ v: 2, op: 'insert', schema: 's', at, new: [] })],
    ['a missing time', JSON.stringify({ ...header, at: undefined, keys: [] })],
    ['a time that is not a number', JSON.stringify({ ...header, at: '2024-01-01', keys: [] })],
    ['types that do not match the columns', JSON.stringify({ ...header, types: [23], keys: [] })],
    ['a type that is not an oid', JSON.stringify({ ...header, types: [23, 'text'], keys: [] })],
    ['keys without columns', JSON.stringify({ ...header, columns: undefined, types: undefined, keys: [] })],
    ['two key lists', JSON.stringify({ ...header, old: [], new: [] })],
    ['no key list', JSON.stringify(header)],
    ['a truncate with keys', JSON.stringify({ ...header, op: 'truncate', keys: [] })],
    ['a key of the wrong length', JSON.stringify({ ...header, keys: [['1']] })],
    ['a key value that is not text', JSON.stringify({ ...header, keys: [[1, 'a']] })],
    ['a null key value', JSON.stringify({ ...header, keys: [[null, 'a']] })],
    ['a JSON array', '[1,2]'],
  ])('%s is refused with PayloadError', (_, text) => {
    expect(() => parsePayload(text)).toThrow(PayloadError);
  });
});
