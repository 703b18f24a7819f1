import type { ChangeFeed, WaitOptions } from '../change-feed/change-feed.js';
import type { DbAccess } from '../db-access/db-access.js';
import {
  AlreadyLoadedError,
  DatabaseError,
  DuplicateKeyError,
  FeedDisconnectedError,
  InvalidOptionsError,
  MalformedSpecError,
  NotLoadedError,
  RecordNotFoundError,
  SyncTimeoutError,
  TableClosedError,
  TablecacheError,
} from '../errors/errors.js';
import type { Indexes, IndexSpec, PrimaryKeysSpec } from '../indexes/indexes.js';
import { assertKey, type HashKey, hashKey, isPlainKey, type Key } from '../key/key.js';
import { consoleLogger, describeError, isLogger, type Logger } from '../logging/logger.js';
import type { Query } from '../query/query.js';
import { isSharedStorageTable, type PublishedSlot, type PublishedTableState, type SharedStorageTable } from '../storage/shared-storage.js';
import {
  PRIMARY_KEY_INDEX,
  type ScratchSpace,
  type StorageIndexDefinition,
  type StorageRecordsSpec,
  type StorageTable,
} from '../storage/storage-table.js';
import { InvalidationSet } from './invalidation-set.js';
import { KeyTypes } from './key-types.js';
import { SerialQueue } from './serial-queue.js';
import { TableWatcher, type Unwatch, type WatchOptions } from './table-watcher.js';
import { abortableItems, isTimeout, Signal, waitFor } from './waits.js';

export interface CachedTableOptions {
  /** Name used in errors and logs; default: the storage's name. */
  readonly name?: string;
  /** Most primary keys sent in one refresh query; more are split over several queries. */
  readonly maxKeysPerQuery?: number;
  /** Where the table reports what has no caller to go to (default: one line each on the console). */
  readonly logger?: Logger;
  /** How long `sync()` waits by default before rejecting with `SyncTimeoutError` (default 30,000 ms). */
  readonly syncTimeoutMs?: number;
}

/** Options of a read, a load or a watch: a signal that stops waiting (the call rejects with its reason). */
export interface CallOptions {
  readonly signal?: AbortSignal;
}

/** Counters of what a table has done since it was created. */
export interface CachedTableStats {
  /** Queries sent to the database, for any reason. */
  readonly queries: number;
  /** Refreshes that ran (each sends one query or more). */
  readonly refreshes: number;
  /** Queries sent by refreshes. */
  readonly refreshQueries: number;
  /** Reads served from storage. */
  readonly readsFromStorage: number;
  /** Reads passed to the database because storage does not cover them (or may be stale: see `status`). */
  readonly readsFromDatabase: number;
}

/** Where a table stands, for readiness checks and dashboards. */
export interface CachedTableStatus {
  readonly load: 'idle' | 'loading' | 'loaded' | 'failed' | 'closed';
  /**
   * `unwatched`: no feed. `live`: every feed receives changes. `grace`: a feed lost its
   * connection and memory is still served, for at most its `disconnectedGraceMs`.
   * `disconnected`: a feed lost its connection; reads go to the database until it is back.
   */
  readonly feed: 'unwatched' | 'live' | 'grace' | 'disconnected';
  /** Whether any invalidation waits for a refresh. */
  readonly invalid: boolean;
}

type LoadState = 'idle' | 'loading' | 'loaded' | 'failed';

/** Where a read is served from, decided after validation, coverage and waiting for refreshes. */
type ReadPlan<R> = { readonly from: 'storage'; readonly spec: StorageRecordsSpec<R> } | { readonly from: 'db'; readonly query: Query<R> };

/** A piece of a read: records already taken from storage, or a query still to run. */
type ReadPiece<R> = { readonly records: R[] } | { readonly query: Query<R> };

/**
 * How the rows of a write are checked for a primary key the database repeated. A write of one
 * query: a key its storage or scratch space already holds (`put` says so) came twice. A write of
 * several: each query's keys apart, since a row may move between two queries' snapshots and
 * rightly come back twice.
 */
type DuplicateCheck = 'whole-write' | 'each-query';

function duplicateCheck(queries: number): DuplicateCheck {
  return queries === 1 ? 'whole-write' : 'each-query';
}

/**
 * A database query mirrored into storage, read through indexes, kept correct by invalidation.
 *
 * Writes to storage (load, refresh, adjust) run one at a time through a queue; a refresh or an
 * adjust writes to a scratch space and commits in one synchronous step, so a read sees the state
 * before or after it, never a mix. Reads never queue behind writes unless what they would read
 * is invalid.
 */
export class CachedTable<R, S extends IndexSpec, K extends Key = Key> {
  readonly name: string;
  readonly #indexes: Indexes<R, S, K>;
  readonly #db: DbAccess;
  readonly #storage: StorageTable<R>;
  /** The storage again when readers on other threads read it: every change is published to them. */
  readonly #shared: SharedStorageTable<R> | undefined;
  readonly #stopServing: (() => void) | undefined;
  readonly #maxKeysPerQuery: number;
  readonly #logger: Logger;
  readonly #syncTimeoutMs: number;
  readonly #writer = new SerialQueue();
  readonly #storageIndexes: readonly (readonly [string, StorageIndexDefinition<R>])[];
  readonly #keyTypes = new KeyTypes();
  /** A write learned key types that invalidations made before could not be checked against. */
  #keyTypesLearned = false;
  readonly #stats = { queries: 0, refreshes: 0, refreshQueries: 0, readsFromStorage: 0, readsFromDatabase: 0 };

  #loadState: LoadState = 'idle';
  #loading: Promise<void> | undefined;
  #loadedSignal = new Signal();
  #closed = false;
  /**
   * What waits on the table (a read behind a refresh, a sync, a watch) rejects through these when
   * it closes, so nothing pends. A Set, not a race with one long-pending promise: every race adds
   * a reaction to that promise, kept until it settles, which would grow with every wait.
   */
  readonly #closeWaiters = new Set<(error: unknown) => void>();

  /** Incremented by every invalidation; a read waits only for invalidations up to its own. */
  #generation = 0;
  #pending: InvalidationSet<R, S>;
  /** The batch the running refresh is working on, until it commits or fails. */
  #inFlight: InvalidationSet<R, S> | undefined;
  #running: Promise<void> | undefined;
  /** A refresh queued behind other writes; later callers join it rather than queue another. */
  #queuedRefresh: Promise<void> | undefined;
  readonly #watchers = new Set<TableWatcher<S | PrimaryKeysSpec<K>>>();
  /** Watchers whose feed lost its connection and whose grace is over: memory is not trusted. */
  readonly #distrustedBy = new Set<TableWatcher<S | PrimaryKeysSpec<K>>>();
  /** Watchers whose feed lost its connection, still within their grace. */
  readonly #graceBy = new Set<TableWatcher<S | PrimaryKeysSpec<K>>>();

  constructor(indexes: Indexes<R, S, K>, db: DbAccess, storage: StorageTable<R>, options: CachedTableOptions = {}) {
    if (options.logger !== undefined && !isLogger(options.logger)) {
      throw new InvalidOptionsError('logger must have error, warn, info and debug methods (console and pino loggers do)');
    }
    const syncTimeoutMs = options.syncTimeoutMs ?? 30_000;
    if (!isTimeout(syncTimeoutMs)) {
      throw new InvalidOptionsError(`syncTimeoutMs must be a positive number of milliseconds; got ${String(options.syncTimeoutMs)}`);
    }
    this.#indexes = indexes;
    this.#db = db;
    this.#storage = storage;
    this.name = options.name ?? storage.name;
    this.#maxKeysPerQuery = options.maxKeysPerQuery ?? 10_000;
    this.#logger = options.logger ?? consoleLogger;
    this.#syncTimeoutMs = syncTimeoutMs;
    this.#storageIndexes = Object.entries(indexes.storageIndexes);
    this.#pending = this.#newInvalidationSet();
    this.#shared = isSharedStorageTable(storage) ? storage : undefined;
    this.#publish('status', 'coverage', 'validity');
    this.#stopServing = this.#shared?.serve({
      name: this.name,
      getRecords: (spec, options) => this.getRecords(spec as S, options),
      getFirstRecord: (spec, options) => this.getFirstRecord(spec as S, options),
      sync: (options) => this.sync(options),
    });
  }

  get stats(): CachedTableStats {
    return { ...this.#stats };
  }

  get status(): CachedTableStatus {
    return {
      load: this.#closed ? 'closed' : this.#loadState,
      feed:
        this.#watchers.size === 0 ? 'unwatched' : this.#distrustedBy.size > 0 ? 'disconnected' : this.#graceBy.size > 0 ? 'grace' : 'live',
      invalid: !this.#nothingInvalid(),
    };
  }

  /**
   * Fills the empty table with the records of `spec` (e.g. `{ index: 'primaryKey', all: true }`).
   * An aborted signal stops the load: the table stays empty and `loaded()` rejects too.
   */
  async load(spec: S, options: CallOptions = {}): Promise<void> {
    this.#assertOpen();
    this.#indexes.validateSpec(spec);
    const signal = options.signal;
    signal?.throwIfAborted();
    if (this.#loadState === 'loading' || this.#loadState === 'loaded') throw new AlreadyLoadedError(this.name);
    if (this.#loadState === 'failed') this.#loadedSignal = new Signal();
    this.#loadState = 'loading';
    this.#publish('status');
    const loaded = this.#loadedSignal;
    this.#loading = this.#writer.run(async () => {
      const readsStart = this.#generation;
      try {
        const adjustment = this.#indexes.prepareAdjustment(spec);
        const check = duplicateCheck(adjustment.load.length);
        // Straight into storage, not through a scratch space: nobody reads a loading table
        // (reads wait for it), and a scratch copy would double the peak memory of a load.
        for (const query of adjustment.load) await this.#putRows(this.#storage, query, 'load', () => true, check, signal);
        this.#assertOpen();
        this.#commit(
          () => {
            adjustment.commit();
            this.#markStaleArrivals(readsStart);
            this.#loadState = 'loaded';
          },
          'status',
          'coverage',
          'validity',
        );
        loaded.resolve();
      } catch (error) {
        this.#commit(() => {
          this.#storage.clear();
          this.#loadState = 'failed';
        }, 'status');
        loaded.reject(error);
        throw error;
      }
    });
    return this.#untilClosed(this.#loading);
  }

  /** Resolves once a load has succeeded; rejects when the current load attempt failed, or the table is closed. */
  loaded(): Promise<void> {
    if (this.#closed) return Promise.reject(new TableClosedError(this.name));
    return this.#loadedSignal.promise;
  }

  /**
   * The records matching `spec`: from storage when covered and valid, else from the database. A
   * spec only partly covered (a range straddling the cached window) takes the covered part from
   * memory and only the rest from the database, in the order of the pieces.
   */
  async getRecords(spec: S | PrimaryKeysSpec<K>, options: CallOptions = {}): Promise<R[]> {
    const now = this.getRecordsSync(spec); // validates the spec for #read too
    if (now !== undefined) return now;
    const signal = options.signal;
    const pieces = await this.#read(spec, signal);
    const [only] = pieces;
    if (pieces.length === 1 && only !== undefined && 'records' in only) return only.records;
    const records: R[] = [];
    for (const piece of pieces) {
      // A loop, not push(...spread): a spread of more than about 100,000 records overflows the stack.
      if ('records' in piece) for (const record of piece.records) records.push(record);
      else for await (const record of abortableItems(this.#query(piece.query, 'read'), signal)) records.push(record);
    }
    return records;
  }

  /**
   * The records of `spec` if memory can answer right now: the table is loaded, covers the spec,
   * and nothing the spec touches is invalid. Otherwise undefined (nothing is started): call
   * `getRecords`, which refreshes or asks the database. For hot paths that must not await.
   */
  getRecordsSync(spec: S | PrimaryKeysSpec<K>): R[] | undefined {
    this.#assertOpen();
    this.#indexes.validateSpec(spec);
    return this.#fromMemoryNow(spec);
  }

  /**
   * The record with this primary key if memory holds it, valid, right now; otherwise undefined.
   * Undefined does not say the record is absent: it may also need a refresh or a database read,
   * which `getFirstRecord` does (a reload pending through another index, whose rows may land
   * anywhere, makes every key wait). While nothing is invalid it allocates nothing, for the
   * hottest reads:
   * `table.peek(id) ?? (await table.getFirstRecord({ index: 'primaryKey', keys: [id] }))`.
   * A key of another type than the table's keys (`'1'` for numbers) throws `KeyTypeError`.
   */
  peek(primaryKey: K): R | undefined {
    if (this.#closed) throw new TableClosedError(this.name);
    if (!isPlainKey(primaryKey)) assertKey(primaryKey, 'the key given to peek');
    this.#keyTypes.checkPrimaryKey(primaryKey);
    if (this.#loadState !== 'loaded' || this.#distrustedBy.size > 0) return undefined;
    const record = this.#storage.get(primaryKey);
    // Storage holds only covered records, so a stored one needs no coverage check, only validity.
    if (record === undefined) return undefined;
    if (!this.#nothingInvalid() && !this.#isValidNow({ kind: 'keys', index: PRIMARY_KEY_INDEX, keys: [primaryKey] })) return undefined;
    this.#stats.readsFromStorage++;
    return record;
  }

  /** `getRecordsSync` for a spec already checked. */
  #fromMemoryNow(spec: S | PrimaryKeysSpec<K>): R[] | undefined {
    if (this.#loadState !== 'loaded' || this.#distrustedBy.size > 0 || !this.#indexes.covers(spec)) return undefined;
    // The hottest read, one primary key, goes straight to storage's map.
    if (isPrimaryKeysSpec<K>(spec) && spec.keys.length === 1) {
      const key = spec.keys[0] as K;
      this.#keyTypes.checkPrimaryKey(key);
      if (!this.#nothingInvalid() && !this.#isValidNow({ kind: 'keys', index: PRIMARY_KEY_INDEX, keys: spec.keys })) return undefined;
      this.#stats.readsFromStorage++;
      const record = this.#storage.get(key);
      return record === undefined ? [] : [record];
    }
    const where = this.#indexes.storageRecordsSpec(spec);
    this.#keyTypes.checkSpec(where);
    if (!this.#nothingInvalid() && !this.#isValidNow(where)) return undefined;
    this.#stats.readsFromStorage++;
    return this.#storage.getRecords(where);
  }

  /** Like `getRecords`, streamed; what comes from storage is a snapshot taken when the read starts. */
  async *streamRecords(spec: S | PrimaryKeysSpec<K>, options: CallOptions = {}): AsyncGenerator<R, void, undefined> {
    this.#assertOpen();
    this.#indexes.validateSpec(spec);
    const signal = options.signal;
    for (const piece of await this.#read(spec, signal)) {
      if ('records' in piece) yield* piece.records;
      else yield* abortableItems(this.#query(piece.query, 'read'), signal);
    }
  }

  /** The first record matching `spec`; rejects with `RecordNotFoundError` when there is none. */
  async getFirstRecord(spec: S | PrimaryKeysSpec<K>, options: CallOptions = {}): Promise<R> {
    // The common case, a covered and valid read, is answered without awaiting anything.
    const now = this.getRecordsSync(spec); // validates the spec for #read too
    if (now !== undefined) {
      if (now.length > 0) return now[0] as R;
      throw new RecordNotFoundError(spec);
    }
    const signal = options.signal;
    for (const piece of await this.#read(spec, signal)) {
      if ('records' in piece) {
        if (piece.records.length > 0) return piece.records[0] as R;
      } else {
        for await (const record of abortableItems(this.#query(piece.query, 'read'), signal)) return record;
      }
    }
    throw new RecordNotFoundError(spec);
  }

  /**
   * Declares that what storage holds for `oldSpecs` is stale and that the database rows of
   * `newSpecs` must be (re)loaded. Every read that starts after this call sees the refreshed
   * state. Every spec is checked before anything is marked, so a bad spec loses nothing; a key
   * of another type than the index's keys, which could never match a stored record, throws
   * `KeyTypeError`.
   * The refresh drops what `oldSpecs` match and loads only `newSpecs`: rows that still exist
   * under an old spec must be named by a new one (the default, `newSpecs = oldSpecs`, does).
   */
  invalidateRecords(oldSpecs: readonly (S | PrimaryKeysSpec<K>)[], newSpecs: readonly (S | PrimaryKeysSpec<K>)[] = oldSpecs): void {
    this.#assertOpen();
    for (const specs of [oldSpecs, newSpecs]) {
      if (!Array.isArray(specs)) throw new MalformedSpecError(specs, 'invalidateRecords takes arrays of specs');
      for (const spec of specs) {
        this.#indexes.validateSpec(spec);
        this.#keyTypes.checkSpec(isPrimaryKeysSpec<K>(spec) ? primaryKeysWhere(spec.keys) : this.#indexes.storageRecordsSpec(spec));
      }
    }
    if (this.#loadState === 'idle' || this.#loadState === 'failed') return; // nothing is cached
    const generation = ++this.#generation;
    const pending = this.#pending;
    for (const spec of oldSpecs) {
      const where = this.#indexes.storageRecordsSpec(spec);
      if (where.kind === 'all' && where.filter === undefined) {
        pending.markEverything(generation);
        continue;
      }
      pending.markStaleSpec(where, generation);
      for (const record of this.#storage.getRecords(where)) {
        pending.markStaleRecord(this.#indexes.primaryKey(record), this.#indexKeys(record), generation);
      }
    }
    for (const spec of newSpecs) {
      if (isPrimaryKeysSpec(spec)) pending.reloadPrimaryKeys(spec.keys, generation);
      else pending.reloadSpec(spec as S, this.#indexes.storageRecordsSpec(spec), generation);
    }
    this.#publish('validity');
  }

  /** Refreshes everything invalid now, in as few queries as the invalidations allow. */
  refreshInvalid(): Promise<void> {
    if (this.#closed) return Promise.reject(new TableClosedError(this.name));
    this.#queuedRefresh ??= this.#writer.run(() => {
      this.#queuedRefresh = undefined;
      this.#running = this.#refresh();
      return this.#running;
    });
    return this.#untilClosed(this.#queuedRefresh);
  }

  /**
   * Keeps the table current from a change feed: each change is mapped to specs to invalidate
   * (see `WatchOptions`); a gap or a truncate invalidates everything. Resolves once the feed
   * receives changes and (for feeds that can tell) every mapped source table is checked to
   * send them; rejects with the feed's typed error listing what is missing otherwise. Watch
   * before `load` when you can: a table watched after loading cannot know what changed in
   * between, so it is invalidated whole once.
   */
  async watch(feed: ChangeFeed, options: WatchOptions<S | PrimaryKeysSpec<K>> = {}, call: CallOptions = {}): Promise<Unwatch> {
    this.#assertOpen();
    const signal = call.signal ?? options.signal;
    signal?.throwIfAborted();
    const watcher = new TableWatcher<S | PrimaryKeysSpec<K>>(
      {
        name: this.name,
        logger: this.#logger,
        decodeKeys: this.#db.decodeKeys?.bind(this.#db),
        invalidate: (specs) => this.invalidateRecords(specs),
        invalidateEverything: () => this.#invalidateEverything(),
        refreshInvalid: () => this.refreshInvalid(),
        trust: (state) => this.#trust(watcher, state),
      },
      feed,
      options,
    );
    this.#watchers.add(watcher);
    const unwatch = async () => {
      watcher.close();
      this.#watchers.delete(watcher);
      // A feed that was away may have missed changes: memory is not made trusted without a refresh.
      if (this.#distrustedBy.has(watcher) || this.#graceBy.has(watcher)) this.#invalidateEverything();
      this.#trust(watcher, 'live');
    };
    try {
      await waitFor(this.#untilClosed(watcher.start(signal)), { signal });
    } catch (error) {
      await unwatch();
      throw error;
    }
    if (this.#loadState === 'loading' || this.#loadState === 'loaded') watcher.invalidateEverything();
    return unwatch;
  }

  /**
   * The read-your-writes barrier: once it resolves, every change committed before the call is
   * visible to reads (refreshed already in eager mode, refreshed by the next read in lazy mode).
   * Rejects with `SyncTimeoutError` after `timeoutMs` (default: the table's `syncTimeoutMs`),
   * with the signal's reason when aborted, and with `TableClosedError` when the table closes.
   * It never resolves while a change could have been missed.
   */
  async sync(options: WaitOptions = {}): Promise<void> {
    this.#assertOpen();
    const { signal } = options;
    signal?.throwIfAborted();
    const timeoutMs = options.timeoutMs ?? this.#syncTimeoutMs;
    if (!isTimeout(timeoutMs))
      throw new InvalidOptionsError(`timeoutMs must be a positive number of milliseconds a timer can wait; got ${String(timeoutMs)}`);
    const synced = Promise.all([...this.#watchers].map((watcher) => watcher.sync({ timeoutMs, ...(signal && { signal }) })));
    await waitFor(this.#untilClosed(synced), {
      signal,
      timeoutMs,
      timeoutError: () => new SyncTimeoutError(`table '${this.name}'`, timeoutMs),
    });
  }

  /** Moves what is cached to `spec`'s coverage: what leaves expires, what enters is loaded. */
  async adjust(spec: S): Promise<void> {
    this.#assertOpen();
    this.#indexes.validateSpec(spec);
    if (this.#loadState === 'loading') await this.#untilClosed(this.#loading?.catch(() => undefined) ?? Promise.resolve());
    if (this.#loadState !== 'loaded') throw new NotLoadedError(this.name);
    const adjusting = this.#writer.run(async () => {
      const readsStart = this.#generation;
      const adjustment = this.#indexes.prepareAdjustment(spec);
      const scratch = this.#storage.scratch();
      if (adjustment.expire !== undefined) this.#expire(scratch, adjustment.expire);
      const check = duplicateCheck(adjustment.load.length);
      for (const query of adjustment.load) await this.#putRows(scratch, query, 'adjust', () => true, check);
      this.#assertOpen();
      this.#commit(
        () => {
          scratch.commit();
          adjustment.commit();
          this.#markStaleArrivals(readsStart);
        },
        'coverage',
        'validity',
      );
    });
    await this.#untilClosed(adjusting);
  }

  /** Stops watching and serving: storage is emptied and every later call rejects with `TableClosedError`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const watcher of this.#watchers) watcher.close();
    this.#watchers.clear();
    this.#commit(() => this.#storage.clear(), 'status');
    this.#stopServing?.();
    const closed = new TableClosedError(this.name);
    this.#loadedSignal.reject(closed);
    for (const reject of this.#closeWaiters) reject(closed);
    this.#closeWaiters.clear();
  }

  /** `promise`, or `TableClosedError` as soon as the table closes. */
  #untilClosed<T>(promise: Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new TableClosedError(this.name));
    return new Promise<T>((resolve, reject) => {
      this.#closeWaiters.add(reject);
      promise.then(
        (value) => {
          this.#closeWaiters.delete(reject);
          resolve(value);
        },
        (error: unknown) => {
          this.#closeWaiters.delete(reject);
          reject(error);
        },
      );
    });
  }

  #newInvalidationSet(): InvalidationSet<R, S> {
    const ranges = this.#storageIndexes.filter(([, definition]) => definition.kind === 'range');
    return new InvalidationSet(new Set(ranges.map(([name]) => name)));
  }

  #invalidateEverything(): void {
    if (this.#closed || this.#loadState === 'idle' || this.#loadState === 'failed') return;
    this.#pending.markEverything(++this.#generation);
    this.#publish('validity');
  }

  /**
   * What a watcher says of its feed. `distrusted`: the feed lost its connection (and its grace is
   * over), so changes may be going unseen: everything is invalid, and reads go to the database
   * rather than refresh memory that could go stale again at once. `grace`: lost, but memory may
   * still be served for a while. `live`: the feed is back (its gap invalidates everything).
   */
  #trust(watcher: TableWatcher<S | PrimaryKeysSpec<K>>, state: 'live' | 'grace' | 'distrusted'): void {
    this.#graceBy.delete(watcher);
    this.#distrustedBy.delete(watcher);
    if (state === 'grace') this.#graceBy.add(watcher);
    if (state === 'distrusted') {
      this.#distrustedBy.add(watcher);
      this.#invalidateEverything();
    }
    this.#publish('status');
  }

  /**
   * Where each piece of a read comes from, in order: the whole spec when it is covered or not at
   * all, or the pieces the indexes split it into. Covered pieces wait for refreshes of what they
   * touch; coverage is asked again after every wait, since an adjust may have moved it.
   */
  async #plan<T>(spec: S | PrimaryKeysSpec<K>, signal: AbortSignal | undefined, take: (plans: readonly ReadPlan<R>[]) => T): Promise<T> {
    const generation = this.#generation;
    signal?.throwIfAborted(); // a caller that gave up starts no refresh
    if (this.#loadState === 'loading')
      await waitFor(this.#untilClosed(this.#loading?.catch(() => undefined) ?? Promise.resolve()), { signal });
    for (;;) {
      this.#assertOpen();
      const distrusted = this.#distrustedBy.size > 0;
      const pieces = this.#indexes.covers(spec) ? [{ spec, covered: true }] : (this.#indexes.split?.(spec) ?? [{ spec, covered: false }]);
      const plans: ReadPlan<R>[] = [];
      let wait: Promise<void> | undefined;
      for (const piece of pieces) {
        const where = piece.covered ? this.#indexes.storageRecordsSpec(piece.spec) : undefined;
        if (where !== undefined) this.#keyTypes.checkSpec(where);
        // Not in memory, or memory not trusted while the feed is away: the database answers.
        if (where === undefined || distrusted) {
          const query = this.#indexes.dbQuery(piece.spec);
          if (query !== undefined) {
            plans.push({ from: 'db', query });
            continue;
          }
          if (where !== undefined) throw new FeedDisconnectedError(this.name, piece.spec);
          throw new MalformedSpecError(piece.spec, 'this table has no database query for it, and memory does not cover it');
        }
        if (this.#pending.intersects(where, generation)) wait = this.refreshInvalid();
        else if (this.#inFlight?.intersects(where, generation)) wait = this.#running;
        if (wait !== undefined) break;
        plans.push({ from: 'storage', spec: where });
      }
      if (wait !== undefined) {
        await waitFor(this.#untilClosed(wait), { signal });
        continue;
      }
      for (const plan of plans) this.#stats[plan.from === 'storage' ? 'readsFromStorage' : 'readsFromDatabase']++;
      return take(plans); // in the same step as the checks above
    }
  }

  /**
   * The pieces of a read of a checked spec, with what storage holds for them taken in the same step as
   * the plan that found them valid: no adjust or refresh can commit in between, however long the
   * database pieces take afterwards.
   */
  async #read(spec: S | PrimaryKeysSpec<K>, signal: AbortSignal | undefined): Promise<ReadPiece<R>[]> {
    return this.#plan(spec, signal, (plans) =>
      plans.map((plan) => (plan.from === 'storage' ? { records: this.#storage.getRecords(plan.spec) } : { query: plan.query })),
    );
  }

  async #refresh(): Promise<void> {
    const readsStart = this.#generation;
    if (this.#pending.isEmpty || this.#closed) return;
    const batch = this.#pending;
    this.#pending = this.#newInvalidationSet();
    this.#inFlight = batch;
    this.#stats.refreshes++;
    const queriesBefore = this.#stats.queries;
    try {
      const scratch = this.#storage.scratch();
      const covered = (record: R) => this.#indexes.coversRecord(record);
      const queries = this.#reloadQueries(batch);
      if (queries === undefined) {
        scratch.clear();
        const specs = this.#indexes.loadedSpecs().flatMap((loaded) => this.#chunked(loaded));
        const check = duplicateCheck(specs.length);
        for (const spec of specs) await this.#putRows(scratch, this.#queryFor(spec), 'refresh', covered, check);
      } else {
        for (const { where } of batch.staleSpecs) this.#expire(scratch, where);
        // A primary key's rows in the database are the whole truth about it: what is stored
        // under it goes, and comes back only if the database still has it.
        for (const key of batch.reloadKeys.values()) scratch.delete(key);
        // These queries may overlap (a key and a range holding it).
        for (const query of queries) await this.#putRows(scratch, query, 'refresh', covered, 'each-query');
      }
      this.#assertOpen();
      this.#commit(() => {
        scratch.commit();
        this.#inFlight = undefined; // committed: what readers must wait for is what is pending now
        this.#markStaleArrivals(readsStart);
      }, 'validity');
    } catch (error) {
      // Nothing was committed: the batch is pending again, with whatever arrived meanwhile.
      batch.absorb(this.#pending);
      this.#pending = batch;
      this.#inFlight = undefined;
      this.#publish('validity');
      throw error;
    } finally {
      this.#stats.refreshQueries += this.#stats.queries - queriesBefore;
      this.#inFlight = undefined;
      this.#running = undefined;
    }
  }

  /** A query's rows; what the database throws reaches the caller as `DatabaseError` with it as the cause. */
  async *#query(query: Query<R>, operation: string): AsyncGenerator<R, void, undefined> {
    for await (const batch of this.#batches(query, operation)) yield* batch;
  }

  async *#batches(query: Query<R>, operation: string): AsyncGenerator<readonly R[], void, undefined> {
    this.#stats.queries++;
    try {
      if (this.#db.getRecordBatches !== undefined) {
        yield* this.#db.getRecordBatches(query);
        return;
      }
      for await (const record of this.#db.getRecords(query)) yield [record];
    } catch (error) {
      throw error instanceof TablecacheError ? error : new DatabaseError(this.name, operation, error);
    }
  }

  /**
   * The queries that reload a batch: primary keys in chunks, then the other specs. Undefined when
   * the whole table must be reloaded instead: everything was invalidated, or some spec has no
   * query of its own (e.g. keys without `querySome`).
   */
  #reloadQueries(batch: InvalidationSet<R, S>): Query<R>[] | undefined {
    if (batch.everything !== undefined) return undefined;
    const queries: (Query<R> | undefined)[] = [];
    for (const keys of chunks(batch.reloadKeys.values(), this.#maxKeysPerQuery)) {
      queries.push(this.#indexes.dbQuery({ index: PRIMARY_KEY_INDEX, keys: keys as K[] }));
    }
    const specs = this.#indexes.coalesce?.(batch.reloadSpecs) ?? batch.reloadSpecs;
    for (const spec of specs.flatMap((coalesced) => this.#chunked(coalesced))) queries.push(this.#indexes.dbQuery(spec));
    return queries.every((query) => query !== undefined) ? queries : undefined;
  }

  /** A spec of more keys than `maxKeysPerQuery` (any index's), cut into specs that are not. */
  #chunked(spec: S): S[] {
    const keys = (spec as { keys?: unknown }).keys;
    if (!Array.isArray(keys) || keys.length <= this.#maxKeysPerQuery) return [spec];
    return [...chunks(keys, this.#maxKeysPerQuery)].map((part) => ({ ...spec, keys: part }));
  }

  #queryFor(spec: S): Query<R> {
    const query = this.#indexes.dbQuery(spec);
    if (query === undefined) throw new MalformedSpecError(spec, 'the indexes give no database query for what they loaded');
    return query;
  }

  /**
   * Writes a query's rows that `keep` accepts into storage (a load) or a scratch space, refusing
   * a primary key the database repeated (see `DuplicateCheck`).
   */
  async #putRows(
    into: Pick<ScratchSpace<R>, 'put'>,
    query: Query<R>,
    operation: string,
    keep: (record: R) => boolean,
    check: DuplicateCheck,
    signal?: AbortSignal,
  ): Promise<void> {
    const seen = check === 'each-query' ? new Set<HashKey>() : undefined;
    for await (const batch of abortableItems(this.#batches(query, operation), signal)) {
      this.#assertOpen();
      this.#learnKeyTypes(batch);
      for (const record of batch) {
        if (seen !== undefined) this.#checkNotSeen(seen, record);
        if (!keep(record)) continue;
        if (into.put(record) && seen === undefined) throw new DuplicateKeyError(this.name, this.#indexes.primaryKey(record));
      }
    }
  }

  /** Throws `DuplicateKeyError` when the record's key is in `seen`; adds it otherwise. */
  #checkNotSeen(seen: Set<HashKey>, record: R): void {
    const key = this.#indexes.primaryKey(record);
    const h = hashKey(key);
    if (seen.has(h)) throw new DuplicateKeyError(this.name, key);
    seen.add(h);
  }

  /**
   * Learns the key types from the first record of a batch: a table's keys are of one type, so a
   * sample per batch costs nothing and finds a table whose key function mixes types.
   */
  #learnKeyTypes(batch: readonly R[]): void {
    const [first] = batch;
    if (first !== undefined && this.#keyTypes.learn(this.#indexes.primaryKey(first), this.#indexKeys(first))) this.#keyTypesLearned = true;
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
    try {
      this.#keyTypes.checkSpec(primaryKeysWhere([...pending.reloadKeys.values()]));
      for (const { where } of pending.staleSpecs) this.#keyTypes.checkSpec(where);
    } catch (error) {
      pending.markEverything(this.#generation);
      this.#logger.warn(
        `table '${this.name}': ${describeError(error)}, in an invalidation made before the table held records; the whole table was invalidated`,
      );
    }
  }

  #expire(scratch: ScratchSpace<R>, spec: StorageRecordsSpec<R>): void {
    if (spec.kind === 'all' && spec.filter === undefined) {
      scratch.clear();
      return;
    }
    for (const record of this.#storage.getRecords(spec)) scratch.delete(this.#indexes.primaryKey(record));
  }

  /**
   * An invalidation marks the records stored when it is made, in every index. A load, refresh
   * or adjust whose reads started before it may commit records that fall under its stale specs
   * (read before the change): marked now, reads through any index see them as invalid too.
   * Invalidations from before `readsStart` need no second look: those reads came after them.
   */
  #markStaleArrivals(readsStart: number): void {
    this.#checkPendingKeyTypes();
    const pending = this.#pending;
    for (const { where, generation } of pending.staleSpecs) {
      if (generation <= readsStart) continue;
      for (const record of this.#storage.getRecords(where)) {
        pending.markStaleRecord(this.#indexes.primaryKey(record), this.#indexKeys(record), generation);
      }
    }
  }

  #indexKeys(record: R): (readonly [string, Key])[] {
    return this.#storageIndexes.map(([name, definition]) => [name, definition.key(record)] as const);
  }

  /** The common case, checked without building a storage spec: no invalidation is waiting or being refreshed. */
  #nothingInvalid(): boolean {
    return this.#pending.isEmpty && this.#inFlight === undefined;
  }

  /** Whether storage may serve `where` now: no invalidation made so far touches it. */
  #isValidNow(where: StorageRecordsSpec<R>): boolean {
    const generation = this.#generation;
    return !this.#pending.intersects(where, generation) && !this.#inFlight?.intersects(where, generation);
  }

  #assertOpen(): void {
    if (this.#closed) throw new TableClosedError(this.name);
  }

  /**
   * Makes a change that readers on other threads must see whole (records with the coverage and
   * validity they belong to), and publishes the slots of state it changes in the same step.
   */
  #commit(change: () => void, ...slots: PublishedSlot[]): void {
    const shared = this.#shared;
    if (shared === undefined) change();
    else
      shared.atomically(() => {
        change();
        this.#publish(...slots);
      });
  }

  /** Publishes slots of the table's state to readers on other threads (none: nothing to do). */
  #publish(...slots: PublishedSlot[]): void {
    const shared = this.#shared;
    if (shared === undefined) return;
    shared.atomically(() => {
      for (const slot of slots) {
        if (slot === 'status') shared.publish(slot, this.#publishedStatus());
        else if (slot === 'coverage') shared.publish(slot, this.#indexes.loadedSpecs());
        else shared.publish(slot, this.#publishedValidity());
      }
    });
  }

  #publishedStatus(): PublishedTableState['status'] {
    return { load: this.#closed ? 'closed' : this.#loadState, trusted: this.#distrustedBy.size === 0 };
  }

  #publishedValidity(): PublishedTableState['validity'] {
    const inFlight = this.#inFlight;
    return inFlight === undefined ? [this.#pending.snapshot()] : [this.#pending.snapshot(), inFlight.snapshot()];
  }
}

function isPrimaryKeysSpec<K extends Key>(spec: IndexSpec): spec is PrimaryKeysSpec<K> {
  return spec.index === PRIMARY_KEY_INDEX && 'keys' in spec;
}

function primaryKeysWhere(keys: readonly Key[]): StorageRecordsSpec<never> {
  return { kind: 'keys', index: PRIMARY_KEY_INDEX, keys };
}

function* chunks<T>(values: Iterable<T>, size: number): Generator<T[]> {
  let chunk: T[] = [];
  for (const value of values) {
    chunk.push(value);
    if (chunk.length === size) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk;
}
