import type { DbAccess } from '../db-access/db-access.js';
import { DatabaseError, TablecacheError } from '../errors/errors.js';
import type { Query } from '../query/query.js';

/**
 * A table's queries to the database, counted. What the database throws reaches the caller as
 * `DatabaseError` with it as the cause; the cache's own typed errors pass unchanged.
 */
export class TableQueries<R> {
  readonly #name: string;
  readonly #db: DbAccess;
  /** Queries sent, for any reason. */
  count = 0;

  constructor(name: string, db: DbAccess) {
    this.#name = name;
    this.#db = db;
  }

  /** A query's rows, one by one. */
  async *records(query: Query<R>, operation: string): AsyncGenerator<R, void, undefined> {
    for await (const batch of this.batches(query, operation)) yield* batch;
  }

  /** A query's rows in the batches the access delivers them in. */
  async *batches(query: Query<R>, operation: string): AsyncGenerator<readonly R[], void, undefined> {
    this.count++;
    try {
      if (this.#db.getRecordBatches !== undefined) {
        yield* this.#db.getRecordBatches(query);
        return;
      }
      for await (const record of this.#db.getRecords(query)) yield [record];
    } catch (error) {
      throw error instanceof TablecacheError ? error : new DatabaseError(this.#name, operation, error);
    }
  }
}
