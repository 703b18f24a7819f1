import { InvalidOptionsError } from '@tablecache/core';
import { describe, expect, test } from 'vitest';
import { parseTableName } from './trigger-target.js';

describe('reading table names', () => {
  test.each([
    ['users', { schema: null, table: 'users' }],
    ['Mixed Case', { schema: null, table: 'Mixed Case' }],
    ['sales.Orders', { schema: 'sales', table: 'Orders' }],
    ['My Schema.Odd "Table" Name', { schema: 'My Schema', table: 'Odd "Table" Name' }],
  ])('a plain name is taken exactly as written: %s', (name, parsed) => {
    expect(parseTableName(name)).toEqual(parsed);
  });

  test.each([
    ['"Sales"."Order Items"', { schema: 'Sales', table: 'Order Items' }],
    ['"Sales".items', { schema: 'Sales', table: 'items' }],
    ['sales."Items"', { schema: 'sales', table: 'Items' }],
    ['"a.b"', { schema: null, table: 'a.b' }],
    ['"s.x"."a.b"', { schema: 's.x', table: 'a.b' }],
    ['"say ""hi"""', { schema: null, table: 'say "hi"' }],
  ])('a quoted part is read as SQL reads it: %s', (name, parsed) => {
    expect(parseTableName(name)).toEqual(parsed);
  });

  test('a name given as schema and table is taken as it is', () => {
    expect(parseTableName({ schema: 'a.b', table: '"c"' })).toEqual({ schema: 'a.b', table: '"c"' });
  });

  test.each([
    ['an empty name', ''],
    ['an empty schema', '.users'],
    ['an empty table', 'public.'],
    ['three parts', 'db.public.users'],
    ['an unclosed quote', '"Sales.items'],
    ['an empty quoted part', '"".items'],
    ['text after a quoted part', '"Sales"x.items'],
  ])('%s is refused with InvalidOptionsError', (_, name) => {
    expect(() => parseTableName(name)).toThrow(InvalidOptionsError);
  });
});
