import type { Change, ChangeFeed, ChangeFeedEvent } from '../change-feed/change-feed.js';
import { InvalidOptionsError } from '../errors/errors.js';

/** How changes to one source table reach a cached table: `true` invalidates all of it. */
export type TableMapping<S> = true | ((change: Change) => readonly S[] | Promise<readonly S[]>);

export interface WatchOptions<S> {
  /**
   * Source tables (`name` or `schema.name`) and the specs their changes invalidate. Changes to
   * tables not listed are ignored. Without `tables`, every change invalidates the whole table.
   */
  readonly tables?: Readonly<Record<string, TableMapping<S>>>;
  /** `lazy` (default): the next read refreshes. `eager`: refresh in the background. */
  readonly refresh?: 'lazy' | 'eager';
  /** Eager mode waits this long after a change for more before refreshing (default 0). */
  readonly debounceMs?: number;
  /** Errors with no caller to go to (a mapping that failed, a background refresh). Default: console.error. */
  readonly onError?: (error: unknown) => void;
}

/** Stops watching. */
export type Unwatch = () => Promise<void>;

/** What a watcher may do to the table it keeps current. */
export interface WatchedTable<S> {
  readonly name: string;
  invalidate(specs: readonly S[]): void;
  invalidateEverything(): void;
  refreshInvalid(): Promise<void>;
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
  readonly #eager: boolean;
  readonly #debounceMs: number;
  readonly #onError: (error: unknown) => void;
  readonly #unsubscribe: () => void;
  /** Async mappings still running; `sync` waits for them. */
  readonly #mapping = new Set<Promise<void>>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #immediate: ReturnType<typeof setImmediate> | undefined;
  #closed = false;

  constructor(table: WatchedTable<S>, feed: ChangeFeed, options: WatchOptions<S>) {
    const { tables, refresh = 'lazy', debounceMs = 0, onError } = options;
    if (refresh !== 'lazy' && refresh !== 'eager')
      throw new InvalidOptionsError(`refresh must be 'lazy' or 'eager'; got ${String(refresh)}`);
    if (typeof debounceMs !== 'number' || !Number.isFinite(debounceMs) || debounceMs < 0) {
      throw new InvalidOptionsError(`debounceMs must be a finite number ≥ 0; got ${String(debounceMs)}`);
    }
    if (tables !== undefined) {
      if (typeof tables !== 'object' || tables === null)
        throw new InvalidOptionsError('tables must be an object of table name → true | mapping function');
      for (const [name, mapping] of Object.entries(tables)) {
        if (mapping !== true && typeof mapping !== 'function') {
          throw new InvalidOptionsError(`tables['${name}'] must be true or a function returning specs; got ${typeof mapping}`);
        }
      }
    }
    this.#table = table;
    this.#feed = feed;
    this.#tables = tables === undefined ? undefined : new Map(Object.entries(tables));
    this.#eager = refresh === 'eager';
    this.#debounceMs = debounceMs;
    this.#onError = onError ?? ((error) => console.error(`tablecache: table '${table.name}':`, error));
    this.#unsubscribe = feed.subscribe((event) => this.#onEvent(event));
  }

  /** Resolves once every change committed before the call is invalidated (and, if eager, refreshed). */
  async sync(): Promise<void> {
    await this.#feed.sync();
    while (this.#mapping.size > 0) await Promise.all(this.#mapping);
    if (this.#eager) {
      this.#cancelRefresh();
      await this.#table.refreshInvalid();
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
  }

  #onEvent(event: ChangeFeedEvent): void {
    if (this.#closed) return;
    if (event.type === 'gap') {
      this.invalidateEverything();
      return;
    }
    if (event.type !== 'changes') return;
    const specs: S[] = [];
    let everything = false;
    for (const change of event.changes as readonly Change[]) {
      const mapping = this.#mappingFor(change);
      if (mapping === undefined) continue;
      if (mapping === true || (change.old === undefined && change.new === undefined)) {
        everything = true;
        continue;
      }
      try {
        const result = mapping(change);
        if (isPromise(result)) this.#track(result);
        else for (const spec of result) specs.push(spec);
      } catch (error) {
        this.#onError(error);
        everything = true;
      }
    }
    if (everything) this.invalidateEverything();
    else if (specs.length > 0) this.#invalidate(mergePrimaryKeys(specs));
  }

  #mappingFor(change: Change): TableMapping<S> | undefined {
    if (this.#tables === undefined) return true;
    return this.#tables.get(`${change.schema}.${change.table}`) ?? this.#tables.get(change.table);
  }

  /** Invalidates specs from a mapping; a spec the table refuses invalidates everything instead. */
  #invalidate(specs: readonly S[]): void {
    try {
      this.#table.invalidate(specs);
      this.#scheduleRefresh();
    } catch (error) {
      this.#onError(error);
      this.invalidateEverything();
    }
  }

  #track(result: Promise<readonly S[]>): void {
    const applied = (async () => {
      try {
        const specs = await result;
        if (this.#closed) return;
        this.#invalidate(specs);
      } catch (error) {
        if (this.#closed) return;
        this.#onError(error);
        this.invalidateEverything();
      }
    })();
    this.#mapping.add(applied);
    void applied.finally(() => this.#mapping.delete(applied));
  }

  #cancelRefresh(): void {
    clearTimeout(this.#timer);
    clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
  }

  #scheduleRefresh(): void {
    if (!this.#eager || this.#closed || this.#timer !== undefined || this.#immediate !== undefined) return;
    const refresh = () => {
      this.#timer = undefined;
      this.#immediate = undefined;
      this.#table.refreshInvalid().catch((error: unknown) => this.#onError(error));
    };
    // Without a debounce, the next turn of the event loop (a timer would wait a millisecond or more).
    if (this.#debounceMs === 0) this.#immediate = setImmediate(refresh);
    else this.#timer = setTimeout(refresh, this.#debounceMs);
  }
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
