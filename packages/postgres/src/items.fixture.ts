// Test support: the items table most Postgres tests cache. Not part of the build.
import { CachedTable, type CachedTableOptions, type Change, type DbAccess, PrimaryKeyIndexes } from '@tablecache/core';
import { LocalStorageTable } from '@tablecache/local';

export interface Item {
  readonly id: number;
  readonly label: string;
}

/**
 * Items read by `id` from `from` (a relation with `id` and `label`); `label` is the SQL the
 * label is read with (a slow function of it, say).
 */
export function itemIndexes(from = 'items', label = 'label') {
  const select = `SELECT id, ${label} AS label FROM ${from}`;
  return new PrimaryKeyIndexes<Item, number>({
    primaryKey: (item) => item.id,
    queryAll: { sql: `${select} ORDER BY id` },
    querySome: (ids) => ({ sql: `${select} WHERE id = ANY($1::int[]) ORDER BY id`, parameters: [ids] }),
  });
}

/** A cached table of items over `access`, not loaded. */
export function itemTable(access: DbAccess, options: { readonly from?: string; readonly label?: string } & CachedTableOptions = {}) {
  const { from = 'items', label, ...tableOptions } = options;
  const indexes = itemIndexes(from, label);
  return new CachedTable(indexes, access, new LocalStorageTable(indexes, { name: from }), tableOptions);
}

/** A mapping for tables keyed by `id`: a change names its old and new id. */
export const byId = (change: Change) => [
  {
    index: 'primaryKey' as const,
    keys: [...new Set([change.old?.id, change.new?.id].filter((id): id is number => typeof id === 'number'))],
  },
];
