import { randomBytes } from 'node:crypto';
import {
  type ChangeFeed,
  type ChangeFeedEvent,
  consoleLogger,
  describeError,
  type EncodedChange,
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
  TablecacheError,
  type WaitOptions,
  waitFor,
} from '@tablecache/core';
import pg from 'pg';
import { FeedReporter } from '../notify/feed-reporter.js';
import { keyDecoder } from '../notify/key-decoder.js';
import { type SyncMarker, SyncMarkers } from '../sync-markers.js';
import { PublicationMissingError, ReplicationPermissionError, SlotMissingError, WalLevelError } from './logical-errors.js';
import { compareLsn, formatLsn, type Lsn, parseLsn } from './lsn.js';
import type { PgoutputMessage } from './pgoutput.js';
import { checkPublicationName, DEFAULT_PUBLICATION, requirePublication } from './publication.js';
import { RelationChanges } from './relation-changes.js';
import { ReplicationStream, type SlotMode, type WalPosition } from './replication-stream.js';
import { dropReplicationSlot, readSlotLag } from './slots.js';
import { VisibilityGate } from './visibility-gate.js';

export interface PgLogicalFeedOptions {
  /** The publication to follow (default `tablecache`); see `installPublication`. */
  readonly publication?: string;
  /**
   * A durable slot of this name (lower-case letters, digits, underscores): a reconnect resumes
   * where the feed stopped, missing nothing. It keeps WAL on the server for as long as the feed
   * is away, so drop it when you stop using it (`PgLogicalFeed.dropSlot`, or `tablecache
   * drop-slot`). Default: a temporary slot, which holds nothing while the app is down; a
   * reconnect is then a gap.
   */
  readonly slot?: string;
  /** How long the first connection may take, retries included (default 10,000 ms); also each reconnect's limit. */
  readonly connectTimeoutMs?: number;
  /** Nothing from the server for this long means the connection is lost (default 30,000 ms). */
  readonly timeoutMs?: number;
  /** Status updates (acknowledgements, and a question that proves the connection alive) go out this often (default 10,000 ms). */
  readonly statusIntervalMs?: number;
  /** Backoff between reconnect attempts: doubles from `initial` up to `max`, with jitter (default 100 and 5,000 ms). */
  readonly reconnectDelayMs?: { readonly initial?: number; readonly max?: number };
  /** How long `sync()` waits before it rejects with `SyncTimeoutError` (default 30,000 ms; a call's `timeoutMs` wins). */
  readonly syncTimeoutMs?: number;
  /** Most changes passed to listeners in one event; a big transaction becomes a few events (default 10,000). */
  readonly maxBatchChanges?: number;
  /** A durable slot's lag is read this often (default 10,000 ms), and warned about past `slotLagWarnBytes` (default 1 GiB). */
  readonly slotLagIntervalMs?: number;
  readonly slotLagWarnBytes?: number;
  readonly logger?: Logger;
  /** Takes the errors (as error objects) instead of the logger's error level. */
  readonly onError?: (error: unknown) => void;
  /** Where the feed's metrics go (labelled by its slot); `false`: nowhere. Default: `@opentelemetry/api`'s global provider if installed. */
  readonly meterProvider?: MeterProviderLike | false;
}

/** The prefix of the feed's own logical messages (sync markers): other prefixes are not the feed's. */
const MARKER_PREFIX = 'tablecache';

/** Errors a retry does not fix: the first connection gives up at once, with the error that says what to do. */
const isFatal = (error: unknown) =>
  error instanceof WalLevelError || error instanceof ReplicationPermissionError || error instanceof InvalidOptionsError;

/**
 * The change feed of PostgreSQL's write-ahead log, through logical replication (`pgoutput`):
 * no triggers, no NOTIFY lock on commits, no payload limit. Needs `wal_level = logical`, a role
 * with the REPLICATION attribute, and a publication of the watched tables (`installPublication`,
 * or `watch(feed, { install: true })`). PGlite has no logical replication: use `PgNotifyFeed` there.
 *
 * Changes carry their replica identity's columns (the primary key, by default) as Postgres
 * text, like the NOTIFY feed's. A transaction is passed on after it commits, in batches of at
 * most `maxBatchChanges`; a truncate is a change of the whole table. A schema change of a
 * watched table, a change to a relation the stream never described, or a message it cannot
 * read is a gap.
 *
 * `sync()` writes a transactional logical message (`pg_logical_emit_message`) and waits for it to
 * come back through the stream; `syncTo(lsn)` resolves at once when everything up to `lsn` has
 * been passed on. `position()` is the last LSN every listener has applied, which is also what
 * the feed acknowledges to the server.
 */
export class PgLogicalFeed implements ChangeFeed {
  readonly publication: string;
  /** The replication slot: the one given, or a temporary one named for this feed. */
  readonly slot: string;
  /** Decodes keys with pg's default parsers, for tables whose access cannot. */
  readonly decodeKeys: KeyDecoder = keyDecoder((text, typeId) => pg.types.getTypeParser(typeId, 'text')(text));
  readonly #connectionString: string;
  readonly #durable: boolean;
  readonly #reporter: FeedReporter;
  readonly #logger: Logger;
  readonly #timeouts: {
    readonly connectMs: number;
    readonly silenceMs: number;
    readonly statusMs: number;
    readonly syncMs: number;
    readonly retryInitialMs: number;
    readonly retryMaxMs: number;
    readonly slotLagMs: number;
  };
  readonly #maxBatchChanges: number;
  readonly #slotLagWarnBytes: number;
  readonly #listeners = new Set<(event: ChangeFeedEvent) => void | PromiseLike<void>>();
  readonly #metrics: FeedMetrics;
  /** A connection of its own for sync markers and the slot's lag (a replication connection takes no such queries). */
  readonly #pool: pg.Pool;
  readonly #markers = new SyncMarkers();
  #stream: ReplicationStream | undefined;
  #relations = new RelationChanges();
  /** Changes of the transaction being received, not yet passed on. */
  #pending: EncodedChange[] = [];
  /** What listeners returned for the events of the transaction being received. */
  #applying: PromiseLike<void>[] = [];
  #committedAt: number | undefined;
  /** Holds each transaction back until it is visible. */
  readonly #gate: VisibilityGate;
  /** Whether the transaction being received is visible yet. */
  #visible: Promise<void> = Promise.resolve();
  /** The last transaction whose visibility could not be checked: its gap is said once. */
  #unchecked: Promise<void> | undefined;
  /** What is passed to listeners, in stream order (see `#deliver`), and how many steps wait in it. */
  #delivering: Promise<void> = Promise.resolve();
  #queued = 0;
  /** The WAL position of the last keepalive, until everything before it is applied (see `#settled`). */
  #keptAlive: Lsn | undefined;
  /** Commits passed on and not yet applied by every listener. */
  #unacknowledged = 0;
  /** Acknowledgements in commit order: each waits for the commits before it. */
  #acknowledging: Promise<void> = Promise.resolve();
  #poolEnded = false;
  /** Everything up to here has been passed to the listeners. */
  #delivered: Lsn = 0n;
  /** Everything up to here has been applied by every listener (and acknowledged). */
  #applied: Lsn | undefined;
  #lost = false;
  /** Counts lost streams: a reconnect that finds it moved opened a stream too late to use. */
  #session = 0;
  /** A gap found while the stream was lost, said when it is back (even by a durable slot that resumed). */
  #owedGap: string | undefined;
  /** What the stream being opened says before its first message (see `#backAnnouncement`). */
  #back: (() => void) | undefined;
  #gaps = 0;
  #closed = false;
  #slotLag: number | undefined;
  #slotLagTimer: ReturnType<typeof setInterval> | undefined;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #started: Promise<void>;

  constructor(connection: { readonly connectionString: string }, options: PgLogicalFeedOptions = {}) {
    if (typeof connection !== 'object' || connection === null || typeof connection.connectionString !== 'string') {
      throw new InvalidOptionsError('PgLogicalFeed takes { connectionString } (PGlite has no logical replication: use PgNotifyFeed)');
    }
    this.publication = checkPublicationName(options.publication ?? DEFAULT_PUBLICATION);
    this.#durable = options.slot !== undefined;
    this.slot = options.slot ?? `tablecache_${randomBytes(6).toString('hex')}`;
    if (!/^[a-z0-9_]{1,63}$/.test(this.slot)) {
      throw new InvalidOptionsError(`slot ${JSON.stringify(this.slot)}: use 1 to 63 lower-case letters, digits and underscores`);
    }
    const durations = {
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      timeoutMs: options.timeoutMs ?? 30_000,
      statusIntervalMs: options.statusIntervalMs ?? 10_000,
      syncTimeoutMs: options.syncTimeoutMs ?? 30_000,
      'reconnectDelayMs.initial': options.reconnectDelayMs?.initial ?? 100,
      'reconnectDelayMs.max': options.reconnectDelayMs?.max ?? 5000,
      slotLagIntervalMs: options.slotLagIntervalMs ?? 10_000,
    };
    for (const [name, value] of Object.entries(durations)) {
      if (!isTimeout(value))
        throw new InvalidOptionsError(`${name} must be a positive, finite number of milliseconds; got ${String(value)}`);
    }
    this.#maxBatchChanges = options.maxBatchChanges ?? 10_000;
    if (!Number.isInteger(this.#maxBatchChanges) || this.#maxBatchChanges < 1) {
      throw new InvalidOptionsError(`maxBatchChanges must be a positive integer; got ${String(options.maxBatchChanges)}`);
    }
    this.#slotLagWarnBytes = options.slotLagWarnBytes ?? 2 ** 30;
    const { logger = consoleLogger, onError } = options;
    if (!isLogger(logger)) throw new InvalidOptionsError('logger must have error, warn, info and debug methods');
    if (onError !== undefined && typeof onError !== 'function') throw new InvalidOptionsError('onError must be a function');
    this.#logger = logger;
    this.#reporter = new FeedReporter(logger, onError);
    this.#connectionString = connection.connectionString;
    this.#timeouts = {
      connectMs: durations.connectTimeoutMs,
      silenceMs: durations.timeoutMs,
      statusMs: durations.statusIntervalMs,
      syncMs: durations.syncTimeoutMs,
      retryInitialMs: durations['reconnectDelayMs.initial'],
      retryMaxMs: durations['reconnectDelayMs.max'],
      slotLagMs: durations.slotLagIntervalMs,
    };
    this.#pool = new pg.Pool({
      connectionString: this.#connectionString,
      // Markers and snapshots each get a connection: a marker's write never waits behind a snapshot.
      max: 2,
      // A connection that stops answering must not hold changes back for ever: a snapshot not read
      // in time passes the transaction on with a gap, a marker not written fails its sync.
      connectionTimeoutMillis: this.#timeouts.connectMs,
      query_timeout: this.#timeouts.silenceMs,
      application_name: `tablecache-logical-sync:${this.slot}`,
    });
    this.#pool.on('error', () => undefined); // an idle connection that dies is replaced on the next query
    this.#gate = new VisibilityGate(async () => {
      const { rows } = await this.#pool.query<{ snapshot: string }>('SELECT pg_current_snapshot()::text AS snapshot');
      return rows[0]!.snapshot;
    });
    this.#metrics = new FeedMetrics(resolveMeter(options.meterProvider), this.slot, {
      up: () => this.#stream !== undefined && !this.#lost,
      queueUsage: () => undefined,
      slotLagBytes: () => this.#slotLag,
    });
    this.#started = this.#connectFirst();
    // A first connection that failed leaves the feed closed; ready() says why.
    this.#started.catch((error: unknown) => this.#shut(error));
  }

  /** Drops a durable slot (harmless when it does not exist): what to do when a feed's slot is no longer used. */
  static async dropSlot(connection: { readonly connectionString: string }, slot: string): Promise<void> {
    await dropReplicationSlot(connection.connectionString, slot);
  }

  /** Gaps reported so far. */
  get gaps(): number {
    return this.#gaps;
  }

  /** The last LSN every listener has applied (`'0/16B3748'`); undefined before the first. */
  position(): string | undefined {
    return this.#applied === undefined ? undefined : formatLsn(this.#applied);
  }

  /**
   * Resolves once the feed streams. Rejects with the typed error of a first connection that
   * cannot work (`WalLevelError`, `ReplicationPermissionError`, at once), a `ReplicationConnectionError`
   * after `connectTimeoutMs` of failed attempts, `FeedClosedError` once closed.
   */
  async ready(options: WaitOptions = {}): Promise<void> {
    if (this.#closed) {
      await this.#started;
      throw new FeedClosedError(this.#name);
    }
    await waitFor(this.#started, {
      signal: options.signal,
      timeoutMs: options.timeoutMs,
      timeoutError: () => new SyncTimeoutError(this.#name, options.timeoutMs ?? 0),
    });
  }

  /**
   * Checks that changes to `tables` reach this feed: each is in the publication, with a primary
   * key and a replica identity; with `install`, creates the publication or adds what it lacks
   * first. Resolves each name to the table changes will name; rejects with `MissingPublicationError`.
   */
  async prepare(request: PrepareRequest): Promise<ReadonlyMap<string, SourceTable>> {
    if (this.#closed) throw new FeedClosedError(this.#name);
    const { tables, install, signal } = request;
    const checked = requirePublication(
      { connectionString: this.#connectionString },
      { ...(tables !== undefined && { tables }), publication: this.publication, install },
    );
    return waitFor(checked, {
      signal,
      timeoutMs: this.#timeouts.connectMs + this.#timeouts.syncMs,
      timeoutError: () => new SyncTimeoutError(`${this.#name}: checking its publication`, this.#timeouts.connectMs + this.#timeouts.syncMs),
    });
  }

  subscribe(listener: (event: ChangeFeedEvent) => void | PromiseLike<void>): () => void {
    if (this.#closed) return () => undefined;
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Resolves once every change committed before the call has been passed to the subscribers (or
   * a gap covered it): a marker written with `pg_logical_emit_message` in a transaction of its
   * own comes back through the stream after every earlier commit.
   */
  async sync(options: WaitOptions = {}): Promise<void> {
    if (this.#closed) throw new FeedClosedError(this.#name);
    const { signal, timeoutMs = this.#timeouts.syncMs } = options;
    if (!isTimeout(timeoutMs)) throw new InvalidOptionsError(`timeoutMs must be a positive, finite number; got ${timeoutMs}`);
    signal?.throwIfAborted();
    const marker = this.#markers.add();
    void this.#writeMarker(marker);
    await waitFor(marker.arrived, { signal, timeoutMs, timeoutError: () => new SyncTimeoutError(this.#name, timeoutMs) });
  }

  /**
   * Writes sync marker `number`. While the stream is lost, a marker that cannot be written (the
   * database refuses connections) is written again with backoff, as the NOTIFY feed's waits for
   * its connection: the reconnect's gap releases it, or, resumed, the marker written then comes
   * back. It stops once the marker is released or the feed closed. With the stream up, a failure
   * is the database's answer (a permission, say): the sync rejects with it at once.
   */
  async #writeMarker(marker: SyncMarker): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#pool.query('SELECT pg_logical_emit_message(true, $1, $2)', [MARKER_PREFIX, marker.text]);
        return;
      } catch (error) {
        if (!this.#markers.isWaiting(marker)) return; // released meanwhile (a gap, a later marker), or the feed closed
        if (!this.#lost) {
          this.#markers.failed(
            marker,
            new TablecacheError(`${this.#name} could not write a sync marker: ${describeError(error)}`, { cause: error }),
          );
          return;
        }
        // Unref'd: a sync that stopped waiting must not keep the process alive for its marker.
        await new Promise((resolve) => setTimeout(resolve, this.#retryDelay(attempt)).unref());
      }
    }
  }

  /**
   * Resolves once every change up to `position` (an LSN) has been passed to the subscribers: at
   * once when it has, else through `sync()`, whose marker comes after it.
   */
  async syncTo(position: string, options: WaitOptions = {}): Promise<void> {
    if (this.#closed) throw new FeedClosedError(this.#name);
    const lsn = parseLsn(position);
    if (!this.#lost && compareLsn(this.#delivered, lsn) >= 0) return;
    await this.sync(options);
  }

  /** Stops streaming (a temporary slot goes with the connection); pending and later calls reject with `FeedClosedError`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#shut(new FeedClosedError(this.#name));
    const stream = this.#stream;
    this.#stream = undefined;
    await stream?.close();
    await this.#started.catch(() => undefined);
    if (stream !== undefined) await this.#slotReleased();
    await this.#endPool();
  }

  /**
   * Waits (up to 5 s) until the server's walsender has let go of the slot (a temporary one is
   * then gone): it exits a moment after the connection closes, and until then the slot, and so
   * its database, cannot be dropped.
   */
  async #slotReleased(): Promise<void> {
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      const slot = await readSlotLag(this.#pool, this.slot).catch(() => undefined);
      if (slot === undefined || !slot.active) return;
      await delay(20);
    }
  }

  async #endPool(): Promise<void> {
    if (this.#poolEnded) return;
    this.#poolEnded = true;
    await this.#pool.end().catch(() => undefined);
  }

  get #name(): string {
    return `logical feed on slot '${this.slot}'`;
  }

  /** The first connection: retried until `connectTimeoutMs`, except for errors no retry fixes. */
  async #connectFirst(): Promise<void> {
    const deadline = Date.now() + this.#timeouts.connectMs;
    // A new feed starts at the present, a durable slot too: the tables it serves load after it
    // streams, so what the slot kept from before would only invalidate what the load reads anyway.
    for (let attempt = 0; ; attempt++) {
      try {
        const start = this.#durable ? await this.#currentLsn() : undefined;
        this.#use(await this.#open(this.#durable ? 'create-if-missing' : 'temporary', start));
        if (this.#durable) this.#watchSlotLag();
        return;
      } catch (error) {
        if (this.#closed) throw new FeedClosedError(this.#name);
        if (isFatal(error) || Date.now() >= deadline) throw error;
        await delay(this.#retryDelay(attempt));
      }
    }
  }

  async #currentLsn(): Promise<Lsn> {
    const { rows } = await this.#pool.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    return parseLsn(rows[0]!.lsn);
  }

  #open(mode: SlotMode, startLsn: Lsn | undefined): Promise<ReplicationStream> {
    return ReplicationStream.open({
      connectionString: this.#connectionString,
      slot: this.slot,
      slotMode: mode,
      publications: [this.publication],
      // The publication may be created after the feed starts (a watch with install).
      checkPublications: false,
      ...(startLsn !== undefined && { startLsn }),
      statusIntervalMs: this.#timeouts.statusMs,
      timeoutMs: this.#timeouts.silenceMs,
      connectTimeoutMs: this.#timeouts.connectMs,
      handlers: {
        message: (message, position) => this.#onMessage(message, position),
        undecodable: (error) => {
          this.#announceBack();
          this.#reporter.error('undecodable', error, `${this.#name}: ${describeError(error)} (treated as a gap)`);
          this.#gapInOrder(`a message the feed cannot read arrived on slot '${this.slot}'`);
        },
        keepalive: (walEnd) => this.#onKeepalive(walEnd),
        lost: (error) => this.#onLost(error),
      },
    });
  }

  #onMessage(message: PgoutputMessage, position: WalPosition): void {
    if (this.#closed) return;
    this.#announceBack();
    switch (message.tag) {
      case 'begin':
        this.#committedAt = message.commitTime;
        this.#visible = this.#gate.visible(message.xid);
        return;
      case 'relation': {
        const news = this.#relations.describe(message);
        if (news === 'changed') this.#gapInOrder(`the definition of ${message.schema}.${message.name} changed`);
        return;
      }
      case 'insert':
      case 'update':
      case 'delete': {
        const change = this.#relations.change(message);
        if (change === undefined)
          this.#gapInOrder(`a change to ${this.#relations.describeRelation(message.relationId)}, which the stream never described`);
        else this.#add(change);
        return;
      }
      case 'truncate':
        for (const relationId of message.relationIds) {
          const change = this.#relations.truncated(relationId);
          if (change === undefined)
            this.#gapInOrder(`a truncate of ${this.#relations.describeRelation(relationId)}, which the stream never described`);
          else this.#add(change);
        }
        return;
      case 'message': {
        // Markers arrive in the order their transactions committed; another feed's is ignored.
        const text = message.content.toString();
        if (message.prefix === MARKER_PREFIX) this.#deliver(() => this.#markers.arrived(text));
        return;
      }
      case 'commit': {
        this.#flush();
        const lsn = position.lsn;
        this.#deliver(() => this.#commit(lsn));
        return;
      }
      case 'type':
      case 'origin':
        return;
    }
  }

  #add(change: EncodedChange): void {
    this.#pending.push(change);
    if (this.#pending.length >= this.#maxBatchChanges) this.#flush();
  }

  /** Passes the changes received so far on: a transaction is decoded after its commit, so they are committed. */
  #flush(): void {
    if (this.#pending.length === 0) return;
    const changes = this.#pending;
    this.#pending = [];
    const committedAt = this.#committedAt;
    this.#deliver(() => {
      this.#metrics.notification();
      this.#emit({ type: 'changes', changes, ...(committedAt !== undefined && { committedAt }) });
    }, this.#visible);
  }

  /**
   * Runs `step` in stream order, after `visible` (a transaction's changes wait until new snapshots
   * see it, see `VisibilityGate`: a listener that refreshes at once must read what it wrote; a
   * commit's bookkeeping or a marker only needs the order). When visibility cannot be checked
   * (the database is unreachable), the step runs all the same, followed by a gap, since a refresh
   * meanwhile may have read the rows as they were.
   */
  #deliver(step: () => void, visible: Promise<void> = Promise.resolve()): void {
    this.#queued++;
    this.#delivering = this.#delivering
      .then(() => visible)
      .then(step, (error: unknown) => {
        step();
        // One gap per transaction, however many batches it was passed on in.
        if (this.#unchecked === visible) return;
        this.#unchecked = visible;
        const reason = `the feed could not check that a commit was visible (${describeError(error)})`;
        // While the stream is lost, a gap now would say the feed is back: the reconnect says it.
        if (this.#lost) this.#owedGap ??= reason;
        else this.#gap(reason);
      })
      .finally(() => {
        this.#queued--;
        this.#settled();
      });
  }

  /**
   * A commit passed on: acknowledged once every listener has applied its events (a listener's
   * promise; a failure is the listener's to report, and it invalidated everything), and every
   * commit before it has been acknowledged.
   */
  #commit(lsn: Lsn): void {
    if (lsn > this.#delivered) this.#delivered = lsn;
    const applied = Promise.allSettled(this.#applying);
    this.#applying = [];
    this.#unacknowledged++;
    this.#acknowledging = this.#acknowledging
      .then(() => applied)
      .then(() => {
        this.#unacknowledged--;
        this.#setApplied(lsn);
        this.#settled();
      });
  }

  /**
   * The server's keepalive: everything before `walEnd` has been sent, so between transactions it
   * has all been passed on; with nothing waiting for listeners, it is applied too (acknowledging
   * it keeps an idle slot from holding the WAL of other databases' writes).
   */
  #onKeepalive(walEnd: Lsn): void {
    this.#announceBack();
    this.#keptAlive = walEnd;
    this.#settled();
  }

  /**
   * Once nothing is queued nor waits for listeners, what the last keepalive reported is passed on
   * and applied: acknowledged, and told to the server at once. A server shutting down waits for
   * its walsender, which waits for exactly that.
   */
  #settled(): void {
    const walEnd = this.#keptAlive;
    if (walEnd === undefined || this.#queued > 0 || this.#unacknowledged > 0) return;
    this.#keptAlive = undefined;
    if (walEnd > this.#delivered) this.#delivered = walEnd;
    const before = this.#applied;
    this.#setApplied(walEnd);
    if (this.#applied !== before) this.#stream?.sendStatus();
  }

  /**
   * The stream opened: it is told at once what was applied meanwhile (its first keepalive comes
   * before it is opened). A server shutting down waits for its walsender until the feed has
   * acknowledged everything it was sent.
   */
  #use(stream: ReplicationStream): void {
    this.#stream = stream;
    if (this.#applied !== undefined) stream.acknowledge(this.#applied, { now: true });
  }

  #setApplied(lsn: Lsn): void {
    if (this.#applied !== undefined && lsn <= this.#applied) return;
    this.#applied = lsn;
    this.#stream?.acknowledge(lsn);
  }

  #gap(reason: string): void {
    this.#gaps++;
    this.#metrics.gap();
    // What was received of the transaction is covered by the gap.
    this.#pending = [];
    this.#emit({ type: 'gap', reason });
    // Everything before a gap is invalidated by it: syncs waiting are done.
    this.#markers.releaseAll();
  }

  /** A gap found while receiving: after what is queued, so that nothing before it is passed on after it. */
  #gapInOrder(reason: string): void {
    this.#pending = [];
    this.#deliver(() => this.#gap(reason));
  }

  #onLost(error: TablecacheError): void {
    if (this.#closed) return;
    this.#session++;
    this.#back = undefined;
    this.#stream = undefined;
    // A new session describes its relations again, and its first messages may come before it is opened.
    this.#relations = new RelationChanges();
    this.#pending = [];
    this.#applying = [];
    if (!this.#lost) {
      this.#lost = true;
      this.#emit({ type: 'lost', reason: describeError(error) });
    }
    this.#reporter.error('lost', error, `${this.#name} lost its stream: ${describeError(error)} (reconnecting)`);
    this.#scheduleReconnect(0);
  }

  #scheduleReconnect(attempt: number): void {
    if (this.#closed) return;
    this.#reconnectTimer = setTimeout(() => void this.#reconnect(attempt), this.#retryDelay(attempt));
  }

  /**
   * Opens a new stream. A durable slot resumes where it stopped: nothing was missed, unless the
   * slot is gone (dropped from outside) and had to be made again. A temporary slot died with
   * the connection: what happened meanwhile is unknown.
   */
  async #reconnect(attempt: number): Promise<void> {
    if (this.#closed) return;
    const session = this.#session;
    try {
      let stream: ReplicationStream;
      try {
        this.#back = this.#backAnnouncement(
          this.#durable,
          'the replication connection was lost and re-established with a new temporary slot',
        );
        stream = await this.#open(this.#durable ? 'existing' : 'temporary', undefined);
      } catch (error) {
        if (!(error instanceof SlotMissingError)) throw error;
        this.#back = this.#backAnnouncement(false, `slot '${this.slot}' was dropped while the feed was away, and made again`);
        stream = await this.#open('create-if-missing', undefined);
      }
      // Closed meanwhile, or lost again before it was opened (the next reconnect is on its way).
      if (this.#closed || session !== this.#session) {
        await stream.close();
        return;
      }
      this.#use(stream);
      this.#announceBack();
    } catch (error) {
      this.#back = undefined;
      if (this.#closed) return;
      if (error instanceof PublicationMissingError && this.#durable) {
        // A change the walsender decoded before the publication existed stops a durable slot at
        // every resume: it is dropped and made again, which is a gap.
        await dropReplicationSlot(this.#connectionString, this.slot).catch(() => undefined);
      }
      this.#reporter.error(
        'reconnect',
        error,
        `${this.#name} could not reconnect: ${describeError(error)} (attempt ${attempt + 1}, retrying)`,
      );
      this.#scheduleReconnect(attempt + 1);
    }
  }

  /**
   * What a new stream says first: that it resumed (a durable slot, missing nothing), or a gap.
   * Said before its first message, which may come before the stream is opened.
   */
  #backAnnouncement(resumed: boolean, reason: string): () => void {
    return () => {
      this.#lost = false;
      this.#metrics.reconnect();
      this.#reporter.reset('lost');
      this.#reporter.info('back', `${this.#name} streams again${resumed ? ', resumed where it stopped' : ''}`);
      const owed = this.#owedGap;
      this.#owedGap = undefined;
      if (resumed && owed === undefined) this.#emit({ type: 'resumed' });
      else this.#gap(owed ?? reason);
    };
  }

  #announceBack(): void {
    const back = this.#back;
    this.#back = undefined;
    back?.();
  }

  /** A durable slot's lag, read now and then for the gauge, and warned about past `slotLagWarnBytes`. */
  #watchSlotLag(): void {
    const read = async () => {
      const lag = await readSlotLag(this.#pool, this.slot).catch(() => undefined);
      this.#slotLag = lag === undefined ? undefined : Number(lag.lagBytes);
      if (this.#slotLag !== undefined && this.#slotLag > this.#slotLagWarnBytes) {
        this.#logger.warn(
          `${this.#name}: the server keeps ${Math.round(this.#slotLag / 2 ** 20)} MiB of WAL for the slot (more than slotLagWarnBytes); it is released as the feed acknowledges, or when the slot is dropped`,
        );
      }
    };
    void read();
    this.#slotLagTimer = setInterval(() => void read(), this.#timeouts.slotLagMs);
    this.#slotLagTimer.unref();
  }

  #retryDelay(attempt: number): number {
    const { retryInitialMs, retryMaxMs } = this.#timeouts;
    const base = Math.min(retryMaxMs, retryInitialMs * 2 ** attempt);
    return base / 2 + Math.random() * (base / 2);
  }

  /** Closed, or the first connection failed: nothing more arrives, so waiting syncs fail with `error`. */
  #shut(error: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    clearInterval(this.#slotLagTimer);
    this.#metrics.close();
    this.#listeners.clear();
    this.#markers.rejectAll(error);
    if (this.#stream === undefined) void this.#endPool();
  }

  #emit(event: ChangeFeedEvent): void {
    for (const listener of this.#listeners) {
      try {
        const applied = listener(event);
        if (applied !== undefined && event.type === 'changes') this.#applying.push(applied);
      } catch (error) {
        this.#reporter.error('subscriber', error, `${this.#name}: a subscriber failed on a ${event.type} event: ${describeError(error)}`);
      }
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
