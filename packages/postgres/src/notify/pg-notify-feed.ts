import { randomUUID } from 'node:crypto';
import { type PGlite, types as pgliteTypes } from '@electric-sql/pglite';
import { type Change, type ChangeFeed, type ChangeFeedEvent, type EncodedChange, InvalidOptionsError } from '@tablecache/core';
import pg from 'pg';
import { checkChannel, DEFAULT_CHANNEL } from '../triggers/trigger-target.js';
import type { NotificationSource } from './notification-source.js';
import { markerPayload, type Payload, parsePayload } from './payload.js';
import { PgListener } from './pg-listener.js';
import { PgliteListener } from './pglite-listener.js';

/** Turns a key value from its Postgres text form into what the driver gives for that type. */
type ParseValue = (text: string, typeId: number) => unknown;

export interface PgNotifyFeedOptions {
  /** The channel the triggers notify (default `tablecache`). */
  readonly channel?: string;
  /** How often the listening connection must answer a query (default 5,000 ms). */
  readonly livenessIntervalMs?: number;
  /** Backoff between reconnect attempts: doubles from `initial` up to `max` (default 100 and 5,000 ms). */
  readonly reconnectDelayMs?: { readonly initial?: number; readonly max?: number };
  /** Lost connections, failed reconnects, unreadable payloads. Default: console.error. */
  readonly onError?: (error: unknown) => void;
}

/**
 * The change feed of the triggers `installTriggers` puts in place, from LISTEN on a dedicated
 * connection (or on PGlite). After any reconnect it reports a gap, since notifications sent
 * while it was away are lost; an unreadable payload is reported and also treated as a gap.
 * `sync()` sends a marker through the channel and waits for it: Postgres delivers notifications
 * in commit order, so every change committed earlier has arrived by then.
 */
export class PgNotifyFeed implements ChangeFeed {
  readonly channel: string;
  readonly #source: NotificationSource;
  readonly #parseValue: ParseValue;
  readonly #onError: (error: unknown) => void;
  readonly #listeners = new Set<(event: ChangeFeedEvent) => void>();
  readonly #id = randomUUID();
  /** Markers sent and not arrived yet, by number (`${feed id}:${number}` on the wire). */
  readonly #markers = new Map<number, () => void>();
  readonly #started: Promise<void>;
  #markerCount = 0;
  #gaps = 0;
  #closed = false;

  constructor(connection: { readonly connectionString: string } | { readonly pglite: PGlite }, options: PgNotifyFeedOptions = {}) {
    this.channel = checkChannel(options.channel ?? DEFAULT_CHANNEL);
    const livenessIntervalMs = options.livenessIntervalMs ?? 5000;
    const initial = options.reconnectDelayMs?.initial ?? 100;
    const max = options.reconnectDelayMs?.max ?? 5000;
    for (const [name, value] of Object.entries({ livenessIntervalMs, initial, max })) {
      if (!Number.isFinite(value) || value <= 0)
        throw new InvalidOptionsError(`${name} must be a positive number of milliseconds; got ${value}`);
    }
    this.#onError = options.onError ?? ((error) => console.error(`tablecache: feed on channel '${this.channel}':`, error));
    if (typeof connection === 'object' && connection !== null && 'pglite' in connection) {
      this.#source = new PgliteListener(connection.pglite, this.channel);
      this.#parseValue = (text, typeId) => pgliteTypes.parseType(text, typeId);
    } else if (typeof connection === 'object' && connection !== null && typeof connection.connectionString === 'string') {
      this.#source = new PgListener({
        connectionString: connection.connectionString,
        channel: this.channel,
        livenessIntervalMs,
        reconnectDelayMs: { initial, max },
      });
      this.#parseValue = (text, typeId) => pg.types.getTypeParser(typeId, 'text')(text);
    } else {
      throw new InvalidOptionsError('PgNotifyFeed takes { connectionString } or { pglite }');
    }
    this.#started = this.#source.start({
      payload: (text) => this.#onPayload(text),
      reconnected: () => this.#gap('the listening connection was lost and re-established'),
      error: (error) => this.#onError(error),
    });
    this.#started.catch(() => undefined); // surfaced by ready() and sync()
  }

  /** Gaps reported so far (reconnects and unreadable payloads). */
  get gaps(): number {
    return this.#gaps;
  }

  ready(): Promise<void> {
    return this.#started;
  }

  subscribe(listener: (event: ChangeFeedEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async sync(): Promise<void> {
    await this.#started;
    const number = ++this.#markerCount;
    const arrived = new Promise<void>((resolve) => this.#markers.set(number, resolve));
    // A gap releases the marker too (see #gap): then there is nothing left to send or wait for.
    while (!this.#closed && this.#markers.has(number)) {
      try {
        await this.#source.notify(markerPayload(`${this.#id}:${number}`));
        break;
      } catch (error) {
        // Disconnected: once reconnected, a gap covers everything before it, this marker included.
        // (A pause keeps a failure on a live connection from spinning.)
        this.#onError(error);
        await new Promise((resolve) => setTimeout(resolve, 100));
        await this.#source.connected();
      }
    }
    await arrived;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    this.#releaseMarkers(Infinity);
    // The source first: a feed that never connected is still trying, and would keep `started` pending.
    await this.#source.close();
    await this.#started.catch(() => undefined);
  }

  #onPayload(text: string): void {
    let payload: Payload;
    try {
      payload = parsePayload(text);
    } catch (error) {
      this.#onError(error);
      this.#gap(`an unreadable payload arrived on channel '${this.channel}'`);
      return;
    }
    if (payload.kind === 'marker') {
      // Markers arrive in the order they were sent: one arriving releases those sent before it.
      // Another feed's marker (or a forged one) does not name ours: it is ignored.
      const number = payload.id.startsWith(`${this.#id}:`) ? Number(payload.id.slice(this.#id.length + 1)) : Number.NaN;
      if (this.#markers.has(number)) this.#releaseMarkers(number);
      return;
    }
    this.#emit({ type: 'changes', changes: payload.changes.map((change) => this.#decode(change)) });
  }

  /** Decodes the keys with this feed's parsers, as it did before payloads carried text (see core's EncodedChange). */
  #decode({ keyColumns, old, new: current, ...change }: EncodedChange): Change {
    const row = (key: readonly string[]) =>
      Object.fromEntries(keyColumns.map(({ name, typeId }, i) => [name, this.#parseValue(key[i]!, typeId)]));
    return { ...change, ...(old === undefined ? {} : { old: row(old) }), ...(current === undefined ? {} : { new: row(current) }) };
  }

  #gap(reason: string): void {
    this.#gaps++;
    this.#emit({ type: 'gap', reason });
    // Everything before a gap is invalidated by it, so waiting syncs are done.
    this.#releaseMarkers(Infinity);
  }

  /** Releases the syncs waiting for markers up to `last`. */
  #releaseMarkers(last: number): void {
    for (const [number, release] of this.#markers) {
      if (number <= last) {
        this.#markers.delete(number);
        release();
      }
    }
  }

  #emit(event: ChangeFeedEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        this.#onError(error);
      }
    }
  }
}
