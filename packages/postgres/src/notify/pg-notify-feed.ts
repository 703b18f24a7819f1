import { type PGlite, types as pgliteTypes } from '@electric-sql/pglite';
import {
  type ChangeFeed,
  type ChangeFeedEvent,
  consoleLogger,
  describeError,
  FeedClosedError,
  FeedMetrics,
  InvalidOptionsError,
  isLogger,
  isTimeout,
  type KeyDecoder,
  type Logger,
  type MeterProviderLike,
  type PrepareRequest,
  resolveMeter,
  type SourceTable,
  SyncTimeoutError,
  type WaitOptions,
  waitFor,
} from '@tablecache/core';
import pg from 'pg';
import { type SyncMarker, SyncMarkers } from '../sync-markers.js';
import { requireTriggers } from '../triggers/check-triggers.js';
import { checkChannel, DEFAULT_CHANNEL } from '../triggers/trigger-target.js';
import { FeedConnectionError, feedName } from './feed-errors.js';
import { FeedReporter } from './feed-reporter.js';
import { keyDecoder } from './key-decoder.js';
import type { NotificationSource } from './notification-source.js';
import { markerPayload, type Payload, parsePayload } from './payload.js';
import { PgListener } from './pg-listener.js';
import { PgliteListener } from './pglite-listener.js';

export interface PgNotifyFeedOptions {
  /** The channel the triggers notify (default `tablecache`). */
  readonly channel?: string;
  /**
   * How long the first connection may take, retries included (default 10,000 ms): `ready()`
   * then rejects with `FeedConnectionError` and the feed is closed. Also the limit of each
   * reconnect attempt.
   */
  readonly connectTimeoutMs?: number;
  /** How often the listening connection must answer a query (default 2,000 ms). */
  readonly livenessIntervalMs?: number;
  /**
   * How long it may take to answer (default 2,000 ms). A connection that stops answering is
   * reported `lost` within `livenessIntervalMs + livenessTimeoutMs`.
   */
  readonly livenessTimeoutMs?: number;
  /** Backoff between reconnect attempts: doubles from `initial` up to `max`, with jitter (default 100 and 5,000 ms). */
  readonly reconnectDelayMs?: { readonly initial?: number; readonly max?: number };
  /** How long `sync()` waits before it rejects with `SyncTimeoutError` (default 30,000 ms; a call's `timeoutMs` wins). */
  readonly syncTimeoutMs?: number;
  /** Where lost connections, reconnects and unreadable payloads are reported, one line each (default: the console). */
  readonly logger?: Logger;
  /** Takes the errors (as error objects) instead of the logger's error level. */
  readonly onError?: (error: unknown) => void;
  /**
   * Where the feed's metrics go (an OpenTelemetry `MeterProvider`), labelled by channel; `false`:
   * nowhere. Default: the global provider of `@opentelemetry/api` when installed, else none.
   */
  readonly meterProvider?: MeterProviderLike | false;
}

/**
 * The change feed of the triggers `installTriggers` puts in place, from LISTEN on a dedicated
 * connection (or on PGlite). Changes carry their keys as Postgres text (`EncodedChange`): the
 * table decodes them with its own access, or with `decodeKeys`.
 *
 * A connection that drops or stops answering is announced at once (`lost`); after the reconnect
 * a `gap` follows, since notifications sent meanwhile are gone. An unreadable payload is a gap
 * too. `sync()` sends a marker through the channel and waits for it: Postgres delivers
 * notifications in commit order, so every change committed earlier has arrived by then (or a gap
 * covered it). Every wait has a limit; after `close()` every call rejects with `FeedClosedError`.
 */
export class PgNotifyFeed implements ChangeFeed {
  readonly channel: string;
  /** Decodes keys with this feed's parsers (pg's defaults, or PGlite's) for tables whose access cannot. */
  readonly decodeKeys: KeyDecoder;
  readonly #name: string;
  readonly #source: NotificationSource;
  readonly #reporter: FeedReporter;
  readonly #syncTimeoutMs: number;
  /** Where the feed's tables are checked (see `prepare`): its own connection string, or its PGlite. */
  readonly #database: { readonly connectionString: string } | { readonly pglite: PGlite };
  readonly #connectTimeoutMs: number;
  readonly #listeners = new Set<(event: ChangeFeedEvent) => void>();
  /** Markers sent (or about to be) and not arrived yet. */
  readonly #markers = new SyncMarkers();
  /** The marker not handed to the database yet: syncs that start now can share it. */
  #unsent: SyncMarker | undefined;
  readonly #started: Promise<void>;
  #gaps = 0;
  #closed = false;
  /** Whether LISTEN is in place now (for the `up` gauge). */
  #listening = false;
  readonly #metrics: FeedMetrics;

  constructor(connection: { readonly connectionString: string } | { readonly pglite: PGlite }, options: PgNotifyFeedOptions = {}) {
    this.channel = checkChannel(options.channel ?? DEFAULT_CHANNEL);
    this.#name = feedName(this.channel);
    const durations = {
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      livenessIntervalMs: options.livenessIntervalMs ?? 2000,
      livenessTimeoutMs: options.livenessTimeoutMs ?? 2000,
      syncTimeoutMs: options.syncTimeoutMs ?? 30_000,
      'reconnectDelayMs.initial': options.reconnectDelayMs?.initial ?? 100,
      'reconnectDelayMs.max': options.reconnectDelayMs?.max ?? 5000,
    };
    for (const [name, value] of Object.entries(durations)) {
      if (!isTimeout(value))
        throw new InvalidOptionsError(`${name} must be a positive, finite number of milliseconds; got ${String(value)}`);
    }
    const { logger = consoleLogger, onError } = options;
    if (!isLogger(logger)) throw new InvalidOptionsError('logger must have error, warn, info and debug methods');
    if (onError !== undefined && typeof onError !== 'function') throw new InvalidOptionsError('onError must be a function');
    this.#reporter = new FeedReporter(logger, onError);
    this.#syncTimeoutMs = durations.syncTimeoutMs;
    this.#connectTimeoutMs = durations.connectTimeoutMs;
    this.#database = connection;
    if (typeof connection === 'object' && connection !== null && 'pglite' in connection) {
      this.#source = new PgliteListener(connection.pglite, this.channel);
      this.decodeKeys = keyDecoder((text, typeId) => pgliteTypes.parseType(text, typeId));
    } else if (typeof connection === 'object' && connection !== null && typeof connection.connectionString === 'string') {
      this.#source = new PgListener({
        connectionString: connection.connectionString,
        channel: this.channel,
        connectTimeoutMs: durations.connectTimeoutMs,
        livenessIntervalMs: durations.livenessIntervalMs,
        livenessTimeoutMs: durations.livenessTimeoutMs,
        reconnectDelayMs: { initial: durations['reconnectDelayMs.initial'], max: durations['reconnectDelayMs.max'] },
        reporter: this.#reporter,
      });
      this.decodeKeys = keyDecoder((text, typeId) => pg.types.getTypeParser(typeId, 'text')(text));
    } else {
      throw new InvalidOptionsError('PgNotifyFeed takes { connectionString } or { pglite }');
    }
    const source = this.#source;
    this.#metrics = new FeedMetrics(resolveMeter(options.meterProvider), this.channel, {
      up: () => this.#listening,
      queueUsage: () => source.queueUsage,
    });
    this.#started = this.#source.start({
      payload: (text) => this.#onPayload(text),
      lost: (reason) => {
        this.#listening = false;
        this.#emit({ type: 'lost', reason });
      },
      reconnected: () => {
        this.#listening = true;
        this.#metrics.reconnect();
        this.#gap('the listening connection was lost and re-established');
      },
    });
    this.#started.then(
      () => {
        this.#listening = !this.#closed;
      },
      // A first connection that failed leaves the feed closed; ready() says why.
      (error: unknown) => this.#shut(error),
    );
  }

  /** Gaps reported so far (reconnects and unreadable payloads). */
  get gaps(): number {
    return this.#gaps;
  }

  /**
   * Resolves once LISTEN is in place. Rejects with `FeedConnectionError` when the first
   * connection failed (within `connectTimeoutMs`, or at once for errors no retry fixes), with
   * `FeedClosedError` once closed, and with the signal's reason when aborted.
   */
  async ready(options: WaitOptions = {}): Promise<void> {
    if (this.#closed) {
      await this.#started; // a first connection that failed says why
      throw new FeedClosedError(this.#name);
    }
    const { signal, timeoutMs } = options;
    if (timeoutMs !== undefined && !isTimeout(timeoutMs))
      throw new InvalidOptionsError(`timeoutMs must be a positive, finite number; got ${timeoutMs}`);
    await waitFor(this.#started, {
      signal,
      timeoutMs,
      timeoutError: () => new FeedConnectionError(this.channel, `did not connect within ${timeoutMs} ms`, this.#source.lastError),
    });
  }

  /**
   * Checks that changes to `tables` reach this channel (each exists, resolved through the search
   * path as Postgres does, with current triggers for the channel on it and its partitions), or,
   * without tables, that some table sends on it. With `install`, puts missing triggers in place
   * first. Resolves each name to the table changes will name; rejects with
   * `MissingTriggersError` listing everything missing. A `watch()` calls it before it resolves.
   */
  async prepare(request: PrepareRequest): Promise<ReadonlyMap<string, SourceTable>> {
    if (this.#closed) throw new FeedClosedError(this.#name);
    const { tables, install, signal } = request;
    const checked = requireTriggers(this.#database, { ...(tables !== undefined && { tables }), channel: this.channel, install });
    return waitFor(checked, {
      signal,
      // Checking the catalog takes a connection and a few queries; longer means the database is unreachable.
      timeoutMs: this.#connectTimeoutMs + this.#syncTimeoutMs,
      timeoutError: () => new FeedConnectionError(this.channel, 'could not check its tables in time', undefined),
    });
  }

  subscribe(listener: (event: ChangeFeedEvent) => void): () => void {
    if (this.#closed) return () => undefined;
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Resolves once every change committed before the call has been passed to the subscribers, or
   * a gap has covered it. Rejects with `SyncTimeoutError` after `timeoutMs` (default
   * `syncTimeoutMs`), with the signal's reason when aborted, with `FeedClosedError` when the feed
   * is (or gets) closed. Syncs that start before a marker is handed to the database share it.
   */
  async sync(options: WaitOptions = {}): Promise<void> {
    if (this.#closed) throw new FeedClosedError(this.#name);
    const { signal, timeoutMs = this.#syncTimeoutMs } = options;
    if (!isTimeout(timeoutMs)) throw new InvalidOptionsError(`timeoutMs must be a positive, finite number; got ${timeoutMs}`);
    signal?.throwIfAborted();
    const marker = this.#unsent ?? this.#sendMarker();
    await waitFor(marker.arrived, { signal, timeoutMs, timeoutError: () => new SyncTimeoutError(this.#name, timeoutMs) });
  }

  /** Stops listening; pending and later calls reject with `FeedClosedError`; nothing is left running. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#shut(new FeedClosedError(this.#name));
    await this.#source.close();
    await this.#started.catch(() => undefined);
  }

  #sendMarker(): SyncMarker {
    const marker = this.#markers.add();
    this.#unsent = marker;
    const payload = () => {
      // On its way now: a sync that starts later may follow commits this marker's would precede.
      if (this.#unsent === marker) this.#unsent = undefined;
      return markerPayload(marker.text);
    };
    this.#source.notify(payload).catch((error: unknown) => {
      if (this.#unsent === marker) this.#unsent = undefined;
      this.#markers.failed(marker, error);
    });
    return marker;
  }

  #onPayload(text: string): void {
    let notification: Payload;
    try {
      notification = parsePayload(text);
    } catch (error) {
      this.#reporter.error('payload', error, `${this.#name}: ${describeError(error)} (treated as a gap)`);
      this.#gap(`an unreadable payload arrived on channel '${this.channel}'`);
      return;
    }
    if (notification.kind === 'marker') {
      // Markers arrive in the order they were sent; another feed's (or a forged one) is ignored.
      this.#markers.arrived(notification.id);
      return;
    }
    this.#metrics.notification();
    this.#emit({ type: 'changes', changes: notification.changes, committedAt: notification.at });
  }

  #gap(reason: string): void {
    this.#gaps++;
    this.#metrics.gap();
    this.#emit({ type: 'gap', reason });
    // Everything before a gap is invalidated by it, so waiting syncs are done (even those whose
    // marker is not sent yet: later syncs must not share it).
    this.#unsent = undefined;
    this.#markers.releaseAll();
  }

  /** Closed, or the first connection failed: nothing more arrives, so waiting syncs fail with `error`. */
  #shut(error: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#listening = false;
    this.#metrics.close();
    this.#listeners.clear();
    this.#unsent = undefined;
    this.#markers.rejectAll(error);
  }

  #emit(event: ChangeFeedEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        this.#reporter.error('subscriber', error, `${this.#name}: a subscriber failed on a ${event.type} event: ${describeError(error)}`);
      }
    }
  }
}
