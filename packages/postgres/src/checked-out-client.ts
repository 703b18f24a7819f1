import { TablecacheError } from '@tablecache/core';
import type pg from 'pg';

/**
 * No rows arrived from the database within `readTimeoutMs`: the server is stuck or unreachable.
 * The connection was destroyed; a table that was loading or refreshing reports this as the
 * `cause` of its `DatabaseError`.
 */
export class ReadTimeoutError extends TablecacheError {
  override name = 'ReadTimeoutError';
  readonly code = 'ETIMEDOUT';
  constructor(readonly timeoutMs: number) {
    super(`the database sent nothing for ${timeoutMs} ms (readTimeoutMs); the connection was closed`);
  }
}

/**
 * A client checked out of a pg pool, watched for as long as it is out.
 *
 * pg reports a dead connection as an 'error' event on its client, and pg-pool listens for it only
 * while the client is idle: without the listener here, a backend killed mid-query is an unhandled
 * 'error' event, which ends the process. And a request to a dead connection may never settle
 * (pg-cursor's `close()` waits for a ReadyForQuery that will not come), so every wait here ends
 * when the connection fails, or after a timeout.
 */
export class CheckedOutClient {
  readonly client: pg.PoolClient;
  #failure: Error | undefined;
  #ended = false;
  /** Resolves with the failure once the connection failed; never rejects, so it is never an unhandled rejection. */
  readonly #failed: Promise<Error>;
  readonly #fail: (error: Error) => void;
  readonly #gone: Promise<void>;
  readonly #onError = (error: Error) => this.#fail(error);
  readonly #onEnd: () => void;

  constructor(client: pg.PoolClient) {
    this.client = client;
    let failed!: (error: Error) => void;
    this.#failed = new Promise((resolve) => (failed = resolve));
    this.#fail = (error) => {
      if (this.#failure !== undefined) return; // the first failure is the cause; the rest follow from it
      this.#failure = error;
      failed(error);
    };
    let ended!: () => void;
    this.#gone = new Promise((resolve) => (ended = resolve));
    this.#onEnd = () => {
      this.#ended = true;
      this.#fail(new Error('the database connection ended'));
      ended();
    };
    client.on('error', this.#onError);
    client.once('end', this.#onEnd);
  }

  /** Whether the connection failed (an error, its end, or a timeout): it can do nothing more. */
  get failed(): boolean {
    return this.#failure !== undefined;
  }

  /**
   * What `request` settles to, unless the connection fails first (then its error) or nothing
   * arrives within `timeoutMs` (0: no limit; then a `ReadTimeoutError`, and the connection counts
   * as failed).
   */
  async wait<T>(request: Promise<T>, timeoutMs: number): Promise<T> {
    const failed = this.#failed.then((error) => Promise.reject(error));
    if (timeoutMs <= 0) return Promise.race([request, failed]);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new ReadTimeoutError(timeoutMs);
        this.#fail(error);
        reject(error);
      }, timeoutMs);
    });
    try {
      return await Promise.race([request, failed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Gives the client back to its pool. A healthy one is reused, unless `discard` says otherwise.
   * A failed one is closed first and handed back only once its socket is gone: a dead socket can
   * still emit errors, which the pool, once the client is back, would pass on as 'error' events
   * of the pool (fatal for a pool without a listener). Never rejects.
   */
  async release(discard?: Error): Promise<void> {
    if (this.#failure === undefined) {
      this.client.removeListener('error', this.#onError);
      this.client.removeListener('end', this.#onEnd);
      this.client.release(discard);
      return;
    }
    // Its 'error' listener stays: the pool discards the client, and nothing it still reports may go unheard.
    if (!this.#ended) {
      this.client.connection.stream.destroy();
      await this.#gone;
    }
    this.client.release(this.#failure);
  }
}

/**
 * Gives every client `pool` connects from now on an 'error' listener for its whole life; returns
 * the function that stops it. pg-pool removes its own listener when it hands a client out, and
 * `CheckedOutClient` attaches one only once the code that asked for the client runs: a new
 * connection whose first bytes from the server carry both "ready" and "terminated" would emit its
 * error in between, unhandled, and end the process. Nothing is lost by listening: a failed client
 * is not queryable, so its next query fails, and the pool drops it when it comes back.
 */
export function listenToNewClients(pool: pg.Pool): () => void {
  const listen = (client: pg.PoolClient) => client.on('error', ignore);
  pool.on('connect', listen);
  return () => pool.removeListener('connect', listen);
}

function ignore(): void {}
