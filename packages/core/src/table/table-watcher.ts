import type {
  Change,
  ChangeFeed,
  ChangeFeedEvent,
  EncodedChange,
  KeyDecoder,
  SourceTable,
  WaitOptions,
} from '../change-feed/change-feed.js';
import { parseSourceTableName } from '../change-feed/source-table-name.js';
import { InvalidKeyError, InvalidOptionsError, TablecacheError, UnmatchableChangeError } from '../errors/errors.js';
import { hashKey, type Key } from '../key/key.js';
import { describeError, type Logger, RateLimitedLogger } from '../logging/logger.js';
import { decodeChanges } from './decode-changes.js';
import { isTimeout, waitFor } from './waits.js';

/** How changes to one source table reach a cached table: `true` invalidates all of it. */
export type TableMapping<S> = true | ((change: Change) => readonly S[] | Promise<readonly S[]>);

export interface WatchOptions<S> extends Omit<MappedWatchOptions<S>, 'tables'> {
  /**
   * Source tables and the specs their changes invalidate. Names are written as in SQL: `name`
   * (found through the search path, as Postgres finds it), `schema.name`, or quoted
   * (`"Sales"."Order Items"`). Changes to tables not listed are ignored. Without `tables`,
   * every change invalidates the whole table.
   *
   * `'auto'`: the table asks the database which tables its query reads and how a change to each
   * maps to records (`describeInvalidation()` shows the plan), and follows all of them: by the
   * records' link columns where the plan is row-precise, whole where it is not. In an object,
   * `'auto'` does that for one table and hand-written mappings do the rest; every name must then
   * be a table the query reads.
   */
  readonly tables?: 'auto' | Readonly<Record<string, 'auto' | TableMapping<S>>>;
}

/** `WatchOptions` with `'auto'` resolved into mappings, as a `TableWatcher` takes them. */
export interface MappedWatchOptions<S> {
  readonly tables?: Readonly<Record<string, TableMapping<S>>>;
  /** `lazy` (default): the next read refreshes. `eager`: refresh in the background. */
  readonly refresh?: 'lazy' | 'eager';
  /** Eager mode waits this long after a change for more before refreshing (default 0). */
  readonly debounceMs?: number;
  /**
   * Put in place what the feed needs to see changes of the mapped tables (for `PgNotifyFeed`:
   * the triggers) when it is missing, instead of rejecting. Default false.
   */
  readonly install?: boolean;
  /**
   * After the feed loses its connection, keep serving what memory holds for this long (default
   * 0: stop at once). Changes made meanwhile are not seen, so memory may be this stale; `status`
   * says `grace` while it lasts. After it, reads go to the database until the feed is back.
   */
  readonly disconnectedGraceMs?: number;
  /** Backoff of eager refreshes that failed: doubles from `initial` to `max` (default 100 and 5,000 ms). */
  readonly retryDelayMs?: { readonly initial?: number; readonly max?: number };
  /** Errors with no caller to go to (a mapping that failed, a background refresh). Default: the table's logger. */
  readonly onError?: (error: unknown) => void;
  /** Stops waiting for the feed to be ready (the same as `watch`'s third argument). */
  readonly signal?: AbortSignal;
}

/** Stops watching. */
export type Unwatch = () => Promise<void>;

/** What became of a batch of changes: none was this watch's, all applied now, or the rest applies when this settles. */
type Applied = 'ignored' | 'now' | Promise<void>;

/** What a watcher may do to the table it keeps current. */
export interface WatchedTable<S> {
  readonly name: string;
  readonly logger: Logger;
  /** The table's own way of decoding keys (its database access's), if it has one. */
  readonly decodeKeys: KeyDecoder | undefined;
  invalidate(specs: readonly S[]): void;
  invalidateEverything(): void;
  refreshInvalid(): Promise<void>;
  /** How far memory can be trusted, as the feed's connection comes and goes. */
  trust(state: 'live' | 'grace' | 'distrusted'): void;
  /** Changes made at `committedAt` (ms since the epoch, the database's clock) are now visible to reads. */
  changeVisible(committedAt: number): void;
}

/**
 * Turns a feed's events into invalidations of one table. A batch of changes becomes one
 * invalidation (and, in eager mode, one debounced refresh), however many rows it names.
 */
export class TableWatcher<S> {
  readonly #table: WatchedTable<S>;
  readonly #feed: ChangeFeed;
  /** Copied into a Map: a table named `constructor` must not find Object.prototype's. */
  readonly #tables: ReadonlyMap<string, TableMapping<S>> | undefined;
  /** The mapped tables by their identity in the catalog, once the feed has resolved their names. */
  #sources: ReadonlyMap<string, TableMapping<S>> | undefined;
  /** Without a feed that resolves names: the mapped names as written, with a schema and without. */
  readonly #bySchemaAndTable = new Map<string, TableMapping<S>>();
  readonly #byTable = new Map<string, TableMapping<S>>();
  readonly #eager: boolean;
  readonly #debounceMs: number;
  readonly #install: boolean;
  readonly #graceMs: number;
  readonly #retry: { readonly initial: number; readonly max: number };
  readonly #decodeKeys: KeyDecoder | undefined;
  /** The caller's handler for errors with nowhere else to go; without one, they are logged (rate-limited). */
  readonly #onError: ((error: unknown) => void) | undefined;
  readonly #log: RateLimitedLogger;
  readonly #unsubscribe: () => void;
  /** Async work (decoding keys, async mappings) still running; `sync` waits for it. */
  readonly #mapping = new Set<Promise<void>>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #immediate: ReturnType<typeof setImmediate> | undefined;
  #graceTimer: ReturnType<typeof setTimeout> | undefined;
  /** Eager refreshes that failed in a row; the next retry waits longer. */
  #failures = 0;
  #lost = false;
  #closed = false;

  constructor(table: WatchedTable<S>, feed: ChangeFeed, options: MappedWatchOptions<S>) {
    const { tables, refresh = 'lazy', debounceMs = 0, install = false, disconnectedGraceMs = 0, retryDelayMs = {}, onError } = options;
    if (refresh !== 'lazy' && refresh !== 'eager')
      throw new InvalidOptionsError(`refresh must be 'lazy' or 'eager'; got ${String(refresh)}`);
    for (const [name, value] of Object.entries({ debounceMs, disconnectedGraceMs })) {
      if (value !== 0 && !isTimeout(value)) {
        throw new InvalidOptionsError(`${name} must be a finite number ≥ 0; got ${String(value)}`);
      }
    }
    const retry = { initial: retryDelayMs.initial ?? 100, max: retryDelayMs.max ?? 5000 };
    if (!isTimeout(retry.initial) || !isTimeout(retry.max) || retry.max < retry.initial) {
      throw new InvalidOptionsError(`retryDelayMs needs 0 < initial ≤ max; got ${JSON.stringify(retryDelayMs)}`);
    }
    if (typeof install !== 'boolean') throw new InvalidOptionsError(`install must be a boolean; got ${typeof install}`);
    if (tables !== undefined) {
      if (typeof tables !== 'object' || tables === null)
        throw new InvalidOptionsError(`tables must be 'auto' or an object of table name → 'auto' | true | mapping function`);
      for (const [name, mapping] of Object.entries(tables)) {
        if (mapping !== true && typeof mapping !== 'function') {
          throw new InvalidOptionsError(`tables['${name}'] must be 'auto', true or a function returning specs; got ${typeof mapping}`);
        }
      }
    }
    this.#table = table;
    this.#feed = feed;
    this.#tables = tables === undefined ? undefined : new Map(Object.entries(tables));
    for (const [name, mapping] of this.#tables ?? []) {
      const { schema, table: source } = parseSourceTableName(name);
      if (schema === null) this.#byTable.set(source, mapping);
      else this.#bySchemaAndTable.set(sourceId({ schema, table: source }), mapping);
    }
    this.#eager = refresh === 'eager';
    this.#debounceMs = debounceMs;
    this.#install = install;
    this.#graceMs = disconnectedGraceMs;
    this.#retry = retry;
    this.#decodeKeys = table.decodeKeys ?? feed.decodeKeys?.bind(feed);
    this.#log = new RateLimitedLogger(table.logger);
    this.#onError = onError;
    // Subscribed at once, before the feed is ready: nothing that arrives from now on is missed.
    this.#unsubscribe = feed.subscribe((event) => this.#onEvent(event));
  }

  /**
   * Waits for the feed to receive changes, and has it check (or, with `install`, set up) that
   * every mapped table sends them, resolving the names the way the database does.
   */
  async start(signal: AbortSignal | undefined): Promise<void> {
    const wait = signal === undefined ? {} : { signal };
    await this.#feed.ready?.(wait);
    if (this.#feed.prepare === undefined) return;
    // A caller that gave up must not have triggers installed for it.
    signal?.throwIfAborted();
    const names = this.#tables === undefined ? undefined : [...this.#tables.keys()];
    const resolved = await waitFor(this.#feed.prepare({ tables: names, install: this.#install, ...wait }), { signal });
    if (this.#tables === undefined) return;
    const sources = new Map<string, TableMapping<S>>();
    for (const [name, mapping] of this.#tables) {
      const source = resolved.get(name);
      // A mapping whose table the feed does not know would never see a change: refuse it.
      if (source === undefined)
        throw new TablecacheError(`the change feed resolved no table for '${name}', so its changes could not be matched`);
      sources.set(sourceId(source), mapping);
    }
    this.#sources = sources;
  }

  /**
   * Resolves once every change committed before the call (or, given a `position`, every change up
   * to it) is invalidated, and, if eager, refreshed.
   */
  async sync(options: WaitOptions = {}, position?: string): Promise<void> {
    if (position !== undefined && this.#feed.syncTo !== undefined) await this.#feed.syncTo(position, options);
    else await this.#feed.sync(options);
    // What was being decoded and mapped when the feed's barrier came (a decode tracks the async
    // mappings it starts): work started later is for later changes, and must not starve this.
    await Promise.all([...this.#mapping]);
    if (this.#eager) {
      this.#cancelRefresh();
      try {
        await this.#table.refreshInvalid();
        this.#failures = 0;
      } catch (error) {
        this.#scheduleRefresh(this.#nextRetryDelay()); // eager mode keeps trying in the background
        throw error;
      }
    }
  }

  /** Marks the whole table invalid, as after a gap (used when watching starts after a load). */
  invalidateEverything(): void {
    this.#table.invalidateEverything();
    this.#scheduleRefresh();
  }

  close(): void {
    this.#closed = true;
    this.#unsubscribe();
    this.#cancelRefresh();
    clearTimeout(this.#graceTimer);
  }

  /** Applies an event; for changes applied asynchronously, the promise of when they are (see `ChangeFeed.subscribe`). */
  #onEvent(event: ChangeFeedEvent): Promise<void> | undefined {
    if (this.#closed) return undefined;
    try {
      switch (event.type) {
        case 'gap':
          this.#back(true);
          return undefined;
        case 'resumed':
          this.#back(false);
          return undefined;
        case 'lost':
          this.#connectionLost(event.reason);
          return undefined;
        case 'changes': {
          const applied = this.#onChanges(event.changes);
          if (event.committedAt !== undefined) this.#visible(applied, event.committedAt);
          return typeof applied === 'string' ? undefined : applied;
        }
      }
    } catch (error) {
      // Nothing may escape into the feed (other tables listen too), and no change may be dropped.
      this.#report(error);
      this.invalidateEverything();
      if (event.type === 'changes' && event.committedAt !== undefined) this.#table.changeVisible(event.committedAt);
    }
    return undefined;
  }

  /**
   * Tells the table when changes it applied became visible: at once, or when their async
   * decoding and mappings have invalidated what they name (on failure too: everything was then
   * invalidated instead). Changes to tables this watch does not map are not its to measure.
   */
  #visible(applied: Applied, committedAt: number): void {
    if (applied === 'ignored') return;
    if (applied === 'now') this.#table.changeVisible(committedAt);
    else void applied.then(() => !this.#closed && this.#table.changeVisible(committedAt));
  }

  /**
   * Applies a batch of changes: invalidates what they name (or everything). Says whether none
   * was this watch's, whether all were applied already, or the promise of the rest.
   */
  #onChanges(changes: readonly (Change | EncodedChange)[]): Applied {
    const mapped: { change: Change | EncodedChange; mapping: Exclude<TableMapping<S>, true> }[] = [];
    let everything = false;
    for (const change of changes) {
      const mapping = this.#mappingFor(change);
      if (mapping === undefined) continue;
      // A table mapped to `true`, a truncate, or keys that did not fit: the whole table.
      if (mapping === true || (change.old === undefined && change.new === undefined)) everything = true;
      else mapped.push({ change, mapping });
    }
    if (everything) {
      this.invalidateEverything();
      return 'now';
    }
    if (mapped.length === 0) return 'ignored';
    let decoded: readonly Change[] | Promise<readonly Change[]>;
    try {
      decoded = decodeChanges(
        mapped.map(({ change }) => change),
        this.#decodeKeys,
      );
    } catch (error) {
      this.#unmatchable(mapped[0]?.change, error);
      return 'now';
    }
    if (isPromise(decoded)) {
      // Tracked with the async mappings it starts, so that a sync waits for all of them.
      return this.#track(
        decoded.then(
          (rows) => this.#map(rows, mapped),
          (error: unknown) => this.#unmatchable(mapped[0]?.change, error),
        ),
      );
    }
    const late = this.#map(decoded, mapped);
    return late === undefined ? 'now' : this.#track(late);
  }

  /**
   * Runs each change's mapping: specs returned at once are invalidated together; the promise
   * returned settles when the async ones have been invalidated too.
   */
  #map(changes: readonly Change[], mapped: readonly { mapping: Exclude<TableMapping<S>, true> }[]): Promise<void> | undefined {
    if (this.#closed) return undefined;
    const specs: S[] = [];
    const late: Promise<void>[] = [];
    try {
      for (const [i, change] of changes.entries()) {
        const mapping = (mapped[i] as { mapping: Exclude<TableMapping<S>, true> }).mapping;
        const result = mapping(change);
        if (isPromise(result)) late.push(result.then((specsLater) => this.#invalidate(specsLater, [change])));
        else for (const spec of result) specs.push(spec);
      }
      if (specs.length > 0) this.#invalidate(mergePrimaryKeys(specs), changes);
    } catch (error) {
      this.#report(error);
      this.invalidateEverything();
    }
    return late.length > 0 ? Promise.all(late).then(() => undefined) : undefined;
  }

  #mappingFor(change: Change | EncodedChange): TableMapping<S> | undefined {
    if (this.#tables === undefined) return true;
    if (this.#sources !== undefined) return this.#sources.get(sourceId(change));
    // A feed that cannot resolve names: a name matches its table in any schema unless it says one.
    return this.#bySchemaAndTable.get(sourceId(change)) ?? this.#byTable.get(change.table);
  }

  /**
   * Invalidates specs from mappings. A key the table refuses (of another type than its keys)
   * could never match: the whole table is invalidated and the error names the source table
   * and column; any other refusal (a malformed spec) is reported and invalidates everything too.
   */
  #invalidate(specs: readonly S[], changes: readonly Change[]): void {
    if (this.#closed) return;
    try {
      this.#table.invalidate(specs);
      this.#scheduleRefresh();
    } catch (error) {
      if (error instanceof InvalidKeyError) this.#unmatchable(changes[0], error, changes);
      else {
        this.#report(error);
        this.invalidateEverything();
      }
    }
  }

  /** A change whose keys cannot be decoded or matched: everything is invalid, and the error says where it came from. */
  #unmatchable(change: Change | EncodedChange | undefined, error: unknown, changes: readonly Change[] = []): void {
    if (this.#closed) return;
    const key = error instanceof InvalidKeyError ? error.key : undefined;
    const found = key === undefined ? undefined : columnHolding(changes, key as Key);
    const source = found?.change ?? change;
    this.#report(
      new UnmatchableChangeError(
        this.#table.name,
        source === undefined ? 'an unknown table' : `${source.schema}.${source.table}`,
        found?.column,
        describeError(error),
      ),
    );
    this.invalidateEverything();
  }

  /** Tracks async work for `sync`; the promise returned settles (never rejects) once it is applied. */
  #track(work: Promise<void>): Promise<void> {
    const applied = work.catch((error: unknown) => {
      if (this.#closed) return;
      this.#report(error);
      this.invalidateEverything();
    });
    this.#mapping.add(applied);
    void applied.finally(() => this.#mapping.delete(applied));
    return applied;
  }

  /** The feed cannot see changes any more: memory is trusted for the grace period, then not. */
  #connectionLost(reason: string): void {
    if (this.#lost) return;
    this.#lost = true;
    this.#cancelRefresh();
    const distrust = () => {
      this.#graceTimer = undefined;
      this.#log.log(
        'warn',
        'disconnected',
        `table '${this.#table.name}': its change feed is disconnected (${reason}); reads go to the database until it is back`,
      );
      this.#table.trust('distrusted');
    };
    if (this.#graceMs === 0) {
      distrust();
      return;
    }
    this.#log.log(
      'warn',
      'grace',
      `table '${this.#table.name}': its change feed is disconnected (${reason}); memory is served for ${this.#graceMs} ms more, then reads go to the database`,
    );
    this.#table.trust('grace');
    this.#graceTimer = setTimeout(distrust, this.#graceMs);
  }

  /**
   * The feed is receiving again: after a gap, what it missed is unknown and everything is
   * invalidated; resumed, it missed nothing and the changes it replays invalidate the rest.
   */
  #back(gap: boolean): void {
    clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
    if (this.#lost) {
      const what = gap ? 'the table is refreshed whole' : 'it resumed where it stopped, missing nothing';
      this.#log.log('info', 'back', `table '${this.#table.name}': its change feed is back; ${what}`);
    }
    this.#lost = false;
    this.#failures = 0;
    this.#table.trust('live');
    if (gap) this.invalidateEverything();
    else this.#scheduleRefresh(); // what was invalidated while it was away
  }

  /** The backoff before the next retry of a failed eager refresh: doubling, capped. */
  #nextRetryDelay(): number {
    return Math.min(this.#retry.max, this.#retry.initial * 2 ** this.#failures++);
  }

  /** An error with no caller: to `onError` if given, else one (rate-limited) line in the log. */
  #report(error: unknown, what = 'a change could not be applied; the whole table was invalidated', kind = what): void {
    try {
      if (this.#onError !== undefined) this.#onError(error);
      else this.#log.log('error', kind, `table '${this.#table.name}': ${what}: ${describeError(error)}`);
    } catch {
      // A handler or logger that throws must not stop the watching; there is nowhere further to report it.
    }
  }

  #cancelRefresh(): void {
    clearTimeout(this.#timer);
    clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
  }

  /**
   * Eager mode: refreshes in the background, soon. A refresh that fails is retried with
   * backoff, without waiting for another change or a read; not while the feed is disconnected
   * (its return invalidates everything anyway).
   */
  #scheduleRefresh(delayMs = this.#debounceMs): void {
    if (!this.#eager || this.#closed || this.#lost || this.#timer !== undefined || this.#immediate !== undefined) return;
    const refresh = () => {
      this.#timer = undefined;
      this.#immediate = undefined;
      this.#table.refreshInvalid().then(
        () => {
          this.#failures = 0;
        },
        (error: unknown) => {
          if (this.#closed) return;
          if (this.#lost) {
            // Not retried while the feed is away: its return invalidates and refreshes everything.
            this.#report(error, 'a background refresh failed; it runs again when the change feed is back', 'refresh failed');
            return;
          }
          const delay = this.#nextRetryDelay();
          this.#report(error, `a background refresh failed; retrying in ${delay} ms`, 'refresh failed');
          this.#scheduleRefresh(delay);
        },
      );
    };
    // Without a delay, the next turn of the event loop (a timer would wait a millisecond or more).
    if (delayMs === 0) this.#immediate = setImmediate(refresh);
    else this.#timer = setTimeout(refresh, delayMs);
  }
}

/** A source table's identity as one string (schema and table names may hold any character but NUL). */
function sourceId(table: SourceTable): string {
  return `${table.schema}\u0000${table.table}`;
}

/** The change and column holding `key` (as the mapping took it from a row), to name them in an error. */
function columnHolding(changes: readonly Change[], key: Key): { change: Change; column: string } | undefined {
  const wanted = hashKey(key);
  for (const change of changes) {
    for (const row of [change.old, change.new]) {
      for (const [column, value] of Object.entries(row ?? {})) {
        if (value === key || (isHashable(value) && hashKey(value) === wanted)) return { change, column };
      }
    }
  }
  return undefined;
}

function isHashable(value: unknown): value is Key {
  return value !== null && value !== undefined && (typeof value !== 'object' || value instanceof Date || value instanceof Uint8Array);
}

/** One spec for all the primary keys a batch names (each spec would be validated and marked apart). */
function mergePrimaryKeys<S>(specs: readonly S[]): S[] {
  const keys: unknown[] = [];
  const others: S[] = [];
  for (const spec of specs) {
    const { index, keys: specKeys, ...rest } = spec as { index?: unknown; keys?: unknown };
    if (index === 'primaryKey' && Array.isArray(specKeys) && Object.keys(rest).length === 0) for (const key of specKeys) keys.push(key);
    else others.push(spec);
  }
  return keys.length > 0 ? [{ index: 'primaryKey', keys } as S, ...others] : others;
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
