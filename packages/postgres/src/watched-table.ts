import type { SourceTable } from '@tablecache/core';
import { type PrimaryKey, type ResolvedTable, type Run, resolveTable, similarTable } from './triggers/catalog.js';
import { describeTableName, formatTable, type TableName } from './triggers/trigger-target.js';

/** Why a name cannot be watched, whatever the feed. */
export type UnwatchableKind = 'no-such-table' | 'not-a-table' | 'no-primary-key';

export type WatchedTable =
  | { readonly table: ResolvedTable & { readonly primaryKey: PrimaryKey } }
  /** `source`: the relation the name resolves to, when there is one. */
  | { readonly problem: { readonly kind: UnwatchableKind; readonly message: string }; readonly source: SourceTable | undefined };

const RELATION_KINDS: Readonly<Record<string, string>> = {
  v: 'a view',
  m: 'a materialized view',
  f: 'a foreign table',
  S: 'a sequence',
  c: 'a composite type',
  i: 'an index',
  I: 'a partitioned index',
  t: 'a TOAST table',
};

/**
 * The table a watched name resolves to (through the search path, as Postgres resolves it), or
 * why no feed can watch it: it does not exist (with a name differing only in case, as a hint),
 * it is not a table (a view: watch the tables it reads), or it has no primary key (changes name
 * rows by primary key).
 */
export async function resolveWatchedTable(run: Run, name: TableName): Promise<WatchedTable> {
  const described = describeTableName(name);
  const table = await resolveTable(run, name);
  if (table === undefined) {
    const similar = await similarTable(run, name);
    const hint = similar === undefined ? '' : ` (did you mean ${formatTable(similar)}?)`;
    return { problem: { kind: 'no-such-table', message: `table ${described} does not exist${hint}` }, source: undefined };
  }
  const source = { schema: table.schema, table: table.table };
  if (table.kind !== 'r' && table.kind !== 'p') {
    const what = RELATION_KINDS[table.kind] ?? 'not a table';
    const advice = table.kind === 'v' || table.kind === 'm' ? ': watch the tables it reads' : '';
    return { problem: { kind: 'not-a-table', message: `${described} is ${what}, not a table${advice}` }, source };
  }
  if (table.primaryKey === null) {
    return {
      problem: { kind: 'no-primary-key', message: `table ${described} has no primary key; tablecache names changed rows by primary key` },
      source,
    };
  }
  return { table: { ...table, primaryKey: table.primaryKey } };
}
