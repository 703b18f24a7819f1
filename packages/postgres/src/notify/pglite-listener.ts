import type { PGlite } from '@electric-sql/pglite';
import type { NotificationSource, SourceHandlers } from './notification-source.js';

/**
 * LISTENs on an embedded PGlite. There is no connection to lose. PGlite's own `listen` pastes
 * the channel into its LISTEN unquoted, so this quotes it through Postgres and takes
 * notifications from `onNotification`.
 */
export class PgliteListener implements NotificationSource {
  readonly #pglite: PGlite;
  readonly #channel: string;
  #unsubscribe: (() => void) | undefined;

  constructor(pglite: PGlite, channel: string) {
    this.#pglite = pglite;
    this.#channel = channel;
  }

  async start(handlers: SourceHandlers): Promise<void> {
    this.#unsubscribe = this.#pglite.onNotification((channel, payload) => {
      if (channel === this.#channel) handlers.payload(payload);
    });
    await this.#pglite.exec(await this.#quoted('LISTEN %I'));
  }

  connected(): Promise<void> {
    return Promise.resolve();
  }

  async notify(payload: string): Promise<void> {
    await this.#pglite.query('SELECT pg_notify($1, $2)', [this.#channel, payload]);
  }

  async close(): Promise<void> {
    this.#unsubscribe?.();
    if (!this.#pglite.closed) await this.#pglite.exec(await this.#quoted('UNLISTEN %I'));
  }

  async #quoted(template: string): Promise<string> {
    const { rows } = await this.#pglite.query<{ sql: string }>('SELECT format($1::text, $2::text) AS sql', [template, this.#channel]);
    return rows[0]!.sql;
  }
}
