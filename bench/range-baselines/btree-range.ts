import { createRequire } from 'node:module';
import { compareKeys, type HashKey, type Key } from '@tablecache/core';
import { comparePrimaryKeys, type RangeEntry, type RangeStructure } from '@tablecache/local';

// sorted-btree is CommonJS with `exports.default`; require() gives the same object under Node's
// ESM loader and under Vite's, whose default-import interop differ.
const { default: BTree } = createRequire(import.meta.url)('sorted-btree') as typeof import('sorted-btree');

/** Below every primary key: a scan from score s starts at (s, LOWEST). */
const LOWEST: unique symbol = Symbol('lowest primary key');
type Bound = RangeEntry | { readonly score: Key; readonly primaryKey: typeof LOWEST };

function compareEntries(a: Bound, b: Bound): number {
  const byScore = compareKeys(a.score, b.score);
  if (byScore !== 0) return byScore;
  if (a.primaryKey === LOWEST) return b.primaryKey === LOWEST ? 0 : -1;
  if (b.primaryKey === LOWEST) return 1;
  return comparePrimaryKeys(a.primaryKey, b.primaryKey);
}

/** A B+ tree (sorted-btree) of (score, primary key) → value: O(log n) updates and range starts. */
export class BTreeRange<V> implements RangeStructure<V> {
  readonly #tree = new BTree<Bound, V>(undefined, compareEntries);

  get size(): number {
    return this.#tree.size;
  }

  add(score: Key, primaryKey: HashKey, value: V): void {
    this.#tree.set({ score, primaryKey }, value);
  }

  remove(score: Key, primaryKey: HashKey): void {
    this.#tree.delete({ score, primaryKey });
  }

  range(ge: Key, lt: Key): V[] {
    const values: V[] = [];
    this.#tree.forRange({ score: ge, primaryKey: LOWEST }, { score: lt, primaryKey: LOWEST }, false, (_, value) => {
      values.push(value);
    });
    return values;
  }

  clear(): void {
    this.#tree.clear();
  }
}
