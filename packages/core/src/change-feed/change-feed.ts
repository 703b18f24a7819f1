/** Column values of one row, by column name; at least the changed table's primary-key columns. */
export type Row = Readonly<Record<string, unknown>>;

export type ChangeOp = 'insert' | 'update' | 'delete' | 'truncate';

/**
 * One changed row, as a mapping sees it. A change with neither `old` nor `new` (a truncate, or a
 * statement whose keys did not fit in a notification) means "any row of this table may have
 * changed".
 */
export interface Change {
  readonly op: ChangeOp;
  readonly schema: string;
  readonly table: string;
  readonly old?: Row;
  readonly new?: Row;
}

/** A key column of an `EncodedChange`: its name and its Postgres type (an oid). */
export interface KeyColumn {
  readonly name: string;
  readonly typeId: number;
}

/**
 * One changed row with its key values as Postgres writes them in text (the form a type's output
 * function gives, independent of the writer's session settings), not yet decoded. A table
 * decodes them with its own `DbAccess`, so keys from a change are exactly what its records hold,
 * whatever parses the table's rows (pg's defaults, a pool's own `types`, PGlite's parsers).
 */
export interface EncodedChange {
  readonly op: ChangeOp;
  readonly schema: string;
  readonly table: string;
  readonly keyColumns: readonly KeyColumn[];
  /** The old key, one text value per key column (update, delete). */
  readonly old?: readonly string[];
  /** The new key (insert, update). */
  readonly new?: readonly string[];
}

export function isEncodedChange(change: Change | EncodedChange): change is EncodedChange {
  return 'keyColumns' in change;
}

/**
 * Turns key values from Postgres text into what a table's rows hold for those types, one row of
 * values per row of texts. It may answer synchronously or asynchronously; it throws (rejects)
 * when it cannot, and the table is then invalidated whole.
 */
export type KeyDecoder = (
  columns: readonly KeyColumn[],
  rows: readonly (readonly string[])[],
) => readonly (readonly unknown[])[] | Promise<readonly (readonly unknown[])[]>;

export type ChangeFeedEvent =
  /**
   * Rows changed, in commit order (one batch is usually one statement). `committedAt`, when the
   * feed knows it: when the change was made, in milliseconds since the epoch on the database
   * server's clock; tables measure their commit → visible lag from it.
   */
  | { readonly type: 'changes'; readonly changes: readonly (Change | EncodedChange)[]; readonly committedAt?: number }
  /** The feed may have missed changes (a reconnect, an unreadable message): trust nothing cached. */
  | { readonly type: 'gap'; readonly reason: string }
  /**
   * The feed stopped receiving (its connection dropped or froze). Changes made from now on are
   * not seen until it is back, which it announces with a `gap`.
   */
  | { readonly type: 'lost'; readonly reason: string }
  /**
   * The feed receives changes again after `lost`, and missed none: it resumed where it stopped
   * (a durable replication slot). Without it, a feed that is back announces a `gap`.
   */
  | { readonly type: 'resumed' };

/** How long a caller is willing to wait. */
export interface WaitOptions {
  /** Stops waiting when aborted; the call rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Stops waiting after this long with a typed timeout error (each call has a default). */
  readonly timeoutMs?: number;
}

/** A source table as changes name it: schema and name exactly as the catalog has them. */
export interface SourceTable {
  readonly schema: string;
  readonly table: string;
}

export interface PrepareRequest {
  /**
   * The source tables a watcher maps, as the user wrote them (`name`, `schema.name`, quoted
   * names such as `"Sales"."Order Items"`); undefined: the watcher takes every change.
   */
  readonly tables: readonly string[] | undefined;
  /** Put in place what is missing (e.g. triggers) instead of refusing. */
  readonly install: boolean;
  readonly signal?: AbortSignal;
}

/**
 * A source of changes to database tables. Feeds carry keys, never data to cache: whatever a
 * change says, a table only uses it to decide what to refresh from the database.
 */
export interface ChangeFeed {
  /**
   * Starts passing events to `listener`; the function returned stops it. A listener may return a
   * promise that settles once it has applied the event (invalidated what the changes name): a
   * feed that acknowledges positions to the database (a durable replication slot) acknowledges
   * a change only after every listener's promise for it has settled.
   */
  subscribe(listener: (event: ChangeFeedEvent) => void | PromiseLike<void>): () => void;
  /**
   * Resolves once every change committed before the call has been passed to the listeners (or a
   * gap covering them has). Rejects with a typed error when it cannot tell in time, or when the
   * feed is closed; it never resolves while a change could have been missed.
   */
  sync(options?: WaitOptions): Promise<void>;
  /**
   * Optional, for feeds with positions (the logical feed's LSNs): resolves once every change up
   * to `position` has been passed to the listeners, at once when it already has. A position
   * another process read after its commit (`pg_current_wal_lsn()`) makes its writes readable
   * here. Without it, tables fall back to `sync()`, which covers every commit before the call.
   */
  syncTo?(position: string, options?: WaitOptions): Promise<void>;
  /** Resolves once the feed receives changes (e.g. its LISTEN is in place); rejects if it cannot. */
  ready?(options?: WaitOptions): Promise<void>;
  /**
   * Checks that changes to these tables reach this feed (for NOTIFY: that the triggers for its
   * channel are installed), installing what is missing when asked, and resolves each name to the
   * table changes will name. Rejects with a typed error that lists everything missing.
   */
  prepare?(request: PrepareRequest): Promise<ReadonlyMap<string, SourceTable>>;
  /** Decodes `EncodedChange` keys for tables whose `DbAccess` cannot (the feed's own parsers). */
  readonly decodeKeys?: KeyDecoder;
}
