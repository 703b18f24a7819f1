import type { Compilable, CompiledQuery, RawBuilder } from 'kysely';

/** A query given as plain SQL with `$1`-style placeholders. */
export interface RawQuery {
  readonly sql: string;
  readonly parameters?: readonly unknown[];
}

/**
 * Anything tablecache can send to the database: a kysely query builder or `sql` template (the
 * row type flows from it to the cached records), a compiled query, or plain SQL. Core only
 * carries queries; a `DbAccess` compiles and runs them. kysely is imported for its types alone.
 */
export type Query<R = unknown> = Compilable<R> | RawBuilder<R> | CompiledQuery<R> | RawQuery;
