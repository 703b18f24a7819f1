import { compareKeys, type HashKey, type Key } from '@tablecache/core';
import { comparePrimaryKeys, type RangeEntry, type RangeStructure } from './range-structure.js';

interface Stored<V> extends RangeEntry {
  readonly value: V;
}

function compareEntries(a: RangeEntry, b: RangeEntry): number {
  return compareKeys(a.score, b.score) || comparePrimaryKeys(a.primaryKey, b.primaryKey);
}

/**
 * A sorted array of (score, primary key), with the values in a parallel array so a range read
 * is two binary searches and a slice. Entries that arrive out of order wait in a buffer until
 * the next read or removal; then a large buffer (a load) is sorted and merged in one pass, and a
 * small one (a few updates) is spliced in entry by entry: a binary search and O(n) moves each,
 * cheaper than comparing every entry in a merge.
 */
export class SortedArrayRange<V> implements RangeStructure<V> {
  #entries: RangeEntry[] = [];
  #values: V[] = [];
  #pending: Stored<V>[] = [];

  get size(): number {
    return this.#entries.length + this.#pending.length;
  }

  add(score: Key, primaryKey: HashKey, value: V): void {
    const entry = { score, primaryKey };
    const last = this.#entries[this.#entries.length - 1];
    if (this.#pending.length === 0 && (last === undefined || compareEntries(last, entry) < 0)) {
      this.#entries.push(entry);
      this.#values.push(value);
    } else {
      this.#pending.push({ score, primaryKey, value });
    }
  }

  remove(score: Key, primaryKey: HashKey): void {
    this.#settle();
    const entry = { score, primaryKey };
    const at = this.#lowerBound(entry);
    const found = this.#entries[at];
    if (found !== undefined && compareEntries(found, entry) === 0) {
      this.#entries.splice(at, 1);
      this.#values.splice(at, 1);
    }
  }

  range(ge: Key, lt: Key): V[] {
    this.#settle();
    return this.#values.slice(this.#lowerBoundScore(ge), this.#lowerBoundScore(lt));
  }

  clear(): void {
    this.#entries = [];
    this.#values = [];
    this.#pending = [];
  }

  #settle(): void {
    if (this.#pending.length === 0) return;
    const pending = this.#pending;
    this.#pending = [];
    if (pending.length * 32 < this.#entries.length) {
      for (const { score, primaryKey, value } of pending) this.#insert({ score, primaryKey }, value);
      return;
    }
    const incoming = pending.sort(compareEntries);
    const entries = this.#entries;
    const values = this.#values;
    const mergedEntries: RangeEntry[] = new Array(entries.length + incoming.length);
    const mergedValues: V[] = new Array(entries.length + incoming.length);
    let i = 0;
    let j = 0;
    let k = 0;
    while (i < entries.length || j < incoming.length) {
      const fromIncoming = i === entries.length || (j < incoming.length && compareEntries(incoming[j] as RangeEntry, entries[i] as RangeEntry) <= 0);
      if (fromIncoming) {
        const next = incoming[j++] as Stored<V>;
        // An incoming entry equal to a stored one replaces it (same score and primary key).
        if (i < entries.length && compareEntries(next, entries[i] as RangeEntry) === 0) i++;
        mergedEntries[k] = { score: next.score, primaryKey: next.primaryKey };
        mergedValues[k++] = next.value;
      } else {
        mergedEntries[k] = entries[i] as RangeEntry;
        mergedValues[k++] = values[i++] as V;
      }
    }
    mergedEntries.length = k;
    mergedValues.length = k;
    this.#entries = mergedEntries;
    this.#values = mergedValues;
  }

  #insert(entry: RangeEntry, value: V): void {
    const at = this.#lowerBound(entry);
    const found = this.#entries[at];
    if (found !== undefined && compareEntries(found, entry) === 0) {
      this.#values[at] = value;
      return;
    }
    this.#entries.splice(at, 0, entry);
    this.#values.splice(at, 0, value);
  }

  #lowerBound(entry: RangeEntry): number {
    let lo = 0;
    let hi = this.#entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareEntries(this.#entries[mid] as RangeEntry, entry) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #lowerBoundScore(score: Key): number {
    let lo = 0;
    let hi = this.#entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys((this.#entries[mid] as RangeEntry).score, score) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
