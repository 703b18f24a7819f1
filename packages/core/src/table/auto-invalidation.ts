import type { Change, SourceTable } from '../change-feed/change-feed.js';
import {
  formatName,
  formatSourceTable,
  type InvalidationPlan,
  type RowPreciseSource,
  type SourcePlan,
} from '../change-feed/invalidation-plan.js';
import { parseSourceTableName } from '../change-feed/source-table-name.js';
import { InvalidOptionsError, TablecacheError } from '../errors/errors.js';
import type { KeyPart } from '../key/key.js';
import { LINK_INDEX_PREFIX, type LinkSpec } from './linked-indexes.js';

/**
 * The plan `tables: 'auto'` follows, from the one the database gave: a row-precise source whose
 * records cannot be found in memory is whole-table instead, with the reason. That is when the
 * storage cannot add indexes, or when a link column's name is not unique among the output
 * columns (a record holds only one value under that name).
 */
export function planInUse(plan: InvalidationPlan, storageCanIndex: boolean): InvalidationPlan {
  const sources = plan.sources.map((source): SourcePlan => {
    if (source.how !== 'rows') return source;
    const whole = (because: string): SourcePlan => ({ table: source.table, how: 'whole', aliases: source.aliases, because });
    const columns = [...new Set(source.links.flat())];
    if (!storageCanIndex) {
      return whole(
        `the storage cannot index the cached records by (${columns.map(formatName).join(', ')}) to find those a change touches (it has no addIndex)`,
      );
    }
    const repeated = columns.find((column) => plan.columns.filter((name) => name === column).length > 1);
    if (repeated !== undefined) {
      return whole(
        `output column ${formatName(repeated)}, which links it, appears more than once, so a record holds only one of its values`,
      );
    }
    return source;
  });
  return { ...plan, sources };
}

/** The name a mapping gives a source table of the plan: quoted, schema-qualified, so it resolves to exactly that table. */
export function quotedSourceName(table: SourceTable): string {
  const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;
  return `${quote(table.schema)}.${quote(table.table)}`;
}

/**
 * The plan's source that a mapped name (as written in `tables`) means; throws
 * `InvalidOptionsError` when the query reads no such table, or when the name without a schema
 * fits tables of several schemas.
 */
export function sourceNamed(plan: InvalidationPlan, name: string): SourcePlan {
  const { schema, table } = parseSourceTableName(name);
  const found = plan.sources.filter((source) => source.table.table === table && (schema === null || source.table.schema === schema));
  const read = plan.sources.map((source) => formatSourceTable(source.table)).join(', ');
  if (found.length === 0) {
    throw new InvalidOptionsError(
      `tables['${name}']: the query does not read this table, so its changes could not touch the cached records (it reads ${read || 'no table'})`,
    );
  }
  if (found.length > 1) {
    throw new InvalidOptionsError(
      `tables['${name}']: the query reads a table of that name in several schemas (${read}); write schema.table`,
    );
  }
  return found[0] as SourcePlan;
}

/** The name of the link index over these output columns (one per set of columns, shared by the sources linked through it). */
export function linkIndexName(columns: readonly string[]): string {
  return `${LINK_INDEX_PREFIX}${columns.map(formatName).join(',')}`;
}

/**
 * The link specs a change to a row-precise source invalidates: for each occurrence of the table
 * in the query, the records whose link columns hold the old or the new row's key. Both keys are
 * looked up on both sides (in memory and in the database): a superset of what changed, so an
 * update that moves a row to another key reaches the records it leaves and those it joins.
 * Throws when a row lacks a key column (the table is then invalidated whole).
 */
export function linkSpecs(source: RowPreciseSource, change: Change): LinkSpec[] {
  const keys: KeyPart[][] = [];
  for (const row of [change.old, change.new]) {
    if (row === undefined) continue;
    keys.push(
      source.key.map((column) => {
        const value = row[column];
        if (value === undefined || value === null) {
          throw new TablecacheError(`a change to ${formatSourceTable(source.table)} does not carry its key column ${formatName(column)}`);
        }
        return value as KeyPart;
      }),
    );
  }
  return source.links.map((link) => ({ index: linkIndexName(link), keys }));
}
