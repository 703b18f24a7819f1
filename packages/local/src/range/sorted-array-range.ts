import { compareKeys, type HashKey, type Key } from '@tablecache/core';
import { comparePrimaryKeys, type RangeEntry, type RangeStructure } from './range-structure.js';

function compareEntries(a: RangeEntry, b: RangeEntry): number {
  return compareKeys(a.score, b.score) || comparePrimaryKeys(a.primaryKey, b.primaryKey);
}

/**
 * A sorted array of (score, primary key). Entries that arrive out of order wait in a buffer until
 * the next read or removal. Then a large buffer (a load) is sorted and merged in one pass, and a
 * small one (a few updates) is spliced in entry by entry: a binary search and O(n) moves each,
 * cheaper than comparing every entry in a merge.
 */
export class SortedArrayRange implements RangeStructure {
  #entries: RangeEntry[] = [];
  #pending: RangeEntry[] = [];

  get size(): number {
    return this.#entries.length + this.#pending.length;
  }

  add(score: Key, primaryKey: HashKey): void {
    const entry = { score, primaryKey };
    const last = this.#entries[this.#entries.length - 1];
    if (this.#pending.length === 0 && (last === undefined || compareEntries(last, entry) <= 0)) this.#entries.push(entry);
    else this.#pending.push(entry);
  }

  remove(score: Key, primaryKey: HashKey): void {
    this.#settle();
    const entry = { score, primaryKey };
    const at = this.#lowerBound(entry);
    const found = this.#entries[at];
    if (found !== undefined && compareEntries(found, entry) === 0) this.#entries.splice(at, 1);
  }

  scan(ge: Key, lt: Key, visit: (primaryKey: HashKey) => void): void {
    this.#settle();
    const entries = this.#entries;
    for (let i = this.#lowerBoundScore(ge); i < entries.length; i++) {
      const entry = entries[i] as RangeEntry;
      if (compareKeys(entry.score, lt) >= 0) break;
      visit(entry.primaryKey);
    }
  }

  clear(): void {
    this.#entries = [];
    this.#pending = [];
  }

  #settle(): void {
    if (this.#pending.length === 0) return;
    if (this.#pending.length * 32 < this.#entries.length) {
      for (const entry of this.#pending) this.#entries.splice(this.#lowerBound(entry), 0, entry);
      this.#pending = [];
      return;
    }
    const incoming = this.#pending.sort(compareEntries);
    const settled = this.#entries;
    const merged: RangeEntry[] = new Array(settled.length + incoming.length);
    let i = 0;
    let j = 0;
    let k = 0;
    while (i < settled.length && j < incoming.length) {
      merged[k++] = compareEntries(settled[i] as RangeEntry, incoming[j] as RangeEntry) <= 0 ? (settled[i++] as RangeEntry) : (incoming[j++] as RangeEntry);
    }
    while (i < settled.length) merged[k++] = settled[i++] as RangeEntry;
    while (j < incoming.length) merged[k++] = incoming[j++] as RangeEntry;
    this.#entries = merged;
    this.#pending = [];
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
