import pg from 'pg';
import type { NotificationSource, SourceHandlers } from './notification-source.js';

export interface PgListenerOptions {
  readonly connectionString: string;
  readonly channel: string;
  readonly livenessIntervalMs: number;
  readonly reconnectDelayMs: { readonly initial: number; readonly max: number };
}

/**
 * LISTENs on a connection of its own (not from a pool: a pooled connection could be handed to
 * someone else, or closed, and take the LISTEN with it). When the connection is lost or stops
 * answering the periodic liveness query, it reconnects with capped exponential backoff and
 * jitter, LISTENs again, and reports the reconnect.
 */
export class PgListener implements NotificationSource {
  readonly #options: PgListenerOptions;
  #handlers: SourceHandlers | undefined;
  #client: pg.Client | undefined;
  #waiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  #liveness: ReturnType<typeof setInterval> | undefined;
  #everConnected = false;
  #closed = false;

  constructor(options: PgListenerOptions) {
    this.#options = options;
  }

  async start(handlers: SourceHandlers): Promise<void> {
    this.#handlers = handlers;
    void this.#connectWithRetry();
    await this.connected();
  }

  connected(): Promise<void> {
    if (this.#client !== undefined) return Promise.resolve();
    if (this.#closed) return Promise.reject(new Error('the listener is closed'));
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  async notify(payload: string): Promise<void> {
    const client = this.#client;
    if (client === undefined) throw new Error('not connected');
    await client.query('SELECT pg_notify($1, $2)', [this.#options.channel, payload]);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#liveness);
    const client = this.#client;
    this.#client = undefined;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(new Error('the listener was closed before it connected'));
    await client?.end().catch(() => undefined);
  }

  async #connectWithRetry(): Promise<void> {
    const { initial, max } = this.#options.reconnectDelayMs;
    for (let attempt = 0; !this.#closed; attempt++) {
      try {
        await this.#connect();
        return;
      } catch (error) {
        if (this.#closed) return;
        this.#report(error);
        const delay = Math.min(max, initial * 2 ** attempt) * (0.5 + Math.random() / 2);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  async #connect(): Promise<void> {
    // The application name lets an operator find (or a test kill) the listening backend.
    const client = new pg.Client({
      connectionString: this.#options.connectionString,
      keepAlive: true,
      application_name: 'tablecache-listener',
    });
    client.on('error', (error) => this.#lost(client, error));
    client.on('end', () => this.#lost(client, new Error('the listening connection ended')));
    client.on('notification', (message) => {
      if (message.channel === this.#options.channel && message.payload !== undefined) this.#handlers?.payload(message.payload);
    });
    try {
      await client.connect();
      // The channel is an identifier: Postgres quotes it.
      const [{ sql }] = (
        await client.query<{ sql: string }>('SELECT format($1::text, $2::text) AS sql', ['LISTEN %I', this.#options.channel])
      ).rows as [{ sql: string }];
      await client.query(sql);
    } catch (error) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.#closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#client = client;
    this.#startLiveness(client);
    if (this.#everConnected) this.#handlers?.reconnected();
    this.#everConnected = true;
    for (const waiter of this.#waiters.splice(0)) waiter.resolve();
  }

  #startLiveness(client: pg.Client): void {
    clearInterval(this.#liveness);
    const interval = this.#options.livenessIntervalMs;
    let checking = false;
    this.#liveness = setInterval(() => {
      if (checking) return;
      checking = true;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the listening connection did not answer within ${interval} ms`)), interval);
      });
      Promise.race([client.query('SELECT 1'), timeout])
        .catch((error: unknown) => this.#lost(client, error))
        .finally(() => {
          clearTimeout(timer);
          checking = false;
        });
    }, interval);
    this.#liveness.unref();
  }

  #lost(client: pg.Client, error: unknown): void {
    if (client !== this.#client || this.#closed) return;
    this.#client = undefined;
    clearInterval(this.#liveness);
    client.removeAllListeners('end');
    client.end().catch(() => undefined);
    this.#report(error);
    void this.#connectWithRetry();
  }

  /** Passes an error to the feed's handler; a handler that throws must not stop the reconnecting. */
  #report(error: unknown): void {
    try {
      this.#handlers?.error(error);
    } catch {
      // the handler's own failure has nowhere better to go
    }
  }
}
