import type { PGlite } from '@electric-sql/pglite';
import { CompiledQuery, type Kysely } from 'kysely';

/** Runs one statement inside a transaction and returns its rows. */
export type Execute = (sql: string, parameters: readonly unknown[]) => Promise<unknown[]>;

/** Runs `work` in a transaction on one connection, committed if `work` resolves. */
export type TransactionRunner = <T>(work: (execute: Execute) => Promise<T>) => Promise<T>;

export function kyselyTransactions<DB>(kysely: Kysely<DB>): TransactionRunner {
  return (work) =>
    kysely
      .transaction()
      .execute((trx) =>
        work(async (sql, parameters) => (await trx.executeQuery(CompiledQuery.raw(sql, [...parameters]))).rows as unknown[]),
      );
}

/**
 * PGlite has one session, and kysely's PGlite driver does not serialize transactions on it;
 * PGlite's own `transaction` does (other queries on the instance wait for it), so it is used
 * directly.
 */
export function pgliteTransactions(pglite: PGlite): TransactionRunner {
  return (work) => pglite.transaction((tx) => work(async (sql, parameters) => (await tx.query(sql, [...parameters])).rows as unknown[]));
}
