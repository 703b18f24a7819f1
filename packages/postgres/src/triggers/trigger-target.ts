import { InvalidOptionsError } from '@tablecache/core';
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

/** Splits `schema.table` at its first dot; a name without one has no schema. */
export function parseTableName(name: TableName): { readonly schema: string | null; readonly table: string } {
  if (typeof name === 'object' && name !== null) {
    if (typeof name.schema !== 'string' || typeof name.table !== 'string' || name.schema === '' || name.table === '') {
      throw new InvalidOptionsError(`a table given as an object needs non-empty schema and table; got ${JSON.stringify(name)}`);
    }
    return name;
  }
  if (typeof name !== 'string' || name === '')
    throw new InvalidOptionsError(`a table name must be a non-empty string; got ${String(name)}`);
  const dot = name.indexOf('.');
  if (dot === -1) return { schema: null, table: name };
  if (dot === 0 || dot === name.length - 1) throw new InvalidOptionsError(`table name '${name}' has an empty schema or table part`);
  return { schema: name.slice(0, dot), table: name.slice(dot + 1) };
}
