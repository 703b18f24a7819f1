import type { KeyDecoder } from '../change-feed/change-feed.js';
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
}
