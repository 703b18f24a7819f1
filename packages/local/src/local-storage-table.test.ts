import { InvalidOptionsError, PrimaryKeyIndexes } from '@tablecache/core';
import { describeStorageTableConformance } from '@tablecache/testing';
import { expect, test } from 'vitest';
import { LocalStorageTable } from './local-storage-table.js';

describeStorageTableConformance('LocalStorageTable', (layout) => new LocalStorageTable(layout));

test('an unknown option or a name that is not a string is refused with InvalidOptionsError', () => {
  const layout = new PrimaryKeyIndexes<{ id: number }, number>({
    primaryKey: (r) => r.id,
    queryAll: { sql: 'all' },
    querySome: () => ({ sql: 'some' }),
  });
  expect(() => new LocalStorageTable(layout, { rangeStructure: 'btree' } as never)).toThrow(/no option 'rangeStructure'/);
  expect(() => new LocalStorageTable(layout, { name: 3 } as never)).toThrow(InvalidOptionsError);
});
