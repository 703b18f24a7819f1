import { InvalidQueryError, type Query } from '@tablecache/core';
import type { QueryExecutorProvider } from 'kysely';

export interface SqlStatement {
  readonly sql: string;
  readonly parameters: readonly unknown[];
}

/**
 * Any `Query` form as SQL text and parameters. `provider` compiles `sql` templates, which need
 * an executor; query builders carry their own and ignore it.
 */
export function compileQuery(query: Query, provider: QueryExecutorProvider): SqlStatement {
  if (typeof query !== 'object' || query === null) {
    throw new InvalidQueryError(query, 'expected a kysely query builder, sql`...`, a CompiledQuery or { sql, parameters }');
  }
  const compiled: unknown = 'compile' in query && typeof query.compile === 'function' ? query.compile(provider) : query;
  if (typeof compiled !== 'object' || compiled === null || !('sql' in compiled) || typeof compiled.sql !== 'string') {
    throw new InvalidQueryError(query, 'expected a kysely query builder, sql`...`, a CompiledQuery or { sql, parameters }');
  }
  const parameters: unknown = 'parameters' in compiled ? compiled.parameters : undefined;
  if (parameters !== undefined && !Array.isArray(parameters)) {
    throw new InvalidQueryError(query, 'parameters must be an array (for $1, $2, ...)');
  }
  // A cursor is declared around the statement, so a trailing semicolon would end it early.
  const sql = compiled.sql.replace(/[\s;]+$/, '');
  if (sql.trim() === '') throw new InvalidQueryError(query, 'the SQL text is empty');
  return { sql, parameters: (parameters as unknown[] | undefined) ?? [] };
}
