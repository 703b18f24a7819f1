import { type HashKey, hashKey, type Key } from '../key/key.js';
import { PRIMARY_KEY_INDEX, type StorageRecordsSpec } from '../storage/storage-table.js';
import { RangeMarks, type RangeMarksData } from './range-marks.js';

/**
 * What an `InvalidationSet` marks, as plain data another thread can receive: enough to answer
 * `intersects`, without generations (a reader elsewhere treats every mark as applying to it) and
 * without what a refresh must reload.
 */
export interface InvalidationSnapshot {
  readonly everything: boolean;
  /** Indexes a pending reload goes through: reads through the other indexes must wait for it. */
  readonly reloadIndexes: readonly string[];
  /** Hash keys marked, by index. */
  readonly keys: readonly (readonly [string, readonly HashKey[]])[];
  readonly ranges: readonly (readonly [string, RangeMarksData])[];
}

/** Past this many marks a snapshot says "everything": a reader's check stays cheap, and waiting for more is never wrong. */
const MAX_SNAPSHOT_MARKS = 10_000;

/**
 * Invalidations that have not been refreshed yet, and what a refresh must do about them.
 *
 * Each invalidation has a generation; a read only waits for those from before it started, so a
 * stream of new invalidations cannot starve it. Reads test `intersects` with the storage spec
 * they would serve, so an invalid key on one index is seen by reads through any index: when a
 * stored record is invalidated, its key in every index is marked.
 *
 * Hash keys keep their generation. Range marks (`RangeMarks`) do not: a read that meets one
 * waits if the set holds anything from before the read, which may make it wait for a newer
 * invalidation too, never serve a stale one.
 */
export class InvalidationSet<R, S> {
  /** Which indexes are range indexes: their keys are scores, marked as points and intervals. */
  readonly #rangeIndexes: ReadonlySet<string>;
  /** Generation of the oldest "everything is invalid" mark. */
  everything: number | undefined;
  /** Oldest generation of anything in the set. */
  #oldest: number | undefined;
  /** Index name → key → oldest generation that marked it. */
  readonly #marks = new Map<string, Map<HashKey, number>>();
  readonly #rangeMarks = new Map<string, RangeMarks>();
  /**
   * Index name → oldest generation of a spec to reload through it. The rows it brings may fall
   * under any key of the other indexes, so reads through those must wait for it.
   */
  readonly #reloadIndexes = new Map<string, number>();

  /**
   * Stored specs whose records are stale, with the generation that said so; re-read at refresh
   * time and after every commit (storage may have grown since).
   */
  readonly staleSpecs: { readonly where: StorageRecordsSpec<R>; readonly generation: number }[] = [];
  /** Primary keys to reload; what the database returns for them is the whole truth. */
  readonly reloadKeys = new Map<HashKey, Key>();
  /** Other specs to reload. */
  readonly reloadSpecs: S[] = [];

  constructor(rangeIndexes: ReadonlySet<string>) {
    this.#rangeIndexes = rangeIndexes;
  }

  get isEmpty(): boolean {
    return this.#oldest === undefined;
  }

  /**
   * How much waits for a refresh, for the pending gauge: a key counts one, a spec that is not by
   * key one, and everything counts `recordsHeld`.
   */
  count(recordsHeld: number): number {
    if (this.everything !== undefined) return recordsHeld;
    // Stale specs by primary key are counted in the marks already.
    const byOtherSpecs = this.staleSpecs.filter(({ where }) => where.kind !== 'keys' || where.index !== PRIMARY_KEY_INDEX).length;
    return (this.#marks.get(PRIMARY_KEY_INDEX)?.size ?? 0) + byOtherSpecs + this.reloadSpecs.length;
  }

  markEverything(generation: number): void {
    this.everything ??= generation;
    this.#touch(generation);
  }

  /**
   * A stored record is stale: its keys in every index are marked, so reads through any index
   * wait for the refresh. (The refresh deletes what its stale specs match then, not these
   * records: one a commit has replaced since is not the stale one.)
   */
  markStaleRecord(primaryKey: Key, indexKeys: Iterable<readonly [string, Key]>, generation: number): void {
    this.#mark(PRIMARY_KEY_INDEX, primaryKey, generation);
    for (const [index, key] of indexKeys) this.#mark(index, key, generation);
  }

  markStaleSpec(spec: StorageRecordsSpec<R>, generation: number): void {
    this.staleSpecs.push({ where: spec, generation });
    if (spec.kind === 'all') this.markEverything(generation);
    else this.#markWhere(spec, generation);
  }

  reloadPrimaryKeys(keys: readonly Key[], generation: number): void {
    for (const key of keys) {
      this.reloadKeys.set(hashKey(key), key);
      this.#mark(PRIMARY_KEY_INDEX, key, generation);
    }
    this.#reloadThrough(PRIMARY_KEY_INDEX, generation);
  }

  reloadSpec(spec: S, where: StorageRecordsSpec<R>, generation: number): void {
    this.reloadSpecs.push(spec);
    if (where.kind === 'all') {
      this.markEverything(generation);
      return;
    }
    this.#markWhere(where, generation);
    this.#reloadThrough(where.index, generation);
  }

  /** Whether a read that started at `generation` and would serve `spec` must wait for a refresh. */
  intersects(spec: StorageRecordsSpec<R>, generation: number): boolean {
    if (this.#oldest === undefined || this.#oldest > generation) return false;
    if (this.everything !== undefined && this.everything <= generation) return true;
    if (spec.kind === 'all') return true;
    for (const [index, oldest] of this.#reloadIndexes) {
      if (index !== spec.index && oldest <= generation) return true;
    }
    if (spec.kind === 'range') {
      const marks = this.#rangeMarks.get(spec.index);
      return marks !== undefined && spec.intervals.some((interval) => marks.intersects(interval));
    }
    const marks = this.#marks.get(spec.index);
    if (marks === undefined) return false;
    for (const key of spec.keys) {
      const marked = marks.get(hashKey(key));
      if (marked !== undefined && marked <= generation) return true;
    }
    return false;
  }

  /** The marks as data (see `InvalidationSnapshot`); past `MAX_SNAPSHOT_MARKS` marks, everything. */
  snapshot(): InvalidationSnapshot {
    let marks = 0;
    for (const keys of this.#marks.values()) marks += keys.size;
    for (const ranges of this.#rangeMarks.values()) marks += ranges.size;
    if (this.everything !== undefined || marks > MAX_SNAPSHOT_MARKS) return EVERYTHING;
    return {
      everything: false,
      reloadIndexes: [...this.#reloadIndexes.keys()],
      keys: [...this.#marks].map(([index, keys]) => [index, [...keys.keys()]] as const),
      ranges: [...this.#rangeMarks].map(([index, ranges]) => [index, ranges.toData()] as const),
    };
  }

  /** A set marking what the snapshots mark, every mark at generation 0 (older than any read). */
  static fromSnapshots<R, S>(snapshots: readonly InvalidationSnapshot[], rangeIndexes: ReadonlySet<string>): InvalidationSet<R, S> {
    const set = new InvalidationSet<R, S>(rangeIndexes);
    for (const snapshot of snapshots) {
      if (snapshot.everything) set.markEverything(0);
      for (const index of snapshot.reloadIndexes) set.#reloadThrough(index, 0);
      for (const [index, keys] of snapshot.keys) for (const key of keys) set.#markHashed(index, key, 0);
      for (const [index, data] of snapshot.ranges) {
        set.#rangeMarksOf(index).absorb(RangeMarks.fromData(data));
        set.#touch(0);
      }
    }
    return set;
  }

  /** Adds everything `other` holds (a failed refresh puts its batch back this way). */
  absorb(other: InvalidationSet<R, S>): void {
    if (other.everything !== undefined) this.markEverything(other.everything);
    if (other.#oldest !== undefined) this.#touch(other.#oldest);
    for (const [index, marks] of other.#marks) {
      for (const [key, generation] of marks) this.#markHashed(index, key, generation);
    }
    for (const [index, marks] of other.#rangeMarks) this.#rangeMarksOf(index).absorb(marks);
    for (const [index, generation] of other.#reloadIndexes) this.#reloadThrough(index, generation);
    // Loops, not push(...spread): a spread of more than about 100,000 elements overflows the stack.
    for (const stale of other.staleSpecs) this.staleSpecs.push(stale);
    for (const [h, key] of other.reloadKeys) this.reloadKeys.set(h, key);
    for (const spec of other.reloadSpecs) this.reloadSpecs.push(spec);
  }

  #markWhere(where: Exclude<StorageRecordsSpec<R>, { kind: 'all' }>, generation: number): void {
    if (where.kind === 'range') {
      const marks = this.#rangeMarksOf(where.index);
      for (const interval of where.intervals) marks.addInterval(interval);
      this.#touch(generation);
    } else {
      for (const key of where.keys) this.#mark(where.index, key, generation);
    }
  }

  #mark(index: string, key: Key, generation: number): void {
    if (this.#rangeIndexes.has(index)) {
      this.#rangeMarksOf(index).addPoint(key);
      this.#touch(generation);
    } else {
      this.#markHashed(index, hashKey(key), generation);
    }
  }

  #rangeMarksOf(index: string): RangeMarks {
    let marks = this.#rangeMarks.get(index);
    if (marks === undefined) {
      marks = new RangeMarks();
      this.#rangeMarks.set(index, marks);
    }
    return marks;
  }

  #markHashed(index: string, key: HashKey, generation: number): void {
    let marks = this.#marks.get(index);
    if (marks === undefined) {
      marks = new Map();
      this.#marks.set(index, marks);
    }
    const marked = marks.get(key);
    if (marked === undefined || generation < marked) marks.set(key, generation);
    this.#touch(generation);
  }

  #reloadThrough(index: string, generation: number): void {
    const oldest = this.#reloadIndexes.get(index);
    if (oldest === undefined || generation < oldest) this.#reloadIndexes.set(index, generation);
    this.#touch(generation);
  }

  #touch(generation: number): void {
    if (this.#oldest === undefined || generation < this.#oldest) this.#oldest = generation;
  }
}

/**
 * Whether a read of `where` must wait, by the marks of these snapshots: the test a reader on
 * another thread makes before serving memory (`rangeIndexes`: the storage layout's range
 * indexes). Undefined when they mark nothing, so the common case costs no call.
 */
export function invalidatedBy<R>(
  snapshots: readonly InvalidationSnapshot[],
  rangeIndexes: ReadonlySet<string>,
): ((where: StorageRecordsSpec<R>) => boolean) | undefined {
  const marksNothing = (snapshot: InvalidationSnapshot) =>
    !snapshot.everything && snapshot.keys.length === 0 && snapshot.ranges.length === 0 && snapshot.reloadIndexes.length === 0;
  if (snapshots.every(marksNothing)) return undefined;
  const set = InvalidationSet.fromSnapshots<R, never>(snapshots, rangeIndexes);
  return (where) => set.intersects(where, 0);
}

const EVERYTHING: InvalidationSnapshot = { everything: true, reloadIndexes: [], keys: [], ranges: [] };
