import type { PGlite } from '@electric-sql/pglite';
import {
  consoleLogger,
  type DbAccess,
  describeError,
  type InvalidationPlan,
  InvalidOptionsError,
  isLogger,
  type Key,
  type KeyDecoder,
  type Logger,
  type Query,
  RateLimitedLogger,
} from '@tablecache/core';
import {
  Kysely,
  type PGlite as KyselyPGlite,
  PGliteDialect,
  type PostgresCursor,
  PostgresDialect,
  type PostgresPool,
  type PostgresPoolClient,
  type PostgresQueryResult,
} from 'kysely';
import pg from 'pg';
import Cursor from 'pg-cursor';
import { CheckedOutClient, listenToNewClients } from './checked-out-client.js';
import { compileQuery } from './compile-query.js';
import { KeyDecoding, type KeyReader, kyselyKeyReader, pgliteKeyReader } from './decode-keys.js';
import { explainInvalidation } from './invalidation-plan/explain-invalidation.js';
import { planRoot } from './invalidation-plan/plan-tree.js';
import { linkQuery } from './link-query.js';
import { items, readAhead } from './read-ahead.js';
import { kyselyTransactions, pgliteTransactions, type TransactionRunner } from './transaction-runner.js';

/** A pool this object creates, and ends on `close()`. */
export interface PostgresConnectionString {
  readonly connectionString: string;
  /** Most connections open at once (default 10). */
  readonly poolSize?: number;
  /** How long opening a connection may take before the query that needed it fails (default 10,000 ms; 0: no limit). */
  readonly connectTimeoutMs?: number;
}

/** Where a `PostgresAccess` gets its connections; exactly one of these. */
export type PostgresConnection<DB> =
  | PostgresConnectionString
  | { readonly pool: pg.Pool }
  | { readonly kysely: Kysely<DB> }
  | { readonly pglite: PGlite };

export type PostgresAccessOptions<DB = unknown> = PostgresConnection<DB> & PostgresAccessSettings;

/** What a `PostgresAccess` takes besides its connection. */
export interface PostgresAccessSettings {
  /** Rows fetched per round trip of a cursor (default 5,000: fewer round trips, a few MB read ahead at most). */
  readonly batchSize?: number;
  /**
   * How long a stream waits for its next batch before it fails with `ReadTimeoutError` (default
   * 60,000 ms; 0: no limit). See the class documentation for how each connection enforces it.
   */
  readonly readTimeoutMs?: number;
  /**
   * Where events are reported, one line each (default: the console). Today that is an idle
   * connection of a pool made from `connectionString` failing (the server restarted, or ended
   * it; the pool drops it and the next query opens another), at most one line per 10 s while
   * they keep failing.
   */
  readonly logger?: Logger;
  /** Receives each idle connection failure of a pool made from `connectionString` instead of the logger. */
  readonly onIdleError?: (error: unknown) => void;
}

const CONNECTION_OPTIONS = ['connectionString', 'pool', 'kysely', 'pglite'] as const;

/**
 * Database access for tablecache over kysely and pg, or over embedded PGlite.
 *
 * Rows stream through a portal (pg-cursor; DECLARE/FETCH in a transaction when given a kysely
 * instance or PGlite), one snapshot, `batchSize` rows per fetch. Fetching runs ahead of the
 * consumer, so the connection goes back to the pool when the database has sent the last row, not
 * when the consumer's loop ends.
 *
 * Waits for the database are bounded. A pool made from `connectionString` gives up opening a
 * connection after `connectTimeoutMs` and keeps its connections alive with TCP keepalive (first
 * probe after 10 s idle), so a peer that vanished is noticed. On a pool (made here or given), a
 * stream whose next batch does not arrive within `readTimeoutMs` fails with `ReadTimeoutError`
 * and its connection is destroyed. Through a given kysely instance, the connection is not ours to
 * destroy: the stream's transaction sets `statement_timeout` to `readTimeoutMs` instead, so the
 * server cancels a slow statement (the driver's error, SQLSTATE 57014). PGlite runs in this
 * process and has no such timeout.
 *
 * A connection that dies while rows stream fails the stream (the driver's error reaches the
 * consumer), never the process: a pool's clients are watched for errors for as long as they are
 * checked out, and every client it connects while this object is open gets an 'error' listener
 * for its life (pg-pool hands a new client out before anyone can listen; the listener only keeps
 * a late error from being unhandled, the pool still drops the client). A kysely instance given to this object checks its clients out itself; give its pool
 * an error listener for them, e.g. `pool.on('connect', (c) => c.on('error', () => {}))` (pg's
 * failed clients fail their next query, and the pool drops them), or a dead connection mid-query
 * is an unhandled 'error' event.
 *
 * Idle connection failures of a pool made here go to `logger`, one line each with the cause's
 * message and code, rate-limited in a reconnect storm; `decodeKeys` serves change feeds.
 *
 * A pool, kysely instance or PGlite passed in stays the caller's: neither `close()` nor
 * `access.kysely.destroy()` ends or closes it; `close()` ends only what this object created.
 */
export class PostgresAccess<DB = unknown> implements DbAccess {
  /** A kysely instance on the same connections, for building and running your own queries. */
  readonly kysely: Kysely<DB>;
  readonly batchSize: number;
  readonly readTimeoutMs: number;
  readonly #transaction: TransactionRunner;
  /** The pg pool, when this object has one (not for `{ kysely }` or `{ pglite }`): streams use its portals. */
  readonly #pool: pg.Pool | undefined;
  /** The pool made here from a connection string, ended by `close`. */
  readonly #ownedPool: pg.Pool | undefined;
  /** Whether `kysely` was made here (on the caller's PGlite or pool, destroying it ends nothing of theirs). */
  readonly #ownsKysely: boolean;
  /** Declared-cursor streams on a given kysely instance bound their statements server-side (see the class documentation). */
  readonly #statementTimeout: boolean;
  /** Stops watching the new clients of a pool given by the caller. */
  readonly #stopListening: (() => void) | undefined;
  readonly #keys: KeyDecoding;
  /** The client this object last took from its pool: its parsers are the ones rows of that pool get (see `decodeKeys`). */
  #poolClient: pg.PoolClient | undefined;
  /** Streams still reading and key decodes still querying; `close` waits for them to give their connections back. */
  readonly #running = new Set<Promise<unknown>>();
  #closed = false;

  /**
   * Turns key values sent as Postgres text (by a change feed) into exactly what this object's
   * rows hold for those columns, so changed keys match stored records whatever parses the rows:
   * pg's parsers (of whichever copy of pg made the pool), a pool's `types`, PGlite's parsers,
   * and whatever the session's TimeZone or DateStyle. Keys of types whose text output no session
   * setting changes (bool, integers, oid, numeric, text types, uuid) are decoded synchronously,
   * with the parsers this object's rows get, once it knows them (on a pool: after its first
   * query); everything else takes one round trip through the database, as a plain query.
   * Rejects with `KeyDecodeError` when a text is not a value of its type.
   */
  readonly decodeKeys: KeyDecoder = (columns, rows) => {
    if (this.#closed) return Promise.reject(new InvalidOptionsError('this PostgresAccess is closed'));
    const decoded = this.#keys.decode(columns, rows);
    if (decoded instanceof Promise) this.#track(decoded);
    return decoded;
  };

  constructor(options: PostgresAccessOptions<DB>) {
    const given = CONNECTION_OPTIONS.filter((name) => typeof options === 'object' && options !== null && name in options);
    if (given.length !== 1) {
      throw new InvalidOptionsError(
        `PostgresAccess takes exactly one of ${CONNECTION_OPTIONS.join(', ')}; got ${given.length === 0 ? 'none' : given.join(' and ')}`,
      );
    }
    this.batchSize = options.batchSize ?? 5000;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) {
      throw new InvalidOptionsError(`batchSize must be a positive integer; got ${String(options.batchSize)}`);
    }
    this.readTimeoutMs = milliseconds(options, 'readTimeoutMs', 60_000);
    if (options.logger !== undefined && !isLogger(options.logger)) {
      throw new InvalidOptionsError('logger must have error, warn, info and debug methods');
    }
    for (const name of ['poolSize', 'connectTimeoutMs'] as const) {
      if (name in options && !('connectionString' in options)) {
        throw new InvalidOptionsError(`${name} configures the pool made from a connectionString; set it on your own ${given[0]} instead`);
      }
    }
    this.#ownsKysely = !('kysely' in options);
    this.#statementTimeout = 'kysely' in options && this.readTimeoutMs > 0;
    if ('pglite' in options) {
      this.kysely = new Kysely<DB>({ dialect: new PGliteDialect({ pglite: unclosable(options.pglite) }) });
      this.#transaction = pgliteTransactions(options.pglite);
      this.#keys = new KeyDecoding(pgliteKeyReader(options.pglite));
      return;
    }
    if ('kysely' in options) {
      this.kysely = options.kysely;
      this.#keys = new KeyDecoding(kyselyKeyReader(options.kysely));
    } else {
      const pool = 'pool' in options ? options.pool : createPool(options);
      this.#pool = pool;
      const stopListening = listenToNewClients(pool);
      // A pool given by the caller outlives this object: its new clients are no longer watched after close.
      if ('pool' in options) this.#stopListening = stopListening;
      else this.#ownedPool = pool;
      this.kysely = new Kysely<DB>({ dialect: new PostgresDialect({ pool: watchedPool(pool, () => this.#checkOut(pool)) }) });
      this.#keys = new KeyDecoding(this.#poolKeyReader(pool));
    }
    this.#transaction = kyselyTransactions(this.kysely);
  }

  getRecords<R>(query: Query<R>): AsyncIterable<R> {
    return items(this.getRecordBatches(query));
  }

  /** The rows as they arrive, a fetch batch at a time: no await per row for bulk consumers. */
  getRecordBatches<R>(query: Query<R>): AsyncIterable<readonly R[]> {
    this.#assertOpen();
    const { sql, parameters } = compileQuery(query, this.kysely);
    return readAhead<R>((push, signal) => {
      const pool = this.#pool;
      const stream =
        pool !== undefined
          ? this.#portalStream(pool, sql, parameters, push, signal)
          : this.#declaredCursorStream(sql, parameters, push, signal);
      this.#track(stream);
      return stream;
    });
  }

  /** A stream through DECLARE/FETCH in a transaction, for a kysely instance or PGlite (no pg pool to take a client from). */
  #declaredCursorStream<R>(
    sql: string,
    parameters: readonly unknown[],
    push: (batch: readonly R[]) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const batchSize = this.batchSize;
    return this.#transaction(async (execute) => {
      // Every row will be read: plan for all of them, as for a plain query, not for the first
      // 10% (the cursor default, which favours fast-start plans such as nested loops).
      await execute('SET LOCAL cursor_tuple_fraction = 1', []);
      if (this.#statementTimeout) await execute(`SET LOCAL statement_timeout = ${this.readTimeoutMs}`, []);
      await execute(`DECLARE tablecache_cursor NO SCROLL CURSOR FOR ${sql}`, parameters);
      while (!signal.aborted) {
        const rows = await execute(`FETCH ${batchSize} FROM tablecache_cursor`, []);
        if (rows.length > 0) push(rows as R[]);
        if (rows.length < batchSize) break;
      }
    });
  }

  /**
   * A stream through an unnamed portal (pg-cursor: Bind, then Execute with a row limit): one
   * snapshot, planned like the plain query, with less overhead per batch than DECLARE/FETCH.
   */
  async #portalStream<R>(
    pool: pg.Pool,
    sql: string,
    parameters: readonly unknown[],
    push: (batch: readonly R[]) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const checkout = await this.#checkOut(pool);
    try {
      const cursor = checkout.client.query(new Cursor<R>(sql, [...parameters]));
      try {
        while (!signal.aborted) {
          const rows = await checkout.wait(cursor.read(this.batchSize), this.readTimeoutMs);
          if (rows.length > 0) push(rows);
          if (rows.length < this.batchSize) break;
        }
      } finally {
        // A dead connection cannot close the portal (and would never answer): it is destroyed instead.
        if (!checkout.failed) await checkout.wait(cursor.close(), this.readTimeoutMs).catch(() => undefined);
      }
    } finally {
      await checkout.release();
    }
  }

  /** How changes to the tables `query` reads map to its rows (see `explainInvalidation`). */
  explainInvalidation(query: Query): Promise<InvalidationPlan> {
    this.#assertOpen();
    return explainInvalidation(this, query);
  }

  /** `query` restricted to rows whose output `columns` hold one of `keys` (see `DbAccess.linkQuery`). */
  linkQuery<R>(query: Query<R>, columns: readonly string[], keys: readonly (readonly Key[])[]): Query<R> {
    return linkQuery(compileQuery(query, this.kysely), columns, keys);
  }

  /**
   * How many rows `query` would return, as the planner estimates it (`EXPLAIN (FORMAT JSON)`: no
   * row is read); a load's progress reports it as the total to expect.
   */
  async estimateRows(query: Query): Promise<number | undefined> {
    const { sql, parameters } = compileQuery(query, this.kysely);
    const rows = await this.execute<Record<string, unknown>>({ sql: `EXPLAIN (FORMAT JSON) ${sql}`, parameters });
    const estimate = planRoot(rows)['Plan Rows'];
    return typeof estimate === 'number' ? estimate : undefined;
  }

  /** Runs any statement (also writes) in a transaction of its own and returns its rows. */
  execute<R>(query: Query<R>): Promise<R[]> {
    return this.transaction((run) => run(query));
  }

  /** Runs `work` in one transaction: committed if it resolves, rolled back if it rejects. */
  transaction<T>(work: (run: <R>(query: Query<R>) => Promise<R[]>) => Promise<T>): Promise<T> {
    this.#assertOpen();
    return this.#transaction((execute) =>
      work(async <R>(query: Query<R>) => {
        const { sql, parameters } = compileQuery(query, this.kysely);
        return (await execute(sql, parameters)) as R[];
      }),
    );
  }

  /** Waits for running streams (a consumer that stopped early stops its stream), then ends what this object created. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(this.#running);
    this.#stopListening?.();
    if (this.#ownsKysely) await this.kysely.destroy();
    // kysely's view of the pool ends nothing (see watchedPool), so the pool made here is ended here.
    if (this.#ownedPool !== undefined && !this.#ownedPool.ended) await this.#ownedPool.end();
  }

  /** A client of the pool, watched while it is out; its parsers become the ones `decodeKeys` uses. */
  async #checkOut(pool: pg.Pool): Promise<CheckedOutClient> {
    const client = await pool.connect();
    this.#poolClient = client;
    return new CheckedOutClient(client);
  }

  #poolKeyReader(pool: pg.Pool): KeyReader {
    return {
      localParser: (typeId) => {
        const client = this.#poolClient;
        // A client configured for binary results parses them with its binary parsers, not these.
        if (client === undefined || ('binary' in client && client.binary)) return undefined;
        // What pg parses each column of a row with, cursors included: the client's own overrides,
        // then its pool's `types`, then the global parsers of the copy of pg that made it.
        return client.getTypeParser(typeId, 'text');
      },
      query: async (sql, parameters) => {
        const checkout = await this.#checkOut(pool);
        try {
          return (await checkout.wait(checkout.client.query(sql, [...parameters]), this.readTimeoutMs)).rows;
        } finally {
          await checkout.release();
        }
      },
    };
  }

  /** Lets `close` wait for `work` (whether it succeeds or not). */
  #track(work: Promise<unknown>): void {
    const settled = work.then(
      () => undefined,
      () => undefined,
    );
    this.#running.add(settled);
    void settled.finally(() => this.#running.delete(settled));
  }

  #assertOpen(): void {
    if (this.#closed) throw new InvalidOptionsError('this PostgresAccess is closed');
  }
}

/** The pool for `{ connectionString }`: bounded connection attempts, keepalive, idle failures reported. */
function createPool(options: PostgresConnectionString & PostgresAccessSettings): pg.Pool {
  if (typeof options.connectionString !== 'string' || options.connectionString === '') {
    throw new InvalidOptionsError('connectionString must be a non-empty string');
  }
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: milliseconds(options, 'connectTimeoutMs', 10_000),
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  });
  // Without a listener, an idle client's error would be thrown as an unhandled 'error' event.
  pool.on('error', options.onIdleError ?? idleErrorReporter(options.logger ?? consoleLogger));
  return pool;
}

/** Reports idle connection failures on `logger`: one line each, a storm of them (a server restart) rate-limited. */
function idleErrorReporter(logger: Logger): (error: unknown) => void {
  const limited = new RateLimitedLogger(logger);
  return (error) =>
    limited.log(
      'warn',
      'idle connection failed',
      `an idle database connection failed; the next query opens another: ${describeError(error)}`,
    );
}

/** A duration option: a non-negative integer of milliseconds, 0 for no limit. */
function milliseconds<O extends object>(options: O, name: keyof O & string, fallback: number): number {
  const value = options[name] ?? fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new InvalidOptionsError(`${name} must be a non-negative integer of milliseconds (0: no limit); got ${String(value)}`);
  }
  return value;
}

/**
 * The PGlite as kysely sees it, minus closing: kysely's PGlite dialect closes its instance when
 * destroyed, and a PGlite given to `PostgresAccess` stays the caller's, also through
 * `access.kysely.destroy()`.
 */
function unclosable(pglite: PGlite): KyselyPGlite {
  return {
    get closed() {
      return pglite.closed;
    },
    get ready() {
      return pglite.ready;
    },
    get waitReady() {
      return pglite.waitReady;
    },
    query: (sql, parameters, options) => pglite.query(sql, parameters, options),
    transaction: (work) => pglite.transaction(work),
    close: async () => {},
  };
}

/**
 * A pool as kysely sees it, whose clients are watched while checked out (see
 * `CheckedOutClient`); kysely's connections have no 'error' listener of their own. Ending it ends
 * nothing: `PostgresAccess.close` ends the pool it created, and a pool it was given stays the
 * caller's, also through `kysely.destroy()`.
 */
function watchedPool(pool: pg.Pool, checkOut: () => Promise<CheckedOutClient>): PostgresPool {
  return {
    options: pool.options,
    connect: async () => new WatchedPoolClient(await checkOut()),
    end: async () => {},
  };
}

class WatchedPoolClient implements PostgresPoolClient {
  readonly #checkout: CheckedOutClient;

  constructor(checkout: CheckedOutClient) {
    this.#checkout = checkout;
  }

  query<R>(sql: string, parameters: readonly unknown[]): Promise<PostgresQueryResult<R>>;
  query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
  query<R>(sql: string | PostgresCursor<R>, parameters: readonly unknown[] = []): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
    // kysely streams only through a cursor class given in its dialect config, and none is.
    if (typeof sql !== 'string') throw new Error('this kysely instance does not stream; use PostgresAccess.getRecords');
    return this.#run<R>(sql, parameters);
  }

  async #run<R>(sql: string, parameters: readonly unknown[]): Promise<PostgresQueryResult<R>> {
    const { command, rowCount, rows } = await this.#checkout.client.query<R & pg.QueryResultRow>(sql, [...parameters]);
    // kysely reads the command only to tell a COMMIT from the ROLLBACK that ends an aborted transaction.
    return { command: command as PostgresQueryResult<R>['command'], rowCount: rowCount ?? 0, rows };
  }

  /** kysely discards a connection whose rollback failed. */
  release(discard?: boolean): void {
    void this.#checkout.release(discard ? new Error('kysely discarded the connection') : undefined);
  }
}
