import type { PGlite } from '@electric-sql/pglite';
import { FeedClosedError } from '@tablecache/core';
import { FeedConnectionError, feedName } from './feed-errors.js';
import type { NotificationSource, SourceHandlers } from './notification-source.js';

/**
 * Feeds listening, per PGlite and channel: LISTEN belongs to the session, and a PGlite is one
 * session, so the last feed on a channel to close is the one that UNLISTENs.
 */
const listening = new WeakMap<PGlite, Map<string, number>>();

/**
 * LISTENs on an embedded PGlite. There is no connection to lose, so it never reports one lost;
 * a PGlite that refuses queries (closed) fails what needs it at once. PGlite's own `listen`
 * pastes the channel into its LISTEN unquoted, so this quotes it through Postgres and takes
 * notifications from `onNotification`.
 */
export class PgliteListener implements NotificationSource {
  readonly #pglite: PGlite;
  readonly #channel: string;
  #unsubscribe: (() => void) | undefined;
  /** The LISTEN, once started: close waits for it before it can UNLISTEN. */
  #listen: Promise<void> | undefined;
  /** `"channel"`, quoted by Postgres; set once LISTEN is in place. */
  #quoted: string | undefined;
  /** The marker being sent. */
  #sending: Promise<unknown> = Promise.resolve();
  #closed = false;
  #lastError: unknown;

  constructor(pglite: PGlite, channel: string) {
    this.#pglite = pglite;
    this.#channel = channel;
  }

  get lastError(): unknown {
    return this.#lastError;
  }

  /** Not sampled: PGlite runs in this process, with no other session to fill its queue. */
  get queueUsage(): undefined {
    return undefined;
  }

  start(handlers: SourceHandlers): Promise<void> {
    this.#unsubscribe = this.#pglite.onNotification((channel, payload) => {
      if (channel === this.#channel && !this.#closed) handlers.payload(payload);
    });
    this.#listen = this.#startListening();
    return this.#listen;
  }

  async notify(payload: () => string): Promise<void> {
    if (this.#closed) throw new FeedClosedError(feedName(this.#channel));
    // One marker at a time, its payload taken when its turn comes: syncs that start meanwhile share the next.
    const sent = this.#sending.then(() => this.#pglite.query('SELECT pg_notify($1, $2)', [this.#channel, payload()]));
    this.#sending = sent.catch(() => undefined);
    try {
      await sent;
    } catch (error) {
      throw new FeedConnectionError(this.#channel, 'could not send a sync marker on PGlite', error);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe?.();
    await this.#listen?.catch(() => undefined);
    if (this.#quoted === undefined) return; // no LISTEN in place
    const listeners = listening.get(this.#pglite)!;
    const others = listeners.get(this.#channel)! - 1;
    listeners.set(this.#channel, others);
    if (others > 0 || this.#pglite.closed) return;
    try {
      await this.#pglite.exec(`UNLISTEN ${this.#quoted}`);
    } catch {
      // closed meanwhile: nothing listens any more
    }
  }

  async #startListening(): Promise<void> {
    try {
      const { rows } = await this.#pglite.query<{ name: string }>('SELECT quote_ident($1) AS name', [this.#channel]);
      await this.#pglite.exec(`LISTEN ${rows[0]!.name}`);
      this.#quoted = rows[0]!.name;
    } catch (error) {
      this.#lastError = error;
      this.#unsubscribe?.();
      throw new FeedConnectionError(this.#channel, 'could not LISTEN on PGlite', error, 'not retried');
    }
    const listeners = listening.get(this.#pglite) ?? new Map<string, number>();
    listening.set(this.#pglite, listeners.set(this.#channel, (listeners.get(this.#channel) ?? 0) + 1));
    // Closed while the LISTEN ran: close() takes it back once this settles.
    if (this.#closed) throw new FeedClosedError(feedName(this.#channel));
  }
}
