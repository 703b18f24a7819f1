import { describe, expect, test } from 'vitest';
import type { RelationMessage } from './pgoutput.js';
import { UNCHANGED_TOAST } from './pgoutput.js';
import { RelationChanges } from './relation-changes.js';

const items: RelationMessage = {
  tag: 'relation',
  relationId: 7,
  schema: 'public',
  name: 'items',
  replicaIdentity: 'default',
  columns: [
    { name: 'id', typeId: 23, typeMod: -1, isKey: true },
    { name: 'label', typeId: 25, typeMod: -1, isKey: false },
  ],
};
const key = { schema: 'public', table: 'items', keyColumns: [{ name: 'id', typeId: 23 }] };

describe('changes from pgoutput rows', () => {
  test('a change to a relation the stream never described cannot be read', () => {
    expect(new RelationChanges().change({ tag: 'delete', relationId: 7, key: ['1', null] })).toBeUndefined();
  });

  test('a relation described again the same is the same; described differently, it changed', () => {
    const relations = new RelationChanges();
    expect(relations.describe(items)).toBe('new');
    expect(relations.describe(items)).toBe('same');
    const widened = { ...items, columns: [...items.columns, { name: 'extra', typeId: 25, typeMod: -1, isKey: false }] };
    expect(relations.describe(widened)).toBe('changed');
  });

  test('an update without a key tuple kept its key; with one, the key tuple is the old key', () => {
    const relations = new RelationChanges();
    relations.describe(items);
    expect(relations.change({ tag: 'update', relationId: 7, new: ['1', 'a'] })).toEqual({ op: 'update', ...key, old: ['1'], new: ['1'] });
    expect(relations.change({ tag: 'update', relationId: 7, key: ['1', null], new: ['2', 'a'] })).toEqual({
      op: 'update',
      ...key,
      old: ['1'],
      new: ['2'],
    });
  });

  test('a key that is NULL or was not sent names no row: the change is of the whole table', () => {
    const relations = new RelationChanges();
    relations.describe(items);
    expect(relations.change({ tag: 'insert', relationId: 7, new: [null, 'a'] })).toEqual({ op: 'insert', ...key });
    expect(relations.change({ tag: 'update', relationId: 7, new: [UNCHANGED_TOAST, 'a'] })).toEqual({ op: 'update', ...key });
    expect(relations.change({ tag: 'delete', relationId: 7 })).toEqual({ op: 'delete', ...key });
  });

  test('a truncate of a described relation is the whole table; of another, unreadable', () => {
    const relations = new RelationChanges();
    relations.describe(items);
    expect(relations.truncated(7)).toEqual({ op: 'truncate', schema: 'public', table: 'items', keyColumns: [] });
    expect(relations.truncated(8)).toBeUndefined();
  });
});
