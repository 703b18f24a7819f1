import type { SourceTable } from '@tablecache/core';

type Run = <R>(query: { sql: string; parameters?: readonly unknown[] }) => Promise<R[]>;

/** What the catalog says about a relation the plan scans. */
export interface RelationInfo {
  /** pg_class.relkind: 'r' table, 'p' partitioned table, 'f' foreign table, 'm' materialized view, … */
  readonly kind: string;
  /** The primary-key columns in key order, or null without a primary key. */
  readonly key: readonly string[] | null;
}

export const relationKey = (table: SourceTable) => JSON.stringify([table.schema, table.table]);

/**
 * Kind and primary key (pg_constraint, contype 'p') of each relation, by exact catalog name (the
 * plan names relations as the catalog does, so no quoting or search path is involved).
 */
export async function readRelations(run: Run, tables: readonly SourceTable[]): Promise<ReadonlyMap<string, RelationInfo>> {
  if (tables.length === 0) return new Map();
  const rows = await run<{ schema: string; table: string; kind: string; key: string[] | null }>({
    sql: `SELECT t.schema, t.table, c.relkind::text AS kind,
                 (SELECT json_agg(a.attname ORDER BY k.ord)
                    FROM pg_constraint con
                   CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
                   WHERE con.conrelid = c.oid AND con.contype = 'p') AS key
            FROM unnest($1::text[], $2::text[]) AS t(schema, "table")
            JOIN pg_namespace n ON n.nspname = t.schema
            JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.table`,
    parameters: [tables.map((table) => table.schema), tables.map((table) => table.table)],
  });
  return new Map(rows.map((row) => [relationKey(row), { kind: row.kind, key: row.key }]));
}
