import type { Indexes, IndexSpec, PrimaryKeysSpec } from '../indexes/indexes.js';
import type { Key } from '../key/key.js';
import { describeError, type Logger } from '../logging/logger.js';
import type { PublishedTableState } from '../storage/shared-storage.js';
import { PRIMARY_KEY_INDEX, type StorageIndexDefinition, type StorageRecordsSpec, type StorageTable } from '../storage/storage-table.js';
import { InvalidationSet } from './invalidation-set.js';
import type { KeyTypes } from './key-types.js';

export interface InvalidationBooksOptions<R, S extends IndexSpec, K extends Key> {
  readonly name: string;
  readonly indexes: Indexes<R, S, K>;
  readonly storage: StorageTable<R>;
  readonly keyTypes: KeyTypes;
  readonly logger: Logger;
}

/**
 * A table's invalidation bookkeeping: what waits for a refresh (pending), what the running
 * refresh works on (in flight), and the generation that orders reads after invalidations. It
 * marks; the refresh engine reloads what it marked; the read path asks it what must wait.
 */
export class InvalidationBooks<R, S extends IndexSpec, K extends Key> {
  readonly #options: InvalidationBooksOptions<R, S, K>;
  readonly #storageIndexes: readonly (readonly [string, StorageIndexDefinition<R>])[];
  readonly #rangeIndexes: ReadonlySet<string>;
  /** Incremented by every invalidation; a read waits only for invalidations up to its own. */
  #generation = 0;
  #pending: InvalidationSet<R, S>;
  /** The batch the running refresh is working on, until it commits or fails. */
  #inFlight: InvalidationSet<R, S> | undefined;
  /** A write learned key types that invalidations made before could not be checked against. */
  #keyTypesLearned = false;

  constructor(options: InvalidationBooksOptions<R, S, K>) {
    this.#options = options;
    this.#storageIndexes = Object.entries(options.indexes.storageIndexes);
    this.#rangeIndexes = new Set(this.#storageIndexes.filter(([, definition]) => definition.kind === 'range').map(([name]) => name));
    this.#pending = this.#newSet();
  }

  /** The generation of the latest invalidation: a read or write that starts now comes after it. */
  get generation(): number {
    return this.#generation;
  }

  /** The common case, checked without building a storage spec: no invalidation is waiting or being refreshed. */
  get nothingInvalid(): boolean {
    return this.#pending.isEmpty && this.#inFlight === undefined;
  }

  /** Whether anything waits for a refresh that has not started. */
  get anythingPending(): boolean {
    return !this.#pending.isEmpty;
  }

  /** Whether storage may serve `where` now: no invalidation made so far touches it. */
  isValidNow(where: StorageRecordsSpec<R>): boolean {
    return this.waitsFor(where, this.#generation) === undefined;
  }

  /**
   * What a read that started at `generation` and would serve `where` must wait for: pending
   * invalidations (a refresh must run) or those being refreshed; undefined: nothing.
   */
  waitsFor(where: StorageRecordsSpec<R>, generation: number): 'pending' | 'inFlight' | undefined {
    if (this.#pending.intersects(where, generation)) return 'pending';
    return this.#inFlight?.intersects(where, generation) ? 'inFlight' : undefined;
  }

  /** Marks `oldSpecs` stale (and the records stored under them, in every index) and `newSpecs` to reload. Specs are checked already. */
  invalidate(oldSpecs: readonly (S | PrimaryKeysSpec<K>)[], newSpecs: readonly (S | PrimaryKeysSpec<K>)[]): void {
    const { indexes, storage } = this.#options;
    const generation = ++this.#generation;
    const pending = this.#pending;
    for (const spec of oldSpecs) {
      const where = indexes.storageRecordsSpec(spec);
      if (where.kind === 'all' && where.filter === undefined) {
        pending.markEverything(generation);
        continue;
      }
      pending.markStaleSpec(where, generation);
      for (const record of storage.getRecords(where))
        pending.markStaleRecord(indexes.primaryKey(record), this.indexKeys(record), generation);
    }
    for (const spec of newSpecs) {
      if (isPrimaryKeysSpec<K>(spec)) pending.reloadPrimaryKeys(spec.keys, generation);
      else pending.reloadSpec(spec as S, indexes.storageRecordsSpec(spec), generation);
    }
  }

  invalidateEverything(): void {
    this.#pending.markEverything(++this.#generation);
  }

  /** Invalidations not refreshed yet, pending and in flight (see `InvalidationSet.count`). */
  count(): number {
    const held = this.#options.storage.size;
    return this.#pending.count(held) + (this.#inFlight?.count(held) ?? 0);
  }

  /** Moves what is pending to the in-flight batch a refresh works on; undefined when nothing is pending. */
  takeBatch(): InvalidationSet<R, S> | undefined {
    if (this.#pending.isEmpty) return undefined;
    const batch = this.#pending;
    this.#pending = this.#newSet();
    this.#inFlight = batch;
    return batch;
  }

  /** The refresh committed its batch: what reads must wait for now is what is pending. */
  batchCommitted(): void {
    this.#inFlight = undefined;
  }

  /** The refresh failed before committing: its batch is pending again, with whatever arrived meanwhile. */
  batchFailed(batch: InvalidationSet<R, S>): void {
    batch.absorb(this.#pending);
    this.#pending = batch;
    this.#inFlight = undefined;
  }

  /** A write learned key types (see `checkPendingKeyTypes`). */
  keyTypesLearned(): void {
    this.#keyTypesLearned = true;
  }

  /**
   * An invalidation marks the records stored when it is made, in every index. A load, refresh
   * or adjust whose reads started before it may commit records that fall under its stale specs
   * (read before the change): marked now, reads through any index see them as invalid too.
   * Invalidations from before `readsStart` need no second look: those reads came after them.
   */
  markStaleArrivals(readsStart: number): void {
    this.#checkPendingKeyTypes();
    const { indexes, storage } = this.#options;
    const pending = this.#pending;
    for (const { where, generation } of pending.staleSpecs) {
      if (generation <= readsStart) continue;
      for (const record of storage.getRecords(where))
        pending.markStaleRecord(indexes.primaryKey(record), this.indexKeys(record), generation);
    }
  }

  /** What readers on other threads must wait for, as data (see `PublishedTableState`). */
  snapshot(): PublishedTableState['validity'] {
    const inFlight = this.#inFlight;
    return inFlight === undefined ? [this.#pending.snapshot()] : [this.#pending.snapshot(), inFlight.snapshot()];
  }

  /** A record's key in each storage index, by name. */
  indexKeys(record: R): (readonly [string, Key])[] {
    return this.#storageIndexes.map(([name, definition]) => [name, definition.key(record)] as const);
  }

  /**
   * Invalidations made before the key types were known (during the first load) could not be
   * checked then: one naming keys of another type would never match, so the table is
   * invalidated whole instead, and the log says why.
   */
  #checkPendingKeyTypes(): void {
    if (!this.#keyTypesLearned) return;
    this.#keyTypesLearned = false;
    const pending = this.#pending;
    const { keyTypes, logger, name } = this.#options;
    try {
      keyTypes.checkSpec(primaryKeysWhere([...pending.reloadKeys.values()]));
      for (const { where } of pending.staleSpecs) keyTypes.checkSpec(where);
    } catch (error) {
      pending.markEverything(this.#generation);
      logger.warn(
        `table '${name}': ${describeError(error)}, in an invalidation made before the table held records; the whole table was invalidated`,
      );
    }
  }

  #newSet(): InvalidationSet<R, S> {
    return new InvalidationSet(this.#rangeIndexes);
  }
}

export function isPrimaryKeysSpec<K extends Key>(spec: IndexSpec): spec is PrimaryKeysSpec<K> {
  return spec.index === PRIMARY_KEY_INDEX && 'keys' in spec;
}

export function primaryKeysWhere(keys: readonly Key[]): StorageRecordsSpec<never> {
  return { kind: 'keys', index: PRIMARY_KEY_INDEX, keys };
}
