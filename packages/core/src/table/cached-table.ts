import type { ChangeFeed, WaitOptions } from '../change-feed/change-feed.js';
import { formatSourceTable, type InvalidationPlan, type SourcePlan } from '../change-feed/invalidation-plan.js';
import type { DbAccess } from '../db-access/db-access.js';
import {
  AlreadyLoadedError,
  FeedDisconnectedError,
  InvalidOptionsError,
  MalformedSpecError,
  NotLoadedError,
  RecordNotFoundError,
  SyncTimeoutError,
  TableClosedError,
} from '../errors/errors.js';
import type { Indexes, IndexSpec, PrimaryKeysSpec } from '../indexes/indexes.js';
import { resolveMeter } from '../instrumentation/instruments.js';
import type { MeterProviderLike } from '../instrumentation/opentelemetry-shapes.js';
import { TableMetrics } from '../instrumentation/table-metrics.js';
import { traced, tracedItems } from '../instrumentation/tracing.js';
import { assertKey, isPlainKey, type Key } from '../key/key.js';
import { consoleLogger, describeError, isLogger, type Logger, RateLimitedLogger } from '../logging/logger.js';
import type { Query } from '../query/query.js';
import { PRIMARY_KEY_INDEX, type StorageRecordsSpec, type StorageTable } from '../storage/storage-table.js';
import { linkIndexName, linkSpecs, planInUse, quotedSourceName, sourceNamed } from './auto-invalidation.js';
import { InvalidationBooks, isPrimaryKeysSpec, primaryKeysWhere } from './invalidation-books.js';
import { KeyTypes } from './key-types.js';
import { LINK_INDEX_PREFIX, LinkedIndexes, type LinkSpec } from './linked-indexes.js';
import { type LoadProgress, RefreshEngine } from './refresh-engine.js';
import { SerialQueue } from './serial-queue.js';
import { SharedStatePublisher } from './shared-state-publisher.js';
import { TableQueries } from './table-queries.js';
import { type TableMapping, TableWatcher, type Unwatch, type WatchOptions } from './table-watcher.js';
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
  /**
   * Where the table's metrics go (an OpenTelemetry `MeterProvider`); `false`: nowhere. Default:
   * the global provider of `@opentelemetry/api` when the application has the package, else none
   * (nothing is measured). Reads are counted in plain fields and observed at collection, so
   * metrics cost a read nothing.
   */
  readonly meterProvider?: MeterProviderLike | false;
}

/** Options of a read, a load or a watch: a signal that stops waiting (the call rejects with its reason). */
export interface CallOptions {
  readonly signal?: AbortSignal;
}

/** Options of `load`. */
export interface LoadOptions extends CallOptions {
  /**
   * Called as the rows arrive (after each batch the database sends) and once more when the load
   * has committed (`done`). With it, the load first asks the database's planner how many rows to
   * expect (`expectedRows`, for a progress bar's total). A callback that throws is logged, not
   * fatal.
   */
  readonly onProgress?: (progress: LoadProgress) => void;
}

/** Counters of what a table has done since it was created. */
export interface CachedTableStats {
  /** Queries sent to the database, for any reason. */
  readonly queries: number;
  /** Refreshes that ran (each sends one query or more). */
  readonly refreshes: number;
  /** Queries sent by refreshes. */
  readonly refreshQueries: number;
  /** Rows refreshes wrote to storage: what the changes cost (a row-precise change, only the records it touches). */
  readonly refreshedRows: number;
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

/** Whether a watch's `tables` asks for `'auto'` anywhere. */
function usesAuto<S>(tables: WatchOptions<S>['tables']): tables is NonNullable<WatchOptions<S>['tables']> {
  return tables === 'auto' || (typeof tables === 'object' && tables !== null && Object.values(tables).includes('auto'));
}

/** What a watcher's mappings return: the user's specs, or the link specs of `tables: 'auto'`. */
type FeedSpec<S, K extends Key> = S | PrimaryKeysSpec<K> | LinkSpec;

/** Where a read is served from, decided after validation, coverage and waiting for refreshes. */
type ReadPlan<R> = { readonly from: 'storage'; readonly spec: StorageRecordsSpec<R> } | { readonly from: 'db'; readonly query: Query<R> };

/** A piece of a read: records already taken from storage, or a query still to run. */
type ReadPiece<R> = { readonly records: R[] } | { readonly query: Query<R> };

/**
 * A database query mirrored into storage, read through indexes, kept correct by invalidation:
 * a facade over the read path (here), the invalidation books (`InvalidationBooks`), the writes
 * (`RefreshEngine`), the watchers (`TableWatcher`) and what readers on other threads are told
 * (`SharedStatePublisher`).
 *
 * Writes to storage (load, refresh, adjust) run one at a time through a queue; a refresh or an
 * adjust writes to a scratch space and commits in one synchronous step, so a read sees the state
 * before or after it, never a mix. Reads never queue behind writes unless what they would read
 * is invalid.
 */
export class CachedTable<R, S extends IndexSpec, K extends Key = Key> {
  readonly name: string;
  readonly #indexes: Indexes<R, S, K>;
  /** The indexes the books and the engine work with: the user's, and the link indexes of `tables: 'auto'`. */
  readonly #linked: LinkedIndexes<R, S, K>;
  readonly #db: DbAccess;
  readonly #storage: StorageTable<R>;
  readonly #logger: Logger;
  readonly #syncTimeoutMs: number;
  readonly #writer = new SerialQueue();
  readonly #keyTypes = new KeyTypes();
  readonly #queries: TableQueries<R>;
  readonly #books: InvalidationBooks<R, S | LinkSpec, K>;
  readonly #engine: RefreshEngine<R, S | LinkSpec, K>;
  readonly #publisher: SharedStatePublisher<R>;
  readonly #stopServing: (() => void) | undefined;
  readonly #reads = { fromStorage: 0, fromDatabase: 0 };
  readonly #metrics: TableMetrics;

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

  /** The refresh running now, until it commits or fails. */
  #running: Promise<void> | undefined;
  /** A refresh queued behind other writes; later callers join it rather than queue another. */
  #queuedRefresh: Promise<void> | undefined;
  readonly #watchers = new Set<TableWatcher<FeedSpec<S, K>>>();
  /** Watchers whose feed lost its connection and whose grace is over: memory is not trusted. */
  readonly #distrustedBy = new Set<TableWatcher<FeedSpec<S, K>>>();
  /** Watchers whose feed lost its connection, still within their grace. */
  readonly #graceBy = new Set<TableWatcher<FeedSpec<S, K>>>();
  /** The plan the latest `tables: 'auto'` watch follows. */
  #invalidationPlan: InvalidationPlan | undefined;

  constructor(indexes: Indexes<R, S, K>, db: DbAccess, storage: StorageTable<R>, options: CachedTableOptions = {}) {
    if (options.logger !== undefined && !isLogger(options.logger)) {
      throw new InvalidOptionsError('logger must have error, warn, info and debug methods (console and pino loggers do)');
    }
    const syncTimeoutMs = options.syncTimeoutMs ?? 30_000;
    if (!isTimeout(syncTimeoutMs)) {
      throw new InvalidOptionsError(`syncTimeoutMs must be a positive number of milliseconds; got ${String(options.syncTimeoutMs)}`);
    }
    this.#indexes = indexes;
    this.#linked = new LinkedIndexes(indexes, db);
    this.#db = db;
    this.#storage = storage;
    this.name = options.name ?? storage.name;
    this.#logger = options.logger ?? consoleLogger;
    this.#syncTimeoutMs = syncTimeoutMs;
    this.#metrics = new TableMetrics(resolveMeter(options.meterProvider), this.name, {
      records: () => storage.size,
      memoryBytes: () => this.#engine.memoryBytes(storage.size),
      invalidPending: () => this.#books.count(),
      reads: () => ({ memory: this.#reads.fromStorage, database: this.#reads.fromDatabase }),
    });
    this.#queries = new TableQueries(this.name, db, this.#metrics);
    this.#books = new InvalidationBooks({
      name: this.name,
      indexes: this.#linked,
      storage,
      keyTypes: this.#keyTypes,
      logger: this.#logger,
    });
    // Memory stays full while changes keep coming: one line per slot every 10 s, not one per change.
    const unpublished = new RateLimitedLogger(this.#logger);
    this.#publisher = new SharedStatePublisher(
      storage,
      {
        status: () => ({ load: this.#closed ? 'closed' : this.#loadState, trusted: this.#distrustedBy.size === 0 }),
        coverage: () => indexes.loadedSpecs(),
        validity: () => this.#books.snapshot(),
        keyTypes: () => this.#keyTypes.toData(),
      },
      (slot, error) =>
        unpublished.log(
          'error',
          `unpublished ${slot}`,
          `table '${this.name}': its ${slot} could not be published to readers on other threads (${describeError(error)}); they ask this thread instead until it is`,
        ),
    );
    this.#engine = new RefreshEngine({
      name: this.name,
      indexes: this.#linked,
      storage,
      queries: this.#queries,
      books: this.#books,
      keyTypes: this.#keyTypes,
      publisher: this.#publisher,
      maxKeysPerQuery: options.maxKeysPerQuery ?? 10_000,
      metrics: this.#metrics,
      assertOpen: () => this.#assertOpen(),
      reloadsHeld: (where) => where.kind === 'keys' && this.#linked.hasLink(where.index),
    });
    this.#publisher.publish('status', 'coverage', 'validity', 'keyTypes');
    this.#stopServing = this.#publisher.serve({
      name: this.name,
      getRecords: (spec, call) => this.getRecords(spec as S, call),
      getFirstRecord: (spec, call) => this.getFirstRecord(spec as S, call),
      sync: (call) => this.sync(call),
    });
  }

  get stats(): CachedTableStats {
    return {
      queries: this.#queries.count,
      refreshes: this.#engine.refreshes,
      refreshQueries: this.#engine.refreshQueries,
      refreshedRows: this.#engine.refreshedRows,
      readsFromStorage: this.#reads.fromStorage,
      readsFromDatabase: this.#reads.fromDatabase,
    };
  }

  get status(): CachedTableStatus {
    return {
      load: this.#closed ? 'closed' : this.#loadState,
      feed:
        this.#watchers.size === 0 ? 'unwatched' : this.#distrustedBy.size > 0 ? 'disconnected' : this.#graceBy.size > 0 ? 'grace' : 'live',
      invalid: !this.#books.nothingInvalid,
    };
  }

  /**
   * Fills the empty table with the records of `spec` (e.g. `{ index: 'primaryKey', all: true }`).
   * An aborted signal stops the load: the table stays empty and `loaded()` rejects too.
   * `onProgress` reports the rows and bytes written as batches arrive.
   */
  async load(spec: S, options: LoadOptions = {}): Promise<void> {
    this.#assertOpen();
    this.#indexes.validateSpec(spec);
    const { signal, onProgress } = options;
    signal?.throwIfAborted();
    if (onProgress !== undefined && typeof onProgress !== 'function') throw new InvalidOptionsError('onProgress must be a function');
    if (this.#loadState === 'loading' || this.#loadState === 'loaded') throw new AlreadyLoadedError(this.name);
    if (this.#loadState === 'failed') this.#loadedSignal = new Signal();
    this.#loadState = 'loading';
    this.#publisher.publish('status');
    const loaded = this.#loadedSignal;
    this.#loading = this.#writer.run(async () => {
      try {
        await this.#engine.load(
          spec,
          signal,
          () => {
            this.#loadState = 'loaded';
          },
          onProgress && ((progress) => this.#reportProgress(onProgress, progress)),
        );
        loaded.resolve();
      } catch (error) {
        this.#publisher.commit(() => {
          this.#storage.clear();
          this.#loadState = 'failed';
        }, 'status');
        loaded.reject(error);
        throw error;
      }
    });
    return this.#untilClosed(this.#loading);
  }

  /** A progress callback's failure is the caller's bug, not the load's: logged, and the load goes on. */
  #reportProgress(onProgress: (progress: LoadProgress) => void, progress: LoadProgress): void {
    try {
      onProgress(progress);
    } catch (error) {
      this.#logger.warn(`table '${this.name}': load's onProgress threw: ${describeError(error)}`);
    }
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
      else for await (const record of this.#databaseRead(spec, piece.query, signal)) records.push(record);
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
    if (!this.#books.nothingInvalid && !this.#books.isValidNow({ kind: 'keys', index: PRIMARY_KEY_INDEX, keys: [primaryKey] }))
      return undefined;
    this.#reads.fromStorage++;
    return record;
  }

  /** `getRecordsSync` for a spec already checked. */
  #fromMemoryNow(spec: S | PrimaryKeysSpec<K>): R[] | undefined {
    if (this.#loadState !== 'loaded' || this.#distrustedBy.size > 0 || !this.#indexes.covers(spec)) return undefined;
    // The hottest read, one primary key, goes straight to storage's map.
    if (isPrimaryKeysSpec<K>(spec) && spec.keys.length === 1) {
      const key = spec.keys[0] as K;
      this.#keyTypes.checkPrimaryKey(key);
      if (!this.#books.nothingInvalid && !this.#books.isValidNow({ kind: 'keys', index: PRIMARY_KEY_INDEX, keys: spec.keys }))
        return undefined;
      this.#reads.fromStorage++;
      const record = this.#storage.get(key);
      return record === undefined ? [] : [record];
    }
    const where = this.#indexes.storageRecordsSpec(spec);
    this.#keyTypes.checkSpec(where);
    if (!this.#books.nothingInvalid && !this.#books.isValidNow(where)) return undefined;
    this.#reads.fromStorage++;
    return this.#storage.getRecords(where);
  }

  /** The rows of a read memory cannot serve, from the database, traced as a database read. */
  #databaseRead(spec: S | PrimaryKeysSpec<K>, query: Query<R>, signal: AbortSignal | undefined): AsyncIterable<R> {
    return tracedItems({ operation: 'dbRead', table: this.name, spec }, abortableItems(this.#queries.records(query, 'read'), signal));
  }

  /** Like `getRecords`, streamed; what comes from storage is a snapshot taken when the read starts. */
  async *streamRecords(spec: S | PrimaryKeysSpec<K>, options: CallOptions = {}): AsyncGenerator<R, void, undefined> {
    this.#assertOpen();
    this.#indexes.validateSpec(spec);
    const signal = options.signal;
    for (const piece of await this.#read(spec, signal)) {
      if ('records' in piece) yield* piece.records;
      else yield* this.#databaseRead(spec, piece.query, signal);
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
        for await (const record of this.#databaseRead(spec, piece.query, signal)) return record;
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
    this.#invalidate(this.#indexes, oldSpecs, newSpecs);
  }

  /**
   * `invalidateRecords`, with specs checked by `indexes`: the user's for the public call, the
   * linked ones (which also take the link specs of `tables: 'auto'`) for a watcher's.
   */
  #invalidate<T extends IndexSpec>(
    indexes: Indexes<R, T, K>,
    oldSpecs: readonly (T | PrimaryKeysSpec<K>)[],
    newSpecs: readonly (T | PrimaryKeysSpec<K>)[],
  ): void {
    this.#assertOpen();
    for (const specs of [oldSpecs, newSpecs]) {
      if (!Array.isArray(specs)) throw new MalformedSpecError(specs, 'invalidateRecords takes arrays of specs');
      for (const spec of specs) {
        indexes.validateSpec(spec);
        this.#keyTypes.checkSpec(isPrimaryKeysSpec<K>(spec) ? primaryKeysWhere(spec.keys) : indexes.storageRecordsSpec(spec));
      }
    }
    if (this.#loadState === 'idle' || this.#loadState === 'failed') return; // nothing is cached
    // Checked above by indexes that are the user's or the linked ones, whose specs these are.
    this.#books.invalidate(oldSpecs as readonly FeedSpec<S, K>[], newSpecs as readonly FeedSpec<S, K>[]);
    this.#publisher.publish('validity');
  }

  /** Refreshes everything invalid now, in as few queries as the invalidations allow. */
  refreshInvalid(): Promise<void> {
    if (this.#closed) return Promise.reject(new TableClosedError(this.name));
    this.#queuedRefresh ??= this.#writer.run(() => {
      this.#queuedRefresh = undefined;
      if (this.#closed) return Promise.resolve();
      const running = this.#engine.refresh().finally(() => {
        this.#running = undefined;
      });
      this.#running = running;
      return running;
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
    const given = options.tables;
    // Without 'auto' nothing is awaited before subscribing (anything else is the watcher's to check).
    const tables = usesAuto(given)
      ? await waitFor(this.#untilClosed(this.#mappings(given)), { signal })
      : (given as Readonly<Record<string, TableMapping<FeedSpec<S, K>>>> | undefined);
    const watcher = new TableWatcher<FeedSpec<S, K>>(
      {
        name: this.name,
        logger: this.#logger,
        decodeKeys: this.#db.decodeKeys?.bind(this.#db),
        invalidate: (specs) => this.#invalidate(this.#linked, specs, specs),
        invalidateEverything: () => this.#invalidateEverything(),
        refreshInvalid: () => this.refreshInvalid(),
        trust: (state) => this.#trust(watcher, state),
        changeVisible: (committedAt) => this.#metrics.changeVisible(committedAt),
      },
      feed,
      { ...options, tables },
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
   * The invalidation plan `watch(feed, { tables: 'auto' })` follows: which tables the query
   * reads and, for each, row-precise through which output columns or whole-table and why
   * (including where the storage cannot index the records: then whole-table). After such a watch,
   * the plan it follows; before, the one it would follow, asked of the database now. Print it
   * with `describePlan`. Rejects with `InvalidOptionsError` when the table cannot have one (see
   * `tables: 'auto'`).
   */
  async describeInvalidation(): Promise<InvalidationPlan> {
    this.#assertOpen();
    return this.#invalidationPlan ?? (await this.#untilClosed(this.#explain())).plan;
  }

  /**
   * A watch's `tables` with every `'auto'` resolved: row-precise sources mapped to link specs
   * (their link indexes added to storage first), whole-table ones to `true`. Hand-written
   * mappings pass unchanged, but next to `'auto'` each must name a table the query reads.
   */
  async #mappings(
    tables: NonNullable<WatchOptions<S | PrimaryKeysSpec<K>>['tables']>,
  ): Promise<Readonly<Record<string, TableMapping<FeedSpec<S, K>>>>> {
    const { source, plan } = await this.#explain();
    for (const opaque of plan.opaque) {
      this.#logger.warn(`table '${this.name}': its query reads ${opaque.what}, whose changes no feed reports (${opaque.because})`);
    }
    const mappings: [string, TableMapping<FeedSpec<S, K>>][] = [];
    const entries =
      tables === 'auto' ? plan.sources.map((each) => [quotedSourceName(each.table), 'auto'] as const) : Object.entries(tables);
    /** Each source as this watch follows it: planned (`'auto'`), mapped by hand, or left out. */
    const inUse = new Map<string, SourcePlan>(plan.sources.map((each) => [formatSourceTable(each.table), each]));
    for (const [name] of entries) sourceNamed(plan, name); // every name is checked before storage changes
    const named = new Set<string>();
    for (const [name, mapping] of entries) {
      const planned = sourceNamed(plan, name);
      named.add(formatSourceTable(planned.table));
      if (mapping !== 'auto') {
        mappings.push([name, mapping]);
        inUse.set(formatSourceTable(planned.table), {
          table: planned.table,
          how: 'mapped',
          aliases: planned.aliases,
          because: mapping === true ? 'every change invalidates the whole table' : "by the watch's own function",
        });
      } else if (planned.how !== 'rows') mappings.push([quotedSourceName(planned.table), true]);
      else {
        for (const link of planned.links) await this.#addLinkIndex(link, source);
        mappings.push([
          quotedSourceName(planned.table),
          (change) => {
            this.#linked.assertLinkable();
            return linkSpecs(planned, change);
          },
        ]);
      }
    }
    const unnamed = plan.sources.filter((each) => !named.has(formatSourceTable(each.table)));
    if (unnamed.length > 0) {
      // As with hand-written mappings, a table left out is not watched: said once, never silent.
      const tables = [...new Set(unnamed.map((each) => formatSourceTable(each.table)))];
      this.#logger.warn(
        `table '${this.name}': its query also reads ${tables.join(', ')}, which tables does not name: changes there are not seen (name them, 'auto' included)`,
      );
      for (const each of unnamed) {
        inUse.set(formatSourceTable(each.table), {
          table: each.table,
          how: 'unwatched',
          aliases: each.aliases,
          because: 'tables does not name it',
        });
      }
    }
    this.#invalidationPlan = { ...plan, sources: [...inUse.values()] };
    return Object.fromEntries(mappings);
  }

  /** The plan `tables: 'auto'` follows, and the query it is of. */
  async #explain(): Promise<{ readonly source: Query<R>; readonly plan: InvalidationPlan }> {
    const source = this.#indexes.sourceQuery?.();
    if (source === undefined) {
      throw new InvalidOptionsError(
        `tables: 'auto' needs the query of every record, to ask the database what it reads: give the indexes a queryAll (or implement sourceQuery()), or map each table by hand`,
      );
    }
    if (this.#db.explainInvalidation === undefined || this.#db.linkQuery === undefined) {
      throw new InvalidOptionsError(
        `tables: 'auto' needs a DbAccess with explainInvalidation and linkQuery (PostgresAccess has them), or a hand-written mapping per table`,
      );
    }
    const plan = await this.#db.explainInvalidation(source);
    return { source, plan: planInUse(plan, this.#storage.addIndex !== undefined) };
  }

  /** Adds the storage index over a source's link columns (once; sources linked through the same columns share it). */
  async #addLinkIndex(columns: readonly string[], source: Query<R>): Promise<void> {
    const name = linkIndexName(columns);
    if (this.#linked.hasLink(name)) return;
    if (this.#indexes.indexNames.includes(name) || Object.hasOwn(this.#indexes.storageIndexes, name)) {
      throw new InvalidOptionsError(
        `the table has an index named '${name}': names starting with '${LINK_INDEX_PREFIX}' are for tables: 'auto'`,
      );
    }
    const definition = this.#linked.linkIndexDefinition(columns);
    // Through the write queue, so that no load or refresh writes storage meanwhile.
    await this.#writer.run(async () => this.#storage.addIndex?.(name, definition));
    this.#linked.addLink(name, columns, source);
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
    await traced({ operation: 'sync', table: this.name }, async () => {
      const synced = Promise.all([...this.#watchers].map((watcher) => watcher.sync({ timeoutMs, ...(signal && { signal }) })));
      await waitFor(this.#untilClosed(synced), {
        signal,
        timeoutMs,
        timeoutError: () => new SyncTimeoutError(`table '${this.name}'`, timeoutMs),
      });
    });
  }

  /** Moves what is cached to `spec`'s coverage: what leaves expires, what enters is loaded. */
  async adjust(spec: S): Promise<void> {
    this.#assertOpen();
    this.#indexes.validateSpec(spec);
    if (this.#loadState === 'loading') await this.#untilClosed(this.#loading?.catch(() => undefined) ?? Promise.resolve());
    if (this.#loadState !== 'loaded') throw new NotLoadedError(this.name);
    const adjusting = this.#writer.run(() => this.#engine.adjust(spec));
    await this.#untilClosed(adjusting);
  }

  /** Stops watching and serving: storage is emptied and every later call rejects with `TableClosedError`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const watcher of this.#watchers) watcher.close();
    this.#watchers.clear();
    this.#publisher.commit(() => this.#storage.clear(), 'status');
    this.#stopServing?.();
    this.#metrics.close();
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

  #invalidateEverything(): void {
    if (this.#closed || this.#loadState === 'idle' || this.#loadState === 'failed') return;
    this.#books.invalidateEverything();
    this.#publisher.publish('validity');
  }

  /**
   * What a watcher says of its feed. `distrusted`: the feed lost its connection (and its grace is
   * over), so changes may be going unseen: everything is invalid, and reads go to the database
   * rather than refresh memory that could go stale again at once. `grace`: lost, but memory may
   * still be served for a while. `live`: the feed is back (its gap invalidates everything).
   */
  #trust(watcher: TableWatcher<FeedSpec<S, K>>, state: 'live' | 'grace' | 'distrusted'): void {
    this.#graceBy.delete(watcher);
    this.#distrustedBy.delete(watcher);
    if (state === 'grace') this.#graceBy.add(watcher);
    if (state === 'distrusted') {
      this.#distrustedBy.add(watcher);
      this.#invalidateEverything();
    }
    this.#publisher.publish('status');
  }

  /**
   * Where each piece of a read comes from, in order: the whole spec when it is covered or not at
   * all, or the pieces the indexes split it into. Covered pieces wait for refreshes of what they
   * touch; coverage is asked again after every wait, since an adjust may have moved it.
   */
  async #plan<T>(spec: S | PrimaryKeysSpec<K>, signal: AbortSignal | undefined, take: (plans: readonly ReadPlan<R>[]) => T): Promise<T> {
    const generation = this.#books.generation;
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
        const waitsFor = this.#books.waitsFor(where, generation);
        if (waitsFor === 'pending') wait = this.refreshInvalid();
        else if (waitsFor === 'inFlight') wait = this.#running;
        if (wait !== undefined) break;
        plans.push({ from: 'storage', spec: where });
      }
      if (wait !== undefined) {
        await waitFor(this.#untilClosed(wait), { signal });
        continue;
      }
      for (const plan of plans) this.#reads[plan.from === 'storage' ? 'fromStorage' : 'fromDatabase']++;
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

  #assertOpen(): void {
    if (this.#closed) throw new TableClosedError(this.name);
  }
}
