import { InvalidOptionsError, type StorageIndexDefinition, type StorageLayout } from '@tablecache/core';
import { MAX_INDEXES } from './memory-layout.js';

/** A secondary index with where it sits: its place among all indexes, and among those of its kind. */
export interface PlacedIndex<R> {
  readonly name: string;
  readonly kind: 'unique' | 'hash' | 'range';
  readonly definition: StorageIndexDefinition<R>;
  /** Its place in the header's index words. */
  readonly position: number;
  /** Its place among hash and unique indexes (its words in a record), or among range indexes (its score in a record). */
  readonly kindPosition: number;
}

/** The layout's secondary indexes in the order `names` gives (the owner's order, which a handle carries). */
export function placeIndexes<R>(layout: StorageLayout<R>, names: readonly string[]): PlacedIndex<R>[] {
  if (names.length > MAX_INDEXES) throw new InvalidOptionsError(`shared-memory storage holds at most ${MAX_INDEXES} secondary indexes`);
  let hashes = 0;
  let ranges = 0;
  return names.map((name, position) => {
    const definition = layout.storageIndexes[name] as StorageIndexDefinition<R>;
    const kindPosition = definition.kind === 'range' ? ranges++ : hashes++;
    return { name, kind: definition.kind, definition, position, kindPosition };
  });
}
