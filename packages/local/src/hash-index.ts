import { assertKey, type HashKey, hashKey, type StorageIndexDefinition } from '@tablecache/core';

/**
 * A hash or unique index: index key → primary keys. A unique index is a hash index whose sets
 * hold one key; one structure for both keeps the write path single.
 */
export class HashIndex<R> {
  readonly kind = 'hash';
  readonly #name: string;
  readonly #definition: StorageIndexDefinition<R>;
  readonly #entries = new Map<HashKey, Set<HashKey>>();

  constructor(name: string, definition: StorageIndexDefinition<R>) {
    this.#name = name;
    this.#definition = definition;
  }

  keyOf(record: R): HashKey {
    const key = this.#definition.key(record);
    assertKey(key, `key of index '${this.#name}' of a record`);
    return hashKey(key);
  }

  add(key: HashKey, primaryKey: HashKey): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) this.#entries.set(key, new Set([primaryKey]));
    else {
      if (this.#definition.kind === 'unique') entry.clear();
      entry.add(primaryKey);
    }
  }

  remove(record: R, primaryKey: HashKey): void {
    const key = hashKey(this.#definition.key(record));
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    entry.delete(primaryKey);
    if (entry.size === 0) this.#entries.delete(key);
  }

  primaryKeys(key: HashKey): Iterable<HashKey> {
    return this.#entries.get(key) ?? [];
  }

  clear(): void {
    this.#entries.clear();
  }
}
