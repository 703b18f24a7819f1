import { setTimeout as sleep } from 'node:timers/promises';
import { FeedClosedError } from '@tablecache/core';
import pg from 'pg';
import { FeedConnectionError, feedName } from './feed-errors.js';
import type { FeedReporter } from './feed-reporter.js';
import type { NotificationSource, SourceHandlers } from './notification-source.js';

export interface PgListenerOptions {
  readonly connectionString: string;
  readonly channel: string;
  /** The first connection's deadline, and each reconnect attempt's. */
  readonly connectTimeoutMs: number;
  readonly livenessIntervalMs: number;
  readonly livenessTimeoutMs: number;
  readonly reconnectDelayMs: { readonly initial: number; readonly max: number };
  readonly reporter: FeedReporter;
}

/**
 * The start of every listener's application name, which goes on with its channel
 * (`listenerApplicationName`): an operator, `tablecache status` (or a test killing or freezing it)
 * finds the listening backends by it.
 */
export const LISTENER_APPLICATION_PREFIX = 'tablecache-listener:';

/** Postgres shows (in pg_stat_activity) at most this many bytes of an application name. */
export const APPLICATION_NAME_BYTES = 63;

/**
 * The application name of a channel's listener. Bytes outside printable ASCII, and backslashes,
 * are written `\xNN`: Postgres would replace them itself, with `?` before version 16 and `\xNN`
 * from 16 on, so the name reads the same on every version and `readListenerName` reads the
 * channel back. Postgres cuts what it shows at `APPLICATION_NAME_BYTES`.
 */
export function listenerApplicationName(channel: string): string {
  let escaped = '';
  for (const byte of Buffer.from(channel)) {
    escaped += byte >= 0x20 && byte < 0x7f && byte !== 0x5c ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return `${LISTENER_APPLICATION_PREFIX}${escaped}`;
}

/** A listener's channel as its application name (as Postgres shows it) tells. */
export interface ListenerName {
  /** The channel, or when `truncated` the start of it that the name kept. */
  readonly channel: string;
  /** Postgres cut the name: the channel is known only by its start. */
  readonly truncated: boolean;
}

/** Reads a channel back from an application name that `listenerApplicationName` made; undefined for any other name. */
export function readListenerName(shown: string): ListenerName | undefined {
  if (!shown.startsWith(LISTENER_APPLICATION_PREFIX)) return undefined;
  // The name is ASCII, so its length is its size in bytes: one of the limit's size may have been cut.
  const truncated = shown.length >= APPLICATION_NAME_BYTES;
  const rest = shown.slice(LISTENER_APPLICATION_PREFIX.length);
  // A cut may split an escape: what is left of it is dropped.
  const escaped = truncated ? rest.replace(/\\(x[0-9a-f]?)?$/, '') : rest;
  const bytes = [...escaped.matchAll(/\\x([0-9a-f]{2})|(.)/gs)].map(([, hex, char]) =>
    hex === undefined ? char!.charCodeAt(0) : Number.parseInt(hex, 16),
  );
  // Streaming, the decoder keeps back the bytes of a character that the cut split.
  return { channel: new TextDecoder().decode(new Uint8Array(bytes), { stream: truncated }), truncated };
}

/**
 * LISTENs on a connection of its own (not from a pool: a pooled connection could be handed to
 * someone else, or closed, and take the LISTEN with it).
 *
 * The first connection must succeed within `connectTimeoutMs`; errors that retrying cannot fix
 * (no such database, authentication) fail it at once, and a failed start leaves nothing running.
 * Once connected, a connection that errs, ends, or does not answer a liveness query in time is
 * reported lost at once and retried forever, with capped exponential backoff and jitter; the
 * reconnect is reported so the feed can announce its gap.
 */
export class PgListener implements NotificationSource {
  readonly #options: PgListenerOptions;
  /** Aborted by close: cuts the backoff sleeps short. */
  readonly #closing = new AbortController();
  #handlers: SourceHandlers | undefined;
  /** The connection LISTEN is in place on; undefined while connecting. */
  #session: Session | undefined;
  /** The client of the connection attempt under way, so close can cut it off. */
  #attempt: pg.Client | undefined;
  /** notify() calls waiting for a connection. */
  #waiting: { resolve: (session: Session) => void; reject: (error: unknown) => void }[] = [];
  #liveness: ReturnType<typeof setInterval> | undefined;
  /** `LISTEN "channel"`, quoted by Postgres on the first connection. */
  #listenSql: string | undefined;
  /** Why it stopped: closed, or its first connection failed. */
  #stopped: Error | undefined;
  #lastError: unknown;
  #queueUsage: number | undefined;

  constructor(options: PgListenerOptions) {
    this.#options = options;
  }

  get lastError(): unknown {
    return this.#lastError;
  }

  /** The server's notification queue usage (0 to 1), as the last liveness check read it. */
  get queueUsage(): number | undefined {
    return this.#queueUsage;
  }

  async start(handlers: SourceHandlers): Promise<void> {
    this.#handlers = handlers;
    const { channel, connectTimeoutMs, reporter } = this.#options;
    const deadline = Date.now() + connectTimeoutMs;
    for (let attempt = 1; ; attempt++) {
      const remaining = deadline - Date.now();
      if (remaining <= 0)
        throw this.#fail(new FeedConnectionError(channel, `could not connect within ${connectTimeoutMs} ms`, this.#lastError));
      try {
        this.#established(await this.#connect(remaining));
        reporter.reset('attempt');
        return;
      } catch (error) {
        if (this.#stopped !== undefined) throw this.#stopped;
        this.#lastError = error;
        if (isPermanent(error)) throw this.#fail(new FeedConnectionError(channel, 'could not connect', error, 'not retried'));
        reporter.error('attempt', new FeedConnectionError(channel, 'could not connect', error, `attempt ${attempt}, retrying`));
      }
      if (!(await this.#pause(Math.min(this.#backoff(attempt), deadline - Date.now())))) throw this.#stopped;
    }
  }

  async notify(payload: () => string): Promise<void> {
    const session = this.#session ?? (await this.#nextSession());
    try {
      await session.run((client) => client.query('SELECT pg_notify($1, $2)', [this.#options.channel, payload()]));
    } catch (error) {
      // The listener connection runs nothing that should fail: take it as lost. The gap after
      // the reconnect covers this marker.
      this.#lost(session, error);
    }
  }

  async close(): Promise<void> {
    const closed = new FeedClosedError(feedName(this.#options.channel));
    this.#stop(closed);
    if (this.#attempt !== undefined) void discard(this.#attempt, closed);
    const session = this.#session;
    this.#session = undefined;
    if (session !== undefined) await session.close();
  }

  /** One connection attempt, with LISTEN in place; it gives up (and closes its socket) after `timeoutMs`. */
  async #connect(timeoutMs: number): Promise<Session> {
    const { channel } = this.#options;
    const client = new pg.Client({
      connectionString: this.#options.connectionString,
      application_name: listenerApplicationName(channel),
      // TCP keepalive keeps an idle socket known to middleboxes; a frozen server still answers
      // keepalives from its kernel, so the liveness query is what detects it.
      keepAlive: true,
    });
    let session: Session | undefined;
    // Before the session exists, connect() and query() reject with the same errors.
    client.on('error', (error) => session !== undefined && this.#lost(session, error));
    client.on('end', () => session !== undefined && this.#lost(session, new Error('the connection was closed by the server')));
    client.on('notification', (message) => {
      // Once LISTEN is in place (even before the session is published), but never from a connection given up.
      if ((session === undefined || session === this.#session) && message.channel === channel && message.payload !== undefined) {
        this.#handlers?.payload(message.payload);
      }
    });
    this.#attempt = client;
    // Destroyed with the reason, so the attempt fails with it (the catch below then discards the client).
    const timer = setTimeout(
      () => client.connection.stream.destroy(new Error(`the server did not answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    try {
      await client.connect();
      // The channel is an identifier: Postgres quotes it.
      this.#listenSql ??= (await client.query<{ sql: string }>('SELECT format($1::text, $2::text) AS sql', ['LISTEN %I', channel]))
        .rows[0]!.sql;
      await client.query(this.#listenSql);
    } catch (error) {
      void discard(client, new Error('the connection attempt failed'));
      throw error;
    } finally {
      clearTimeout(timer);
      this.#attempt = undefined;
    }
    session = new Session(client);
    return session;
  }

  #established(session: Session): void {
    if (this.#stopped !== undefined) {
      void session.close();
      throw this.#stopped;
    }
    this.#session = session;
    this.#startLiveness(session);
    for (const waiter of this.#waiting.splice(0)) waiter.resolve(session);
  }

  /**
   * Asks the queue usage every `livenessIntervalMs` through the session's queue; no answer within
   * `livenessTimeoutMs` of asking means the connection is lost. A connection that froze is
   * therefore found within the interval plus the timeout. The answer is the queue gauge's sample:
   * the check costs the server nothing more than `SELECT 1` did.
   */
  #startLiveness(session: Session): void {
    const { livenessIntervalMs, livenessTimeoutMs } = this.#options;
    let checking = false;
    this.#liveness = setInterval(() => {
      if (checking) return;
      checking = true;
      let answered = false;
      const timer = setTimeout(() => {
        // The event loop may have been blocked (a long GC pause, a big synchronous load) while
        // the answer sat in the socket: a turn through the poll phase reads it before the check
        // is declared failed.
        setImmediate(() => {
          if (!answered) this.#lost(session, new Error(`no answer to a liveness check within ${livenessTimeoutMs} ms`));
        });
      }, livenessTimeoutMs);
      session
        .run((client) => client.query<{ usage: number }>('SELECT pg_notification_queue_usage() AS usage'))
        .then(
          ({ rows }) => {
            answered = true;
            this.#queueUsage = rows[0]?.usage;
          },
          (error: unknown) => {
            answered = true;
            this.#lost(session, error);
          },
        )
        .finally(() => {
          clearTimeout(timer);
          checking = false;
        });
    }, livenessIntervalMs);
  }

  #lost(session: Session, error: unknown): void {
    if (session !== this.#session) return; // already given up, or closed
    this.#session = undefined;
    clearInterval(this.#liveness);
    void session.close();
    const lost = new FeedConnectionError(this.#options.channel, 'lost its connection', error, 'retrying');
    this.#handlers?.lost(lost.message);
    this.#options.reporter.error('lost', lost);
    void this.#reconnect();
  }

  /** Reconnects until it succeeds or the listener is closed; the first attempt is immediate. */
  async #reconnect(): Promise<void> {
    const { channel, connectTimeoutMs, reporter } = this.#options;
    const since = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        this.#established(await this.#connect(connectTimeoutMs));
      } catch (error) {
        if (this.#stopped !== undefined) return;
        this.#lastError = error;
        reporter.error('attempt', new FeedConnectionError(channel, 'could not reconnect', error, `attempt ${attempt}, retrying`));
        if (!(await this.#pause(this.#backoff(attempt)))) return;
        continue;
      }
      reporter.reset('attempt');
      const seconds = ((Date.now() - since) / 1000).toFixed(1);
      reporter.info(
        'reconnected',
        `listener on channel '${channel}' reconnected after ${attempt} attempt${attempt === 1 ? '' : 's'}, ${seconds} s`,
      );
      this.#handlers?.reconnected();
      return;
    }
  }

  #nextSession(): Promise<Session> {
    if (this.#stopped !== undefined) return Promise.reject(this.#stopped);
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  /** Capped exponential backoff with jitter, so listeners of many processes do not reconnect in step. */
  #backoff(attempt: number): number {
    const { initial, max } = this.#options.reconnectDelayMs;
    return Math.min(max, initial * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
  }

  /** Waits `ms`; false when the listener stopped meanwhile. */
  async #pause(ms: number): Promise<boolean> {
    try {
      await sleep(Math.max(0, ms), undefined, { signal: this.#closing.signal });
      return true;
    } catch {
      return false;
    }
  }

  /** The first connection failed: stop for good, as if closed, and say why. */
  #fail(error: FeedConnectionError): FeedConnectionError {
    this.#stop(error);
    this.#options.reporter.error('failed', error);
    return error;
  }

  #stop(reason: Error): void {
    if (this.#stopped !== undefined) return;
    this.#stopped = reason;
    this.#closing.abort();
    clearInterval(this.#liveness);
    for (const waiter of this.#waiting.splice(0)) waiter.reject(reason);
  }
}

/**
 * A connection with LISTEN in place and the one queue its queries go through: pg deprecates a
 * query sent while another runs on the same client (pg@9 refuses it), and liveness checks and
 * sync markers would otherwise overlap.
 */
class Session {
  readonly client: pg.Client;
  #tail: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(client: pg.Client) {
    this.client = client;
  }

  /** Runs `task` once the tasks queued before it have finished; rejects once the session is closed. */
  run<T>(task: (client: pg.Client) => Promise<T>): Promise<T> {
    const result = this.#tail.then(() => {
      if (this.#closed) throw new Error('the listening connection was given up');
      return task(this.client);
    });
    this.#tail = result.catch(() => undefined);
    return result;
  }

  close(): Promise<void> {
    this.#closed = true;
    return discard(this.client, new Error('the listening connection was given up'));
  }
}

/**
 * Closes a client's socket now, failing its queries, and its connect() when it was connecting,
 * with `reason` (a socket closed without an error would leave a connect() pending forever).
 * `end()` alone waits for the server's goodbye, which a frozen server never sends; it still goes
 * first, so a server that answers gets a clean Terminate.
 */
function discard(client: pg.Client, reason: Error): Promise<void> {
  const ended = client.end().catch(() => undefined);
  client.connection.stream.destroy(reason);
  return ended;
}

/** SQLSTATE classes and codes that no retry fixes: authorization (28), no such database (3D000), refused statements (42). */
function isPermanent(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.length === 5 && (code.startsWith('28') || code === '3D000' || code.startsWith('42'));
}
