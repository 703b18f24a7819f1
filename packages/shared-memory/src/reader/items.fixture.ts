import { CachedTable, type Logger, NamedIndexes } from '@tablecache/core';
import { MemoryDatabase } from '@tablecache/core/testing';
import { SharedMemoryStorageTable } from '../shared-memory-storage-table.js';

/** What the reader tests cache: a primary key, a hash index by group and a range index by rank. */
export interface Item {
  readonly id: number;
  readonly group: string;
  readonly rank: number;
  readonly version: number;
}

export const item = (id: number, version = 1, group = id % 2 === 0 ? 'even' : 'odd', rank = id): Item => ({ id, group, rank, version });

export const quiet: Logger = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };

/** The indexes of an items table: built the same way by the owner and by every reader. */
export function itemIndexes(db: MemoryDatabase<Item>) {
  return new NamedIndexes({ primaryKey: (i: Item) => i.id, queryAll: db.queryAll, querySome: db.querySome })
    .withHashIndex('byGroup', { key: (i) => i.group, query: (groups) => db.where(`group in ${groups}`, (i) => groups.includes(i.group)) })
    .withRangeIndex('byRank', {
      score: (i) => i.rank,
      query: (ge, lt) => db.where(`rank in [${ge}, ${lt})`, (i) => i.rank >= ge && i.rank < lt),
    });
}

/** An owner's table of `count` items over shared-memory storage, not loaded yet. */
export function itemsOwner(count = 20) {
  const db = new MemoryDatabase<Item>((i) => i.id, { batchSize: 50 });
  for (let id = 1; id <= count; id++) db.set(item(id));
  const indexes = itemIndexes(db);
  const storage = new SharedMemoryStorageTable(indexes, { name: 'items' });
  const table = new CachedTable(indexes, db, storage, { logger: quiet });
  return { db, indexes, storage, table };
}
