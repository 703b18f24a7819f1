import { describe, expect, test } from 'vitest';
import { PayloadError, parsePayload } from './payload.js';

const parse = (value: unknown) => parsePayload(JSON.stringify(value), (text, typeId) => (typeId === 23 ? Number(text) : text));
const header = { v: 1, op: 'update', schema: 'public', table: 'users', columns: ['id', 'org'], types: [23, 25] };

describe('reading NOTIFY payloads', () => {
  test('kept keys of an update become changes with the same old and new key', () => {
    expect(parse({ ...header, keys: [['1', 'a']] })).toEqual({
      kind: 'changes',
      changes: [{ op: 'update', schema: 'public', table: 'users', old: { id: 1, org: 'a' }, new: { id: 1, org: 'a' } }],
    });
  });

  test('old and new key lists become changes with only that side', () => {
    expect(parse({ ...header, op: 'delete', old: [['2', 'b']] })).toEqual({
      kind: 'changes',
      changes: [{ op: 'delete', schema: 'public', table: 'users', old: { id: 2, org: 'b' } }],
    });
    expect(parse({ ...header, op: 'insert', new: [['3', 'c']] })).toEqual({
      kind: 'changes',
      changes: [{ op: 'insert', schema: 'public', table: 'users', new: { id: 3, org: 'c' } }],
    });
  });

  test('a truncate and an overflow become a change without rows', () => {
    expect(parse({ v: 1, op: 'truncate', schema: 's', table: 't' })).toEqual({
      kind: 'changes',
      changes: [{ op: 'truncate', schema: 's', table: 't' }],
    });
    expect(parse({ v: 1, op: 'insert', schema: 's', table: 't', overflow: true })).toEqual({
      kind: 'changes',
      changes: [{ op: 'insert', schema: 's', table: 't' }],
    });
  });

  test('a marker is read as a marker', () => {
    expect(parse({ v: 1, marker: 'abc:1' })).toEqual({ kind: 'marker', id: 'abc:1' });
  });

  test('a column named __proto__ is an ordinary key column', () => {
    const payload = parse({ ...header, columns: ['__proto__'], types: [25], keys: [['x']] });
    const change = payload.kind === 'changes' ? payload.changes[0] : undefined;
    expect(Object.getPrototypeOf(change?.old)).toBe(Object.prototype);
    expect(Object.keys(change?.old ?? {})).toEqual(['__proto__']);
  });

  test.each([
    ['text that is not JSON', 'hello'],
    ['another version', JSON.stringify({ ...header, v: 2, keys: [] })],
    ['an unknown op', JSON.stringify({ ...header, op: 'merge', keys: [] })],
    ['a missing table', JSON.stringify({ v: 1, op: 'insert', schema: 's', new: [] })],
    ['types that do not match the columns', JSON.stringify({ ...header, types: [23], keys: [] })],
    ['two key lists', JSON.stringify({ ...header, old: [], new: [] })],
    ['no key list', JSON.stringify(header)],
    ['a key of the wrong length', JSON.stringify({ ...header, keys: [['1']] })],
    ['a key value that is not text', JSON.stringify({ ...header, keys: [[1, 'a']] })],
    ['a null key value', JSON.stringify({ ...header, keys: [[null, 'a']] })],
    ['a JSON array', '[1,2]'],
  ])('%s is refused with PayloadError', (_, text) => {
    expect(() => parsePayload(text, (t) => t)).toThrow(PayloadError);
  });
});
