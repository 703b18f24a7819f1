import { compareKeys, type HashKey, type Key } from '@tablecache/core';
import { comparePrimaryKeys, type RangeEntry, type RangeStructure } from '@tablecache/local';

interface Pending<V> extends RangeEntry {
  readonly value: V;
}

function compareEntries(a: RangeEntry, b: RangeEntry): number {
  return compareKeys(a.score, b.score) || comparePrimaryKeys(a.primaryKey, b.primaryKey);
}

/**
 * Three parallel sorted arrays: scores, primary keys and values. A range read is two binary
 * searches over the scores (contiguous, and unboxed when they are numbers, so a search touches
 * little memory) and a slice of the values. Entries that arrive out of order wait in a buffer
 * until the next read or removal; then a large buffer (a load) is sorted and merged in one pass,
 * and a small one (a few updates) is spliced in entry by entry: a binary search and O(n) moves
 * each, cheaper than comparing every entry in a merge.
 */
export class SortedArrayRange<V> implements RangeStructure<V> {
  #scores: Key[] = [];
  #keys: HashKey[] = [];
  #values: V[] = [];
  #pending: Pending<V>[] = [];

  /** Settles the buffer first: entries in it may replace stored ones, or each other. */
  get size(): number {
    this.#settle();
    return this.#scores.length;
  }

  add(score: Key, primaryKey: HashKey, value: V): void {
    const last = this.#scores.length - 1;
    if (this.#pending.length === 0 && (last < 0 || this.#compareAt(last, score, primaryKey) < 0)) {
      this.#scores.push(score);
      this.#keys.push(primaryKey);
      this.#values.push(value);
    } else {
      this.#pending.push({ score, primaryKey, value });
    }
  }

  remove(score: Key, primaryKey: HashKey): void {
    this.#settle();
    const at = this.#lowerBound(score, primaryKey);
    if (at < this.#scores.length && this.#compareAt(at, score, primaryKey) === 0) {
      this.#scores.splice(at, 1);
      this.#keys.splice(at, 1);
      this.#values.splice(at, 1);
    }
  }

  range(ge: Key, lt: Key): V[] {
    this.#settle();
    return this.#values.slice(this.#lowerBoundScore(ge), this.#lowerBoundScore(lt));
  }

  clear(): void {
    this.#scores = [];
    this.#keys = [];
    this.#values = [];
    this.#pending = [];
  }

  /** How the entry at `i` compares with (score, primaryKey). */
  #compareAt(i: number, score: Key, primaryKey: HashKey): number {
    return compareKeys(this.#scores[i] as Key, score) || comparePrimaryKeys(this.#keys[i] as HashKey, primaryKey);
  }

  #settle(): void {
    if (this.#pending.length === 0) return;
    const pending = this.#pending;
    this.#pending = [];
    if (pending.length * 32 < this.#scores.length) {
      for (const { score, primaryKey, value } of pending) this.#insert(score, primaryKey, value);
      return;
    }
    const incoming = pending.sort(compareEntries);
    const [scores, keys, values] = [this.#scores, this.#keys, this.#values];
    const total = scores.length + incoming.length;
    const merged = { scores: new Array<Key>(total), keys: new Array<HashKey>(total), values: new Array<V>(total) };
    let i = 0;
    let j = 0;
    let k = 0;
    while (i < scores.length || j < incoming.length) {
      const next = incoming[j];
      const order = next === undefined ? 1 : i === scores.length ? -1 : this.#compareAt(i, next.score, next.primaryKey) > 0 ? -1 : 1;
      if (order < 0 && next !== undefined) {
        // Added more than once while buffered: the sort is stable, so the last one added wins.
        const following = incoming[j + 1];
        if (following !== undefined && compareEntries(following, next) === 0) {
          j++;
          continue;
        }
        // An incoming entry equal to a stored one replaces it (same score and primary key).
        if (i < scores.length && this.#compareAt(i, next.score, next.primaryKey) === 0) i++;
        merged.scores[k] = next.score;
        merged.keys[k] = next.primaryKey;
        merged.values[k++] = next.value;
        j++;
      } else {
        if (next !== undefined && this.#compareAt(i, next.score, next.primaryKey) === 0) {
          i++; // replaced by `next` on the next turn
          continue;
        }
        merged.scores[k] = scores[i] as Key;
        merged.keys[k] = keys[i] as HashKey;
        merged.values[k++] = values[i++] as V;
      }
    }
    merged.scores.length = merged.keys.length = merged.values.length = k;
    this.#scores = merged.scores;
    this.#keys = merged.keys;
    this.#values = merged.values;
  }

  #insert(score: Key, primaryKey: HashKey, value: V): void {
    const at = this.#lowerBound(score, primaryKey);
    if (at < this.#scores.length && this.#compareAt(at, score, primaryKey) === 0) {
      this.#values[at] = value;
      return;
    }
    this.#scores.splice(at, 0, score);
    this.#keys.splice(at, 0, primaryKey);
    this.#values.splice(at, 0, value);
  }

  #lowerBound(score: Key, primaryKey: HashKey): number {
    let lo = 0;
    let hi = this.#scores.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#compareAt(mid, score, primaryKey) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #lowerBoundScore(score: Key): number {
    const scores = this.#scores;
    let lo = 0;
    let hi = scores.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(scores[mid] as Key, score) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
