import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidOptionsError, TablecacheError } from '@tablecache/core';
import pg from 'pg';
import { KEY_TEXT_SETTINGS } from '../triggers/notify-function.js';
import {
  PgoutputDecodeError,
  PublicationMissingError,
  ReplicationConnectionError,
  ReplicationPermissionError,
  SlotInUseError,
  SlotMissingError,
  WalLevelError,
} from './logical-errors.js';
import { formatLsn, type Lsn, parseLsn } from './lsn.js';
import { decodePgoutput, PGOUTPUT_PROTOCOL_VERSION, type PgoutputMessage } from './pgoutput.js';

/**
 * - `temporary`: created by this stream, dropped by the server when the stream ends; nothing is
 *   kept between streams.
 * - `create-if-missing`: durable; created when it does not exist (`slotCreated` tells).
 * - `existing`: durable, and must exist (`SlotMissingError` otherwise).
 */
export type SlotMode = 'temporary' | 'create-if-missing' | 'existing';

/** Where a message is in the WAL. */
export interface WalPosition {
  /**
   * The message's own position. A commit's is the end of its transaction's commit record: once
   * the transaction is applied, acknowledge this one. 0 for the descriptions pgoutput sends
   * outside the WAL (relation, type).
   */
  readonly lsn: Lsn;
  /** How far the server's WAL reached when it sent the message (0 with `lsn` 0). */
  readonly walEnd: Lsn;
}

export interface ReplicationHandlers {
  /**
   * Each message, in WAL order, synchronously; the first may come before `open` resolves. A
   * handler that throws ends the stream (reported to `lost`).
   */
  message(message: PgoutputMessage, position: WalPosition): void;
  /**
   * A message the decoder cannot read (an unknown tag, a malformed message). The stream goes on,
   * since a new one would meet the same message again; the feed treats it as a gap.
   */
  undecodable(error: PgoutputDecodeError, position: WalPosition): void;
  /** The server's keepalive: its WAL reaches `walEnd`, and everything before it has been sent. */
  keepalive?(walEnd: Lsn): void;
  /** The stream is dead (lost connection, walsender ended, silence, a handler threw); called once, never after `close()`. */
  lost(error: TablecacheError): void;
}

export interface ReplicationStreamOptions {
  readonly connectionString: string;
  /** Slot names are lower-case letters, digits and underscores (Postgres's rule), at most 63. */
  readonly slot: string;
  readonly slotMode: SlotMode;
  readonly publications: readonly string[];
  /**
   * Refuse to start when a publication does not exist (default true). A feed that creates its
   * publication after it starts (a watch with `install`) turns it off: the walsender looks the
   * publications up only when it decodes a change, and reports a missing one then.
   */
  readonly checkPublications?: boolean;
  /** Where to resume; the server starts from the slot's confirmed position when that is later. Default: the slot's. */
  readonly startLsn?: Lsn;
  /** Standby status updates go out this often (each asks the server to answer). Default 10,000. */
  readonly statusIntervalMs?: number;
  /** Nothing from the server for this long means the connection is lost. Default 30,000; more than `statusIntervalMs`. */
  readonly timeoutMs?: number;
  /** Connecting, checking and starting must finish within this. Default 10,000. */
  readonly connectTimeoutMs?: number;
  readonly handlers: ReplicationHandlers;
}

/** The start of every stream's application name, which goes on with its slot: an operator (or a test killing it) finds the walsender by it. */
export const REPLICATION_APPLICATION_PREFIX = 'tablecache-logical:';

const SLOT_NAME = /^[a-z0-9_]{1,63}$/;

/** What pg does on a replication connection and @types/pg does not declare. */
interface CopyBothConnection {
  on(event: 'copyData', listener: (message: { chunk: Buffer }) => void): void;
  once(event: 'replicationStart', listener: () => void): void;
  sendCopyFromChunk(chunk: Buffer): void;
}

/**
 * One logical replication connection, streaming pgoutput from a slot: `open` connects, checks the
 * publications, creates the slot as asked and starts streaming; messages go to the handlers in WAL
 * order. The server learns only the position given to `acknowledge` (as written, flushed and
 * applied), so a durable slot resumes after the last position whose effects were applied.
 *
 * A stream is used once: when it is lost it reports so and stays dead; the feed opens a new one.
 */
export class ReplicationStream {
  readonly slot: string;
  /** The slot was created by this stream (always, for a temporary one). */
  readonly slotCreated: boolean;
  /** Where a slot this stream created became consistent: changes committed after it are streamed. */
  readonly consistentPoint: Lsn | undefined;
  readonly #client: pg.Client;
  readonly #connection: CopyBothConnection;
  readonly #handlers: ReplicationHandlers;
  readonly #timeoutMs: number;
  #acknowledged: Lsn;
  #lastReceived: Lsn = 0n;
  #lastHeardAt = Date.now();
  #timer: ReturnType<typeof setInterval> | undefined;
  /** The server started streaming: from then on a failure is a loss, reported to `lost`, not `open`'s rejection. */
  #streaming = false;
  /** Closed by the caller or lost: either way no handler is called again. */
  #ended = false;

  private constructor(client: pg.Client, options: ReplicationStreamOptions, slot: CreatedSlot) {
    this.#client = client;
    this.#connection = client.connection as unknown as CopyBothConnection;
    this.#handlers = options.handlers;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.slot = options.slot;
    this.slotCreated = slot.created;
    this.consistentPoint = slot.consistentPoint;
    this.#acknowledged = options.startLsn ?? 0n;
    client.on('error', (error) => this.#lose(new ReplicationConnectionError(this.slot, 'lost its connection', error, this.#lastReceived)));
    client.on('end', () =>
      this.#lose(new ReplicationConnectionError(this.slot, 'lost its connection', 'the server closed it', this.#lastReceived)),
    );
  }

  static async open(options: ReplicationStreamOptions): Promise<ReplicationStream> {
    validate(options);
    const { slot, connectTimeoutMs = 10_000 } = options;
    const config: pg.ClientConfig & { replication: 'database' } = {
      connectionString: options.connectionString,
      application_name: `${REPLICATION_APPLICATION_PREFIX}${slot}`,
      replication: 'database',
      // pgoutput writes values with the walsender's output functions: under the triggers' settings,
      // keys come as the same text whatever the server, the database or the role sets.
      options: KEY_TEXT_SETTINGS.map(([name, value]) => `-c ${name}=${value.replaceAll(' ', '\\ ')}`).join(' '),
      keepAlive: true,
    };
    const client = new pg.Client(config);
    // Until the stream streams, connect() and the queries reject with the same errors.
    client.on('error', () => undefined);
    let stream: ReplicationStream | undefined;
    const timer = setTimeout(
      () => client.connection.stream.destroy(new Error(`the server did not answer within ${connectTimeoutMs} ms`)),
      connectTimeoutMs,
    );
    try {
      try {
        await client.connect();
      } catch (error) {
        if (sqlState(error) === '42501') throw new ReplicationPermissionError(client.user ?? '', error);
        throw error;
      }
      if (options.checkPublications !== false) await checkPublications(client, options.publications);
      const created = await prepareSlot(client, slot, options.slotMode);
      stream = new ReplicationStream(client, options, created);
      await stream.#start(options);
    } catch (error) {
      if (stream !== undefined) stream.#stop();
      void discard(client);
      throw error instanceof TablecacheError ? error : new ReplicationConnectionError(slot, 'could not start', error);
    } finally {
      clearTimeout(timer);
    }
    return stream;
  }

  /** The last position given to `acknowledge` (or the start position): what the server is told is applied. */
  get acknowledged(): Lsn {
    return this.#acknowledged;
  }

  /** The position of the last message received. */
  get lastReceived(): Lsn {
    return this.#lastReceived;
  }

  /**
   * Everything up to `lsn` is applied: the server may forget it (a durable slot resumes after it).
   * Positions only move forward; the next status update carries it, or one now with `now`.
   */
  acknowledge(lsn: Lsn, { now = false }: { readonly now?: boolean } = {}): void {
    if (lsn > this.#acknowledged) this.#acknowledged = lsn;
    if (now) this.sendStatus();
  }

  /** Sends a standby status update now, asking the server to answer (its keepalive then proves the connection alive). */
  sendStatus(): void {
    if (this.#ended) return;
    const update = Buffer.alloc(34);
    update.write('r', 0, 'latin1');
    update.writeBigUInt64BE(this.#acknowledged, 1); // written
    update.writeBigUInt64BE(this.#acknowledged, 9); // flushed
    update.writeBigUInt64BE(this.#acknowledged, 17); // applied
    update.writeBigInt64BE(BigInt(Date.now() - POSTGRES_EPOCH_MS) * 1000n, 25);
    update[33] = 1;
    this.#connection.sendCopyFromChunk(update);
  }

  /**
   * Tells the server the acknowledged position, then ends the connection (a temporary slot goes
   * with it). Resolves once the socket is closed; a server that does not answer is cut off.
   */
  async close(): Promise<void> {
    if (this.#ended) return;
    this.sendStatus();
    this.#stop();
    await discard(this.#client);
  }

  async #start(options: ReplicationStreamOptions): Promise<void> {
    const { slot } = options;
    const command =
      `START_REPLICATION SLOT ${pg.escapeIdentifier(slot)} LOGICAL ${formatLsn(options.startLsn ?? 0n)} (` +
      `proto_version '${PGOUTPUT_PROTOCOL_VERSION}', ` +
      `publication_names ${replicationLiteral(options.publications.map((name) => pg.escapeIdentifier(name)).join(','))}, ` +
      `messages 'true')`;
    // Frames may follow the start in the same read: the listeners are in place before the command.
    const started = new Promise<void>((resolve) =>
      this.#connection.once('replicationStart', () => {
        this.#streaming = true;
        this.#lastHeardAt = Date.now();
        resolve();
      }),
    );
    this.#connection.on('copyData', ({ chunk }) => this.#receive(chunk));
    const ended = this.#client.query(command).then(
      () => {
        if (!this.#streaming)
          throw new ReplicationConnectionError(slot, 'could not start', 'the server ended the command without streaming');
        this.#lose(new ReplicationConnectionError(slot, 'was ended by the server', undefined, this.#lastReceived));
      },
      (error: unknown) => {
        if (!this.#streaming) throw startError(slot, error);
        // The walsender checks the publications only once it decodes a change.
        this.#lose(
          sqlState(error) === '42704'
            ? new PublicationMissingError(options.publications, error)
            : new ReplicationConnectionError(slot, 'lost its connection', error, this.#lastReceived),
        );
      },
    );
    await Promise.race([started, ended]);
    this.#timer = setInterval(() => this.#tick(), options.statusIntervalMs ?? 10_000);
  }

  #receive(frame: Buffer): void {
    if (this.#ended) return;
    this.#lastHeardAt = Date.now();
    try {
      const kind = frame[0];
      if (kind === 0x77 /* w: XLogData */ && frame.length >= 25) {
        const position = { lsn: frame.readBigUInt64BE(1), walEnd: frame.readBigUInt64BE(9) };
        if (position.lsn > this.#lastReceived) this.#lastReceived = position.lsn;
        let message: PgoutputMessage;
        try {
          message = decodePgoutput(frame.subarray(25));
        } catch (error) {
          if (!(error instanceof PgoutputDecodeError)) throw error;
          this.#handlers.undecodable(error, position);
          return;
        }
        this.#handlers.message(message, position);
      } else if (kind === 0x6b /* k: primary keepalive */ && frame.length >= 18) {
        const walEnd = frame.readBigUInt64BE(1);
        this.#handlers.keepalive?.(walEnd);
        if (frame[17] === 1) this.sendStatus();
      } else {
        this.#lose(new ReplicationConnectionError(this.slot, 'received a frame it cannot read', `kind ${kind}, ${frame.length} bytes`));
      }
    } catch (error) {
      this.#lose(new ReplicationConnectionError(this.slot, 'stopped: a handler threw', error, this.#lastReceived));
    }
  }

  /** Every status interval: lost after `timeoutMs` of silence, else a status update that asks for an answer. */
  #tick(): void {
    if (Date.now() - this.#lastHeardAt <= this.#timeoutMs) {
      this.sendStatus();
      return;
    }
    // The event loop may have been blocked while frames sat in the socket: a turn through the poll
    // phase reads them before the connection is declared lost.
    setImmediate(() => {
      if (Date.now() - this.#lastHeardAt > this.#timeoutMs) {
        const silence = `nothing from the server within ${this.#timeoutMs} ms`;
        this.#lose(new ReplicationConnectionError(this.slot, 'lost its connection', silence, this.#lastReceived));
      }
    });
  }

  #lose(error: TablecacheError): void {
    if (this.#ended || !this.#streaming) return;
    this.#stop();
    void discard(this.#client);
    this.#handlers.lost(error);
  }

  #stop(): void {
    this.#ended = true;
    clearInterval(this.#timer);
  }
}

interface CreatedSlot {
  readonly created: boolean;
  readonly consistentPoint: Lsn | undefined;
}

/** Milliseconds from the Unix epoch to Postgres's, 2000-01-01. */
const POSTGRES_EPOCH_MS = 946_684_800_000;

function validate(options: ReplicationStreamOptions): void {
  const { slot, publications, statusIntervalMs = 10_000, timeoutMs = 30_000 } = options;
  if (!SLOT_NAME.test(slot)) {
    throw new InvalidOptionsError(`replication slot name ${JSON.stringify(slot)}: use 1 to 63 lower-case letters, digits and underscores`);
  }
  if (publications.length === 0) throw new InvalidOptionsError('a replication stream needs at least one publication');
  if (!(statusIntervalMs > 0 && timeoutMs > statusIntervalMs)) {
    throw new InvalidOptionsError(
      `replication stream timeouts: statusIntervalMs (${statusIntervalMs}) must be positive and below timeoutMs (${timeoutMs}), ` +
        'or the server is never asked to answer before the stream gives up',
    );
  }
}

/** Checked before streaming: the walsender would report a missing publication only once it decodes a change. */
async function checkPublications(client: pg.Client, publications: readonly string[]): Promise<void> {
  const { rows } = await client.query<{ pubname: string }>(
    `SELECT pubname FROM pg_catalog.pg_publication WHERE pubname IN (${publications.map((name) => pg.escapeLiteral(name)).join(', ')})`,
  );
  const found = new Set(rows.map((row) => row.pubname));
  const missing = publications.filter((name) => !found.has(name));
  if (missing.length > 0) throw new PublicationMissingError(missing);
}

async function prepareSlot(client: pg.Client, slot: string, mode: SlotMode): Promise<CreatedSlot> {
  if (mode !== 'temporary') {
    // A walsender connection takes only simple queries: the name goes in as a quoted literal.
    const { rows } = await client.query<{ plugin: string | null; database: string | null; current: string }>(
      `SELECT plugin, database, current_database() AS current FROM pg_catalog.pg_replication_slots WHERE slot_name = ${pg.escapeLiteral(slot)}`,
    );
    const existing = rows[0];
    if (existing !== undefined) {
      if (existing.plugin !== 'pgoutput' || existing.database !== existing.current) {
        throw new InvalidOptionsError(
          `replication slot '${slot}' exists for ${existing.plugin ?? 'physical replication'} in database ${existing.database ?? 'none'}, ` +
            `not for pgoutput in ${existing.current}: choose another slot name, or drop it with dropReplicationSlot`,
        );
      }
      return { created: false, consistentPoint: undefined };
    }
    if (mode === 'existing') throw new SlotMissingError(slot);
  }
  const temporary = mode === 'temporary' ? ' TEMPORARY' : '';
  try {
    // No snapshot is exported: nothing would use it, and exporting holds a transaction open.
    const { rows } = await client.query<{ consistent_point: string }>(
      `CREATE_REPLICATION_SLOT ${pg.escapeIdentifier(slot)}${temporary} LOGICAL pgoutput NOEXPORT_SNAPSHOT`,
    );
    return { created: true, consistentPoint: parseLsn(rows[0]!.consistent_point) };
  } catch (error) {
    switch (sqlState(error)) {
      case '55000':
        throw new WalLevelError(await showWalLevel(client), error);
      case '42710':
        // Another stream created it since the check (durable: fine), or holds a temporary one of that name.
        if (mode === 'temporary') throw new SlotInUseError(slot, error);
        return { created: false, consistentPoint: undefined };
      default:
        throw error;
    }
  }
}

async function showWalLevel(client: pg.Client): Promise<string | undefined> {
  try {
    return (await client.query<{ wal_level: string }>('SHOW wal_level')).rows[0]?.wal_level;
  } catch {
    return undefined; // the error names the fix either way
  }
}

/** START_REPLICATION's own failures, before any data: the slot is busy, gone, or unusable. */
function startError(slot: string, error: unknown): unknown {
  switch (sqlState(error)) {
    case '55006':
      return new SlotInUseError(slot, error);
    case '42704':
      return new SlotMissingError(slot, error);
    case '55000':
      return new WalLevelError(undefined, error);
    default:
      return error;
  }
}

/**
 * A string literal for the replication command grammar, which (unlike SQL's, which
 * `pg.escapeLiteral` targets with `E'…'`) knows only `''` as an escape.
 */
function replicationLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Ends the connection: a Terminate for a server that answers, and the socket destroyed after a
 * grace period for one that does not (end() alone would wait for a frozen server forever).
 */
async function discard(client: pg.Client): Promise<void> {
  const ended = client.end().catch(() => undefined);
  const cut = new AbortController();
  await Promise.race([ended, sleep(2000, undefined, { signal: cut.signal }).catch(() => undefined)]);
  cut.abort();
  client.connection.stream.destroy();
}
