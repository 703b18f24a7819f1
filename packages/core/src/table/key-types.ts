import { KeyTypeError } from '../errors/errors.js';
import { type Key, keyType } from '../key/key.js';
import { PRIMARY_KEY_INDEX, type StorageRecordsSpec } from '../storage/storage-table.js';

/** Records of one table disagree on an index's key type: nothing can be checked for it. */
const MIXED = 'mixed';

/**
 * The type of each index's keys (`number`, `bigint`, `[string, Date]`, …), learned from the
 * records stored, so that a key that could never match a stored key is refused instead of being
 * answered with nothing: `'1'` where the keys are numbers, `1` where pg gave int8 keys as
 * `1n`. Only lookups by key are checked; range bounds compare by value across numbers, bigints
 * and Dates, so they cannot miss this way.
 */
export class KeyTypes {
  readonly #types = new Map<string, string>();
  /** The primary key's type, apart for `peek`, which must not look up a Map. */
  #primary: string | undefined;

  /**
   * Learns the types of a stored record's keys: its primary key and its key in each index.
   * Returns whether that changed what is known (keys checked before may not have been checkable).
   */
  learn(primaryKey: Key, indexKeys: readonly (readonly [string, Key])[]): boolean {
    let changed = this.#learnOne(PRIMARY_KEY_INDEX, primaryKey);
    for (const [index, key] of indexKeys) changed = this.#learnOne(index, key) || changed;
    return changed;
  }

  /** What is known, as data: index name → key type (see `keyType`), or `mixed`. */
  toData(): readonly (readonly [string, string])[] {
    return [...this.#types];
  }

  /** Knows what `toData` (of another table's copy, on another thread) gave, and nothing else. */
  restore(data: readonly (readonly [string, string])[]): void {
    this.#types.clear();
    this.#primary = undefined;
    for (const [index, type] of data) {
      this.#types.set(index, type);
      if (index === PRIMARY_KEY_INDEX) this.#primary = type;
    }
  }

  /** Throws `KeyTypeError` when a primary key is of another type than the stored ones. */
  checkPrimaryKey(key: Key): void {
    const known = this.#primary;
    // The common case (a number or string key where the keys are of that type) costs a typeof.
    if (known === undefined || known === typeof key || known === MIXED) return;
    this.#check(PRIMARY_KEY_INDEX, known, key);
  }

  /** Throws `KeyTypeError` for a read by keys whose keys are of another type than the index's. */
  checkSpec<R>(where: StorageRecordsSpec<R>): void {
    if (where.kind !== 'keys') return;
    const known = where.index === PRIMARY_KEY_INDEX ? this.#primary : this.#types.get(where.index);
    if (known === undefined || known === MIXED) return;
    for (const key of where.keys) if (known !== typeof key) this.#check(where.index, known, key);
  }

  #check(index: string, known: string, key: Key): void {
    const got = keyType(key);
    if (got !== known) throw new KeyTypeError(key, index, known, got);
  }

  #learnOne(index: string, key: Key): boolean {
    if (key === undefined || key === null) return false; // storage refuses the record with the typed error
    const type = keyType(key);
    const known = this.#types.get(index);
    if (known === type || known === MIXED) return false;
    const learned = known === undefined ? type : MIXED;
    this.#types.set(index, learned);
    if (index === PRIMARY_KEY_INDEX) this.#primary = learned;
    return true;
  }
}
