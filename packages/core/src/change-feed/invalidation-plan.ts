import type { SourceTable } from './change-feed.js';

/**
 * How changes to the tables a query reads map to the records it produced, as discovered from the
 * database (`explainInvalidation` in `@tablecache/postgres`). Plain data: it can be logged,
 * compared in tests, sent to a worker (structured clone) or stored.
 */
export interface InvalidationPlan {
  /** The query's output column names, in order (as its row description has them). */
  readonly columns: readonly string[];
  /** Every base relation the query reads (joined, filter-only, under views, in CTEs), each once, in plan order. */
  readonly sources: readonly SourcePlan[];
  /**
   * What the query reads that no table change reports (a function in FROM, ...): with any of
   * these, changes alone cannot keep the cached result fresh.
   */
  readonly opaque: readonly OpaqueSource[];
}

/** How a change to one source table maps to cached records. */
export type SourcePlan = RowPreciseSource | WholeTableSource | WatchedByHandSource;

/**
 * A change to a row touches only the records whose linking output columns hold that row's key
 * values: the old row's records are found by those values among what is cached, the new row's by
 * running the query restricted to them (`SELECT * FROM (<query>) q WHERE q.col = ANY($1)`).
 */
export interface RowPreciseSource {
  readonly table: SourceTable;
  readonly how: 'rows';
  /** The table's primary-key columns, in key order (what a change carries). */
  readonly key: readonly string[];
  /**
   * One link per occurrence of the table in the query (a self-join has two), in the order of
   * `aliases`: for each key column, in key order, the output column that holds the same value in
   * every record the row takes part in (equal through equality joins and filters).
   */
  readonly links: readonly (readonly string[])[];
  /** The names the plan gives each occurrence (unique within the plan). */
  readonly aliases: readonly string[];
  /** How each key column reaches its output column, e.g. `c.city_id = uc.city_id, output column city_id`. */
  readonly because: string;
}

/** Any change to the table may touch any record: the whole cached result is invalidated. */
export interface WholeTableSource {
  readonly table: SourceTable;
  readonly how: 'whole';
  readonly aliases: readonly string[];
  /** Why no row-precise mapping exists (no primary key, a key column linked to no output column, ...). */
  readonly because: string;
}

/**
 * In the plan a watch follows (`describeInvalidation()` after a watch whose `tables` maps some
 * tables by hand): `mapped`, a table whose changes a hand-written mapping turns into specs;
 * `unwatched`, a table the query reads that `tables` leaves out, whose changes are not seen.
 */
export interface WatchedByHandSource {
  readonly table: SourceTable;
  readonly how: 'mapped' | 'unwatched';
  readonly aliases: readonly string[];
  readonly because: string;
}

/** Something the query reads whose changes no table change reports. */
export interface OpaqueSource {
  /** What it is, e.g. `function generate_series` */
  readonly what: string;
  readonly because: string;
}

/** An identifier for display: as written when plain lower case, else double-quoted (reserved words are not quoted). */
export function formatName(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`;
}

/** `schema.table`, each part quoted only when it needs it. */
export function formatSourceTable(table: SourceTable): string {
  return `${formatName(table.schema)}.${formatName(table.table)}`;
}

/** The plan, one line per source table (then one per opaque source), for logs and the CLI. */
export function describePlan(plan: InvalidationPlan): string {
  const lines = plan.sources.map((source) => {
    const name = formatSourceTable(source.table);
    if (source.how === 'whole') return `${name}: whole table, because ${source.because}`;
    if (source.how !== 'rows') {
      return source.how === 'mapped' ? `${name}: mapped by hand, ${source.because}` : `${name}: not watched, because ${source.because}`;
    }
    const links = source.links.map((link) => `(${link.map(formatName).join(', ')})`).join(' and ');
    return `${name}: rows by key (${source.key.map(formatName).join(', ')}) through output ${links}, because ${source.because}`;
  });
  for (const opaque of plan.opaque) lines.push(`${opaque.what}: not watched, because ${opaque.because}`);
  return lines.join('\n');
}
