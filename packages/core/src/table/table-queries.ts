import type { DbAccess } from '../db-access/db-access.js';
import { DatabaseError, TablecacheError } from '../errors/errors.js';
import type { QueryReason, TableMetrics } from '../instrumentation/table-metrics.js';
import type { Query } from '../query/query.js';

/**
 * A table's queries to the database, counted (and measured by reason). What the database throws
 * reaches the caller as `DatabaseError` with it as the cause; the cache's own typed errors pass
 * unchanged.
 */
export class TableQueries<R> {
  readonly #name: string;
  readonly #db: DbAccess;
  readonly #metrics: TableMetrics;
  /** Queries sent, for any reason. */
  count = 0;

  constructor(name: string, db: DbAccess, metrics: TableMetrics) {
    this.#name = name;
    this.#db = db;
    this.#metrics = metrics;
  }

  /** A query's rows, one by one. */
  async *records(query: Query<R>, reason: QueryReason): AsyncGenerator<R, void, undefined> {
    for await (const batch of this.batches(query, reason)) yield* batch;
  }

  /** A query's rows in the batches the access delivers them in. */
  async *batches(query: Query<R>, reason: QueryReason): AsyncGenerator<readonly R[], void, undefined> {
    this.count++;
    this.#metrics.query(reason);
    try {
      if (this.#db.getRecordBatches !== undefined) {
        yield* this.#db.getRecordBatches(query);
        return;
      }
      for await (const record of this.#db.getRecords(query)) yield [record];
    } catch (error) {
      throw error instanceof TablecacheError ? error : new DatabaseError(this.#name, reason, error);
    }
  }

  /**
   * How many rows the database expects the queries to return (its planner's estimate), for a
   * load's progress; undefined when the access cannot tell or asking failed (progress goes on
   * without a total).
   */
  async estimateRows(queries: readonly Query<R>[]): Promise<number | undefined> {
    const estimate = this.#db.estimateRows;
    if (estimate === undefined) return undefined;
    try {
      let total = 0;
      for (const query of queries) {
        const rows = await estimate.call(this.#db, query);
        if (rows === undefined) return undefined;
        total += rows;
      }
      return total;
    } catch {
      return undefined;
    }
  }
}
