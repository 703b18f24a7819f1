import { DuplicateKeyError, MalformedSpecError } from '../errors/errors.js';
import type { Indexes, IndexSpec } from '../indexes/indexes.js';
import { RecordSizeSampler } from '../instrumentation/approximate-bytes.js';
import type { QueryReason, TableMetrics } from '../instrumentation/table-metrics.js';
import { type TraceContext, traced } from '../instrumentation/tracing.js';
import { type HashKey, hashKey, type Key } from '../key/key.js';
import type { Query } from '../query/query.js';
import { PRIMARY_KEY_INDEX, type ScratchSpace, type StorageRecordsSpec, type StorageTable } from '../storage/storage-table.js';
import type { InvalidationBooks } from './invalidation-books.js';
import type { InvalidationSet } from './invalidation-set.js';
import type { KeyTypes } from './key-types.js';
import type { SharedStatePublisher } from './shared-state-publisher.js';
import type { TableQueries } from './table-queries.js';
import { abortableItems } from './waits.js';

export interface RefreshEngineOptions<R, S extends IndexSpec, K extends Key> {
  readonly name: string;
  readonly indexes: Indexes<R, S, K>;
  readonly storage: StorageTable<R>;
  readonly queries: TableQueries<R>;
  readonly books: InvalidationBooks<R, S, K>;
  readonly keyTypes: KeyTypes;
  readonly publisher: SharedStatePublisher<R>;
  readonly maxKeysPerQuery: number;
  readonly metrics: TableMetrics;
  /** Throws `TableClosedError` once the table is closed: a write that gets there commits nothing. */
  readonly assertOpen: () => void;
  /**
   * Whether the records a stale spec matches when the refresh runs are also reloaded by primary
   * key when the refresh's queries do not bring them back: a link spec's records may still exist
   * without the changed row (a LEFT JOIN whose right-hand row went), and only their primary key
   * still finds them.
   */
  readonly reloadsHeld: (where: StorageRecordsSpec<R>) => boolean;
}

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

/** How far a load has got, as its batches arrive (see `LoadOptions.onProgress`). */
export interface LoadProgress {
  /** Rows written so far. */
  readonly rows: number;
  /** What they take in memory, estimated from sampled records (exact for storage that knows). */
  readonly bytes: number;
  /** Since the load started. */
  readonly elapsedMs: number;
  /** The rows the database's planner expects in all, when it can tell: a total for a progress bar, not a promise. */
  readonly expectedRows: number | undefined;
  /** The last report: the load has committed. */
  readonly done: boolean;
}

/** What a write may also ask of `#putRows`: a signal, the hashes of the primary keys returned, a call after each batch. */
interface PutOptions {
  readonly signal?: AbortSignal | undefined;
  readonly returned?: Set<HashKey>;
  readonly batchWritten?: (() => void) | undefined;
}

/** A write in progress: the rows it has written, reported to its trace and its measurements. */
interface WriteCount {
  rows: number;
}

/**
 * A table's writes: the load, adjusts and refreshes, each reading the database and committing to
 * storage in one synchronous step (the table runs them one at a time). A refresh reloads what
 * the invalidation books marked, in as few queries as they allow.
 */
export class RefreshEngine<R, S extends IndexSpec, K extends Key> {
  readonly #options: RefreshEngineOptions<R, S, K>;
  /** Refreshes that ran (each sends one query or more), and the queries they sent. */
  refreshes = 0;
  refreshQueries = 0;
  /** Rows refreshes wrote to storage (what a change cost). */
  refreshedRows = 0;
  /** Sizes of the records written, for the memory gauge and a load's progress. */
  readonly sizes = new RecordSizeSampler();

  constructor(options: RefreshEngineOptions<R, S, K>) {
    this.#options = options;
  }

  /**
   * Fills the empty storage with `spec`'s rows and makes its coverage current; `loaded` runs in
   * the same atomic step. Straight into storage, not through a scratch space: nobody reads a
   * loading table (reads wait for it), and a scratch copy would double the peak memory of a load.
   */
  async load(
    spec: S,
    signal: AbortSignal | undefined,
    loaded: () => void,
    onProgress: ((progress: LoadProgress) => void) | undefined,
  ): Promise<void> {
    const { indexes, storage, books, publisher, queries } = this.#options;
    await this.#measured('load', spec, async (written) => {
      const started = performance.now();
      const readsStart = books.generation;
      const adjustment = indexes.prepareAdjustment(spec);
      const expectedRows = onProgress === undefined ? undefined : await queries.estimateRows(adjustment.load);
      const report =
        onProgress === undefined
          ? undefined
          : (done: boolean) =>
              onProgress({
                rows: written.rows,
                bytes: this.memoryBytes(written.rows),
                elapsedMs: performance.now() - started,
                expectedRows,
                done,
              });
      const check = duplicateCheck(adjustment.load.length);
      for (const query of adjustment.load) {
        await this.#putRows(storage, query, 'load', () => true, check, written, { signal, batchWritten: report && (() => report(false)) });
      }
      this.#options.assertOpen();
      publisher.commit(
        () => {
          adjustment.commit();
          books.markStaleArrivals(readsStart);
          loaded();
        },
        'status',
        'coverage',
        'validity',
        'keyTypes',
      );
      report?.(true);
    });
  }

  /** What `records` records take in memory: exact when storage knows, else estimated from sampled ones. */
  memoryBytes(records: number): number {
    return this.#options.storage.memoryBytes?.() ?? Math.round(records * this.sizes.meanBytes);
  }

  /** Moves what is stored to `spec`'s coverage: what leaves expires, what enters is loaded. */
  async adjust(spec: S): Promise<void> {
    const { indexes, storage, books, publisher } = this.#options;
    await this.#measured('adjust', spec, async (written) => {
      const readsStart = books.generation;
      const adjustment = indexes.prepareAdjustment(spec);
      const scratch = storage.scratch();
      if (adjustment.expire !== undefined) this.#expire(scratch, adjustment.expire);
      const check = duplicateCheck(adjustment.load.length);
      for (const query of adjustment.load) await this.#putRows(scratch, query, 'adjust', () => true, check, written);
      this.#options.assertOpen();
      publisher.commit(
        () => {
          scratch.commit();
          adjustment.commit();
          books.markStaleArrivals(readsStart);
        },
        'coverage',
        'validity',
        'keyTypes',
      );
    });
  }

  /** Refreshes what the books hold pending; a failure puts it back, with whatever arrived meanwhile. */
  async refresh(): Promise<void> {
    const { books, publisher, queries } = this.#options;
    const readsStart = books.generation;
    const batch = books.takeBatch();
    if (batch === undefined) return;
    this.refreshes++;
    const queriesBefore = queries.count;
    try {
      await this.#measured('refresh', undefined, (written) => this.#refreshBatch(batch, readsStart, written));
    } catch (error) {
      books.batchFailed(batch);
      publisher.publish('validity');
      throw error;
    } finally {
      this.refreshQueries += queries.count - queriesBefore;
    }
  }

  /** Reloads a batch into a scratch space and commits it. */
  async #refreshBatch(batch: InvalidationSet<R, S>, readsStart: number, written: WriteCount): Promise<void> {
    const { indexes, storage, books, publisher } = this.#options;
    const scratch = storage.scratch();
    const covered = (record: R) => indexes.coversRecord(record);
    const reloads = this.#reloadQueries(batch);
    if (reloads === undefined) await this.#reloadEverything(scratch, covered, written);
    else {
      const held = this.#heldKeys(batch);
      for (const { where } of batch.staleSpecs) this.#expire(scratch, where);
      // A primary key's rows in the database are the whole truth about it: what is stored
      // under it goes, and comes back only if the database still has it.
      for (const key of batch.reloadKeys.values()) scratch.delete(key);
      // These queries may overlap (a key and a range holding it).
      const returned = new Set<HashKey>();
      for (const query of reloads) await this.#putRows(scratch, query, 'refresh', covered, 'each-query', written, { returned });
      // Held records the queries did not bring back may still exist without the changed row
      // (a LEFT JOIN whose right-hand row went): asked for by primary key, after the others,
      // so a change costs a second query only for the records it took out of the join.
      for (const h of returned) held.delete(h);
      const byKey = [...chunks(held.values(), this.#options.maxKeysPerQuery)].map((keys) =>
        indexes.dbQuery({ index: PRIMARY_KEY_INDEX, keys: keys as K[] }),
      );
      if (byKey.some((query) => query === undefined)) await this.#reloadEverything(scratch, covered, written);
      else for (const query of byKey) await this.#putRows(scratch, query as Query<R>, 'refresh', covered, 'each-query', written);
    }
    this.#options.assertOpen();
    publisher.commit(
      () => {
        scratch.commit();
        books.batchCommitted();
        books.markStaleArrivals(readsStart);
      },
      'validity',
      'keyTypes',
    );
  }

  /**
   * Runs a write in its tracing channel and measures it: count, duration and rows, by outcome.
   * A refresh with nothing to do is not a write (the caller returns before).
   */
  async #measured(operation: 'load' | 'adjust' | 'refresh', spec: S | undefined, write: (written: WriteCount) => Promise<void>) {
    const { metrics, name } = this.#options;
    const started = metrics.enabled ? performance.now() : 0;
    const context: TraceContext = { operation, table: name, ...(spec !== undefined && { spec }) };
    const written: WriteCount = { rows: 0 };
    const finished = (outcome: 'ok' | 'error') => {
      if (!metrics.enabled) return;
      const seconds = (performance.now() - started) / 1000;
      if (operation === 'load') metrics.loadFinished(seconds, written.rows, outcome);
      else metrics.writeFinished(operation, seconds, written.rows, outcome);
    };
    try {
      await traced(context, async () => {
        try {
          await write(written);
        } finally {
          context.rows = written.rows;
        }
      });
    } catch (error) {
      finished('error');
      throw error;
    }
    finished('ok');
  }

  /** Reloads everything covered into a cleared scratch space (what it held before is dropped). */
  async #reloadEverything(scratch: ScratchSpace<R>, covered: (record: R) => boolean, written: WriteCount): Promise<void> {
    scratch.clear();
    const specs = this.#options.indexes.loadedSpecs().flatMap((loaded) => this.#chunked(loaded));
    const check = duplicateCheck(specs.length);
    for (const spec of specs) await this.#putRows(scratch, this.#queryFor(spec), 'refresh', covered, check, written);
  }

  /**
   * The primary keys of the records the batch's stale specs match now, where `reloadsHeld` says
   * they must be reloaded (those already reloaded by primary key aside).
   */
  #heldKeys(batch: InvalidationSet<R, S>): Map<HashKey, Key> {
    const held = new Map<HashKey, Key>();
    if (batch.everything !== undefined) return held;
    const { storage, indexes, reloadsHeld } = this.#options;
    for (const { where } of batch.staleSpecs) {
      if (!reloadsHeld(where)) continue;
      for (const record of storage.getRecords(where)) {
        const key = indexes.primaryKey(record);
        const h = hashKey(key);
        if (!batch.reloadKeys.has(h)) held.set(h, key);
      }
    }
    return held;
  }

  /**
   * The queries that reload a batch: primary keys in chunks, then the other specs. Undefined when
   * the whole table must be reloaded instead: everything was invalidated, or some spec has no
   * query of its own (e.g. keys without `querySome`).
   */
  #reloadQueries(batch: InvalidationSet<R, S>): Query<R>[] | undefined {
    if (batch.everything !== undefined) return undefined;
    const { indexes, maxKeysPerQuery } = this.#options;
    const reloads: (Query<R> | undefined)[] = [];
    for (const keys of chunks(batch.reloadKeys.values(), maxKeysPerQuery)) {
      reloads.push(indexes.dbQuery({ index: PRIMARY_KEY_INDEX, keys: keys as K[] }));
    }
    const specs = indexes.coalesce?.(batch.reloadSpecs) ?? batch.reloadSpecs;
    for (const spec of specs.flatMap((coalesced) => this.#chunked(coalesced))) reloads.push(indexes.dbQuery(spec));
    return reloads.every((query) => query !== undefined) ? reloads : undefined;
  }

  /** A spec of more keys than `maxKeysPerQuery` (any index's), cut into specs that are not. */
  #chunked(spec: S): S[] {
    const keys = (spec as { keys?: unknown }).keys;
    const max = this.#options.maxKeysPerQuery;
    if (!Array.isArray(keys) || keys.length <= max) return [spec];
    return [...chunks(keys, max)].map((part) => ({ ...spec, keys: part }));
  }

  #queryFor(spec: S): Query<R> {
    const query = this.#options.indexes.dbQuery(spec);
    if (query === undefined) throw new MalformedSpecError(spec, 'the indexes give no database query for what they loaded');
    return query;
  }

  /**
   * Writes a query's rows that `keep` accepts into storage (a load) or a scratch space, refusing
   * a primary key the database repeated (see `DuplicateCheck`), counting them in `written`;
   * `batchWritten` runs after each batch.
   */
  async #putRows(
    into: Pick<ScratchSpace<R>, 'put'>,
    query: Query<R>,
    reason: Exclude<QueryReason, 'read'>,
    keep: (record: R) => boolean,
    check: DuplicateCheck,
    written: WriteCount,
    { signal, returned, batchWritten }: PutOptions = {},
  ): Promise<void> {
    const seen = check === 'each-query' ? new Set<HashKey>() : undefined;
    for await (const batch of abortableItems(this.#options.queries.batches(query, reason), signal)) {
      this.#options.assertOpen();
      this.#learnKeyTypes(batch);
      for (const record of batch) {
        if (seen !== undefined) this.#checkNotSeen(seen, record);
        if (returned !== undefined) returned.add(hashKey(this.#options.indexes.primaryKey(record)));
        if (!keep(record)) continue;
        if (reason === 'refresh') this.refreshedRows++;
        written.rows++;
        this.sizes.add(record);
        if (into.put(record) && seen === undefined)
          throw new DuplicateKeyError(this.#options.name, this.#options.indexes.primaryKey(record));
      }
      batchWritten?.();
    }
  }

  /** Throws `DuplicateKeyError` when the record's key is in `seen`; adds it otherwise. */
  #checkNotSeen(seen: Set<HashKey>, record: R): void {
    const key = this.#options.indexes.primaryKey(record);
    const h = hashKey(key);
    if (seen.has(h)) throw new DuplicateKeyError(this.#options.name, key);
    seen.add(h);
  }

  /**
   * Learns the key types from the first record of a batch: a table's keys are of one type, so a
   * sample per batch costs nothing and finds a table whose key function mixes types.
   */
  #learnKeyTypes(batch: readonly R[]): void {
    const [first] = batch;
    const { keyTypes, indexes, books } = this.#options;
    if (first !== undefined && keyTypes.learn(indexes.primaryKey(first), books.indexKeys(first))) books.keyTypesLearned();
  }

  #expire(scratch: ScratchSpace<R>, spec: StorageRecordsSpec<R>): void {
    if (spec.kind === 'all' && spec.filter === undefined) {
      scratch.clear();
      return;
    }
    const { storage, indexes } = this.#options;
    for (const record of storage.getRecords(spec)) scratch.delete(indexes.primaryKey(record));
  }
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
