import { InvalidOptionsError, parseSourceTableName } from '@tablecache/core';
import { PostgresAccess, type PostgresAccessOptions } from '../postgres-access.js';

/** What trigger installation needs of an access: transactions (a `PostgresAccess` of any schema type). */
export type TransactionalAccess = Pick<PostgresAccess, 'transaction'>;

/** Where triggers go: a `PostgresAccess`, or the options to make one for the call. */
export type TriggerTarget = TransactionalAccess | PostgresAccessOptions;

/** A table as plain names: `name` (found through the search path) or `schema.name`, or both parts. */
export type TableName = string | { readonly schema: string; readonly table: string };

export const DEFAULT_CHANNEL = 'tablecache';

/** Runs `work` with an access for the target, closing it afterwards when it was made here. */
export async function withAccess<T>(target: TriggerTarget, work: (access: TransactionalAccess) => Promise<T>): Promise<T> {
  if ('transaction' in target && typeof target.transaction === 'function') return work(target);
  const access = new PostgresAccess(target as PostgresAccessOptions);
  try {
    return await work(access);
  } finally {
    await access.close();
  }
}

/** Checks a channel name: Postgres takes channel names as identifiers of at most 63 bytes. */
export function checkChannel(channel: unknown): string {
  if (typeof channel !== 'string' || channel === '')
    throw new InvalidOptionsError(`channel must be a non-empty string; got ${String(channel)}`);
  if (Buffer.byteLength(channel) > 63)
    throw new InvalidOptionsError(`channel '${channel}' is longer than Postgres's 63-byte limit for names`);
  return channel;
}

/** Reads a table name: `{ schema, table }` as it is, a string as a mapping's (`parseSourceTableName`). */
export function parseTableName(name: TableName): { readonly schema: string | null; readonly table: string } {
  if (typeof name === 'object' && name !== null) {
    if (typeof name.schema !== 'string' || typeof name.table !== 'string' || name.schema === '' || name.table === '') {
      throw new InvalidOptionsError(`a table given as an object needs non-empty schema and table; got ${JSON.stringify(name)}`);
    }
    return name;
  }
  return parseSourceTableName(name);
}

/**
 * A table the catalog names, as `schema.table` that `parseTableName` reads back: a part that is
 * not lower-case letters, digits and underscores is quoted.
 */
export function formatTable({ schema, table }: { readonly schema: string; readonly table: string }): string {
  const part = (name: string) => (/^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`);
  return `${part(schema)}.${part(table)}`;
}

/** A table name as the user wrote it, for messages. */
export function describeTableName(name: TableName): string {
  return `'${typeof name === 'string' ? name : formatTable(name)}'`;
}
