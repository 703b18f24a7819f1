import type { SqlStatement } from '../compile-query.js';

type Run = <R>(query: { sql: string; parameters?: readonly unknown[] }) => Promise<R[]>;

/**
 * The query's output column names, in order, duplicates kept, as its row description has them.
 * `PostgresAccess` returns rows, not field descriptions, on every connection kind; so the query
 * (never run: LIMIT 0) is completed by a row of NULLs of the same width, whose `row_to_json`
 * spells the names in order. `width` comes from the plan.
 */
export async function outputNames(run: Run, statement: SqlStatement, width: number): Promise<string[]> {
  if (width === 0) return [];
  const nulls = Array.from({ length: width }, () => 'NULL').join(', ');
  const [row] = await run<{ names: string }>({
    sql: `SELECT row_to_json(tablecache_names)::text AS names
            FROM ((SELECT * FROM (${statement.sql}) tablecache_query LIMIT 0) UNION ALL SELECT ${nulls}) tablecache_names`,
    parameters: statement.parameters,
  });
  return jsonObjectKeys(row!.names);
}

/** The keys of a JSON object whose values are all null, in order, duplicates kept (JSON.parse would merge them). */
function jsonObjectKeys(text: string): string[] {
  const keys: string[] = [];
  const entry = /\s*("(?:[^"\\]|\\.)*")\s*:\s*null\s*([,}])/y;
  entry.lastIndex = text.indexOf('{') + 1;
  for (;;) {
    const match = entry.exec(text);
    if (match === null) break;
    keys.push(JSON.parse(match[1] as string) as string);
    if (match[2] === '}') break;
  }
  return keys;
}
