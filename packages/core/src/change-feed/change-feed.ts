/** Column values of one row, by column name; at least the changed table's primary-key columns. */
export type Row = Readonly<Record<string, unknown>>;

export type ChangeOp = 'insert' | 'update' | 'delete' | 'truncate';

/**
 * One changed row, as a change feed reports it. A change with neither `old` nor `new` (a
 * truncate, or a statement whose keys did not fit in a notification) means "any row of this
 * table may have changed".
 */
export interface Change {
  readonly op: ChangeOp;
  readonly schema: string;
  readonly table: string;
  readonly old?: Row;
  readonly new?: Row;
}

export type ChangeFeedEvent =
  /** Rows changed, in commit order (one batch is usually one statement). */
  | { readonly type: 'changes'; readonly changes: readonly Change[] }
  /** The feed may have missed changes (a reconnect, an unreadable message): trust nothing cached. */
  | { readonly type: 'gap'; readonly reason: string };

/**
 * A source of changes to database tables. Feeds carry keys, never data to cache: whatever a
 * change says, a table only uses it to decide what to refresh from the database.
 */
export interface ChangeFeed {
  /** Starts passing events to `listener`; the function returned stops it. */
  subscribe(listener: (event: ChangeFeedEvent) => void): () => void;
  /** Resolves once every change committed before the call has been passed to the listeners. */
  sync(): Promise<void>;
  /** Resolves once the feed receives changes (e.g. its LISTEN is in place). */
  ready?(): Promise<void>;
}
