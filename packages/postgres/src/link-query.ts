import { hashKey, type Key, type KeyPart, type Query } from '@tablecache/core';
import type { SqlStatement } from './compile-query.js';

/** The alias of the subquery the restriction is put around. */
const LINKED = 'tablecache_linked';

/**
 * `statement` restricted to the rows whose output `columns` hold one of `keys` (a value per
 * column, in column order): `SELECT * FROM (<statement>) q WHERE q."c1" = ANY($n) AND ...`, the
 * statement's parameters first, then one array per column. Each column is tested apart, so for
 * several columns the rows selected are a superset of the tuples asked for; the caller reloads
 * them all, which is correct. Identifiers are quoted, never pasted.
 */
export function linkQuery<R>(statement: SqlStatement, columns: readonly string[], keys: readonly (readonly Key[])[]): Query<R> {
  const parameters: unknown[] = [...statement.parameters];
  const conditions = columns.map((column, position) => {
    const values = new Map<unknown, KeyPart>();
    for (const key of keys) {
      const value = key[position] as KeyPart;
      values.set(hashKey(value), value);
    }
    parameters.push([...values.values()]);
    return `${LINKED}.${quoteIdentifier(column)} = ANY($${parameters.length})`;
  });
  return { sql: `SELECT * FROM (${statement.sql}) ${LINKED} WHERE ${conditions.join(' AND ')}`, parameters };
}

/** An identifier as SQL, always double-quoted (quotes inside doubled), so any name reads as itself. */
function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
