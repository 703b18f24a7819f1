import type { KeyDecoder } from '../change-feed/change-feed.js';
import type { InvalidationPlan } from '../change-feed/invalidation-plan.js';
import type { Key } from '../key/key.js';
import type { Query } from '../query/query.js';

/**
 * How a table reaches its database. The engine asks only for rows, streamed: an implementation
 * fetches in batches and must not hold a connection while the consumer is slow.
 */
export interface DbAccess {
  getRecords<R>(query: Query<R>): AsyncIterable<R>;
  /** Optional: the same rows in the batches they arrived in; loads and refreshes use it to skip an await per row. */
  getRecordBatches?<R>(query: Query<R>): AsyncIterable<readonly R[]>;
  /**
   * Optional: decodes key values sent as Postgres text exactly as this access decodes the same
   * columns in query results, so keys from a change feed match the keys records are stored under.
   */
  readonly decodeKeys?: KeyDecoder;
  /**
   * Optional: which source tables `query` reads and how a change to each maps to its rows, as the
   * database tells it. `watch(feed, { tables: 'auto' })` needs it.
   */
  explainInvalidation?(query: Query): Promise<InvalidationPlan>;
  /**
   * Optional: `query` restricted to the rows whose output `columns` hold one of `keys` (one value
   * per column, in column order): `SELECT * FROM (<query>) q WHERE q.c1 = ANY(...) AND ...`,
   * with the query's own parameters kept. For several columns it may select a superset (each
   * column is tested apart): reloading more is correct. `tables: 'auto'` reloads the records a
   * changed source row takes part in now through it.
   */
  linkQuery?<R>(query: Query<R>, columns: readonly string[], keys: readonly (readonly Key[])[]): Query<R>;
  /**
   * Optional: how many rows `query` would return, as the database's planner estimates it (cheap:
   * no rows are read); undefined when it cannot tell. A load's progress reports it as the total.
   */
  estimateRows?(query: Query): Promise<number | undefined>;
}
