/*
 * Decoder of pgoutput, protocol version 1: the messages Postgres's built-in logical decoding
 * plugin writes, one per XLogData frame. Format:
 * https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html
 *
 * Why our own decoder on pg, not the npm package pg-logical-replication (2.5.0, July 2026):
 * measured in one process (Node 20, PG 15, medians of runs 3 to 9 of 9, two invocations) on messages
 * captured from a real slot with pg_logical_slot_peek_binary_changes; table (int4 key, text,
 * float8, timestamptz). The package also converts values with pg's type parsers (floats, Dates)
 * into objects keyed by column name; ours keeps the text, which is all an invalidation needs.
 *
 *   workload                                   ours                        pg-logical-replication
 *   one INSERT transaction of 100,000 rows     2.5-2.8 M msg/s, 199-218 MB/s   0.59-0.76 M msg/s, 47-60 MB/s
 *   (100,003 messages, 7.9 MB)
 *   20,000 one-row UPDATE transactions         4.0-5.4 M msg/s, 159-215 MB/s   1.3 M msg/s, 51-54 MB/s
 *   (60,003 messages, 2.4 MB)
 *
 * Both outrun what a walsender sends; robustness decided it. The package's service acknowledges
 * the last *received* position (keepalive positions included) on a 10 s timer even with
 * `acknowledge.auto: false`, so the slot advances past unapplied work (its issue #174; the fix,
 * PR #176, is an unreleased breaking 3.0); switching the timer off leaves keepalive requests
 * unanswered unless the caller answers them. It has no temporary slots (START_REPLICATION only),
 * pastes slot and publication names into the command unescaped, throws plain `Error`s and warns
 * on the console for unknown frames, reads OIDs as signed int32 and dates keepalives from a
 * wrong epoch. What it would do for us (frame parsing, status updates) is a few dozen lines on
 * pg's own `copyData` events, in `replication-stream.ts`, with the control we need.
 */
import { PgoutputDecodeError } from './logical-errors.js';
import type { Lsn } from './lsn.js';

/** The protocol version `START_REPLICATION` asks for, and the only one this module reads. */
export const PGOUTPUT_PROTOCOL_VERSION = 1;

/**
 * A TOASTed column that an UPDATE did not change: pgoutput does not send its value. The column's
 * value is whatever it was; a consumer that needs it reads the row.
 */
export const UNCHANGED_TOAST: unique symbol = Symbol('tablecache.pgoutput.unchangedToast');

/** A column's value in text format (its type's output function), SQL NULL, or not sent. */
export type TupleValue = string | null | typeof UNCHANGED_TOAST;

/** A row's values, in the order of its relation's columns. */
export type TupleData = readonly TupleValue[];

export type ReplicaIdentity = 'default' | 'nothing' | 'full' | 'index';

export interface RelationColumn {
  readonly name: string;
  readonly typeId: number;
  readonly typeMod: number;
  /** Part of the replica identity (the primary key under `'default'`): its value is in `key` tuples. */
  readonly isKey: boolean;
}

export interface BeginMessage {
  readonly tag: 'begin';
  /** The commit record's LSN (commit's `commitLsn`). */
  readonly finalLsn: Lsn;
  /** Milliseconds since the Unix epoch. */
  readonly commitTime: number;
  readonly xid: number;
}

export interface CommitMessage {
  readonly tag: 'commit';
  readonly commitLsn: Lsn;
  /** The end of the commit record: acknowledging it acknowledges the whole transaction. */
  readonly endLsn: Lsn;
  /** Milliseconds since the Unix epoch. */
  readonly commitTime: number;
}

/** The transaction was replicated to this server from another (a replication origin). */
export interface OriginMessage {
  readonly tag: 'origin';
  readonly originLsn: Lsn;
  readonly name: string;
}

/** Describes a relation before its first change in a session, and again after its definition changes. */
export interface RelationMessage {
  readonly tag: 'relation';
  readonly relationId: number;
  readonly schema: string;
  readonly name: string;
  readonly replicaIdentity: ReplicaIdentity;
  readonly columns: readonly RelationColumn[];
}

/** Describes a non-built-in type before a relation with a column of it. */
export interface TypeMessage {
  readonly tag: 'type';
  readonly typeId: number;
  readonly schema: string;
  readonly name: string;
}

export interface InsertMessage {
  readonly tag: 'insert';
  readonly relationId: number;
  readonly new: TupleData;
}

/**
 * `key` holds the old replica identity columns (others null) when the key changed, `old` the
 * whole old row under replica identity full; neither when the key did not change.
 */
export interface UpdateMessage {
  readonly tag: 'update';
  readonly relationId: number;
  readonly key?: TupleData;
  readonly old?: TupleData;
  readonly new: TupleData;
}

/** `key` holds the replica identity columns (others null), `old` the whole row under replica identity full. */
export interface DeleteMessage {
  readonly tag: 'delete';
  readonly relationId: number;
  readonly key?: TupleData;
  readonly old?: TupleData;
}

export interface TruncateMessage {
  readonly tag: 'truncate';
  readonly relationIds: readonly number[];
  readonly cascade: boolean;
  readonly restartIdentity: boolean;
}

/** `pg_logical_emit_message`; sent only when `START_REPLICATION` asked for `messages 'true'`. */
export interface LogicalMessage {
  readonly tag: 'message';
  /** Inside its transaction (between begin and commit, and only if it commits), or sent at once. */
  readonly transactional: boolean;
  readonly lsn: Lsn;
  readonly prefix: string;
  /** The bytes as given; `content.toString()` for text. */
  readonly content: Buffer;
}

export type PgoutputMessage =
  | BeginMessage
  | CommitMessage
  | OriginMessage
  | RelationMessage
  | TypeMessage
  | InsertMessage
  | UpdateMessage
  | DeleteMessage
  | TruncateMessage
  | LogicalMessage;

/** Milliseconds from the Unix epoch to Postgres's, 2000-01-01. */
const POSTGRES_EPOCH_MS = 946_684_800_000;

/**
 * Decodes one pgoutput message (an XLogData frame's payload). Anything else (an unknown tag, a
 * message cut short or with bytes left over, a tuple of binary values) throws
 * `PgoutputDecodeError`, never another error: the stream cannot tell what it missed.
 */
export function decodePgoutput(buffer: Buffer): PgoutputMessage {
  const reader = new Reader(buffer);
  const message = readMessage(reader);
  if (reader.offset !== buffer.length) reader.fail(`${buffer.length - reader.offset} bytes left over`);
  return message;
}

function readMessage(reader: Reader): PgoutputMessage {
  const tag = reader.byte();
  switch (tag) {
    case 0x42 /* B */:
      return { tag: 'begin', finalLsn: reader.lsn(), commitTime: reader.time(), xid: reader.uint32() };
    case 0x43 /* C */:
      reader.byte(); // flags, unused
      return { tag: 'commit', commitLsn: reader.lsn(), endLsn: reader.lsn(), commitTime: reader.time() };
    case 0x4f /* O */:
      return { tag: 'origin', originLsn: reader.lsn(), name: reader.string() };
    case 0x52 /* R */:
      return readRelation(reader);
    case 0x59 /* Y */:
      return { tag: 'type', typeId: reader.uint32(), schema: reader.string(), name: reader.string() };
    case 0x49 /* I */:
      {
        const relationId = reader.uint32();
        reader.expect(0x4e /* N */, 'new tuple');
        return { tag: 'insert', relationId, new: reader.tuple() };
      }
    case 0x55 /* U */:
      return readUpdate(reader);
    case 0x44 /* D */:
      {
        const relationId = reader.uint32();
        const kind = reader.byte();
        if (kind === 0x4b /* K */) return { tag: 'delete', relationId, key: reader.tuple() };
        if (kind === 0x4f /* O */) return { tag: 'delete', relationId, old: reader.tuple() };
        return reader.fail(`a delete's old tuple is marked ${describeByte(kind)}, not K or O`);
      }
    case 0x54 /* T */:
      {
        const count = reader.uint32();
        const options = reader.byte();
        // Each id takes 4 bytes: a count the message cannot hold is rejected before allocating for it.
        if (count * 4 > reader.remaining) reader.fail(`a truncate of ${count} relations in ${reader.remaining} bytes`);
        const relationIds: number[] = [];
        for (let i = 0; i < count; i++) relationIds.push(reader.uint32());
        return { tag: 'truncate', relationIds, cascade: (options & 1) !== 0, restartIdentity: (options & 2) !== 0 };
      }
    case 0x4d /* M */:
      {
        const flags = reader.byte();
        const lsn = reader.lsn();
        const prefix = reader.string();
        return { tag: 'message', transactional: (flags & 1) !== 0, lsn, prefix, content: reader.bytes(reader.uint32()) };
      }
    default:
      return reader.fail(`unknown message tag ${describeByte(tag)} (protocol version ${PGOUTPUT_PROTOCOL_VERSION})`, 0);
  }
}

function readRelation(reader: Reader): RelationMessage {
  const relationId = reader.uint32();
  const schema = reader.string();
  const name = reader.string();
  const identity = reader.byte();
  const replicaIdentity = REPLICA_IDENTITIES.get(identity) ?? reader.fail(`unknown replica identity ${describeByte(identity)}`);
  const count = reader.uint16();
  const columns: RelationColumn[] = [];
  for (let i = 0; i < count; i++) {
    const flags = reader.byte();
    columns.push({ name: reader.string(), typeId: reader.uint32(), typeMod: reader.int32(), isKey: (flags & 1) !== 0 });
  }
  return { tag: 'relation', relationId, schema, name, replicaIdentity, columns };
}

function readUpdate(reader: Reader): UpdateMessage {
  const relationId = reader.uint32();
  const kind = reader.byte();
  if (kind === 0x4e /* N */) return { tag: 'update', relationId, new: reader.tuple() };
  const before = reader.tuple();
  reader.expect(0x4e /* N */, 'new tuple');
  if (kind === 0x4b /* K */) return { tag: 'update', relationId, key: before, new: reader.tuple() };
  if (kind === 0x4f /* O */) return { tag: 'update', relationId, old: before, new: reader.tuple() };
  return reader.fail(`an update's old tuple is marked ${describeByte(kind)}, not K, O or N`);
}

const REPLICA_IDENTITIES = new Map<number, ReplicaIdentity>([
  [0x64 /* d */, 'default'],
  [0x6e /* n */, 'nothing'],
  [0x66 /* f */, 'full'],
  [0x69 /* i */, 'index'],
]);

function describeByte(byte: number): string {
  return byte >= 0x20 && byte < 0x7f ? `'${String.fromCharCode(byte)}'` : `0x${byte.toString(16).padStart(2, '0')}`;
}

/** A cursor over one message; every read checks the bounds first, so a short message fails with the typed error. */
class Reader {
  readonly #buffer: Buffer;
  offset = 0;

  constructor(buffer: Buffer) {
    this.#buffer = buffer;
  }

  get remaining(): number {
    return this.#buffer.length - this.offset;
  }

  fail(problem: string, at = this.offset): never {
    throw new PgoutputDecodeError(problem, at, this.#buffer.length);
  }

  #need(bytes: number): number {
    const start = this.offset;
    if (bytes > this.#buffer.length - start) this.fail(`message cut short: ${bytes} bytes needed, ${this.#buffer.length - start} left`);
    this.offset = start + bytes;
    return start;
  }

  byte(): number {
    return this.#buffer[this.#need(1)]!;
  }

  expect(byte: number, what: string): void {
    const found = this.byte();
    if (found !== byte) this.fail(`expected ${what} marker ${describeByte(byte)}, found ${describeByte(found)}`, this.offset - 1);
  }

  uint16(): number {
    return this.#buffer.readUInt16BE(this.#need(2));
  }

  /** OIDs and xids are unsigned: a signed read would turn those above 2^31 negative. */
  uint32(): number {
    return this.#buffer.readUInt32BE(this.#need(4));
  }

  int32(): number {
    return this.#buffer.readInt32BE(this.#need(4));
  }

  lsn(): Lsn {
    return this.#buffer.readBigUInt64BE(this.#need(8));
  }

  /** A timestamp (microseconds since 2000-01-01) as milliseconds since the Unix epoch. */
  time(): number {
    const start = this.#need(8);
    // Two halves in float arithmetic: exact for any time within ±285,000 years, and no bigint.
    const micros = this.#buffer.readInt32BE(start) * 0x1_0000_0000 + this.#buffer.readUInt32BE(start + 4);
    return Math.floor(micros / 1000) + POSTGRES_EPOCH_MS;
  }

  /** A NUL-terminated string, in the database's encoding (UTF-8 is assumed). */
  string(): string {
    const end = this.#buffer.indexOf(0, this.offset);
    if (end < 0) this.fail('a string without its terminating NUL');
    const text = this.#buffer.toString('utf8', this.offset, end);
    this.offset = end + 1;
    return text;
  }

  bytes(length: number): Buffer {
    const start = this.#need(length);
    return this.#buffer.subarray(start, start + length);
  }

  tuple(): TupleValue[] {
    const count = this.uint16();
    // Each value takes at least its kind byte.
    if (count > this.remaining) this.fail(`a tuple of ${count} columns in ${this.remaining} bytes`);
    const values: TupleValue[] = new Array(count);
    for (let i = 0; i < count; i++) {
      const kind = this.byte();
      if (kind === 0x74 /* t */) {
        const length = this.uint32();
        const start = this.#need(length);
        values[i] = this.#buffer.toString('utf8', start, start + length);
      } else if (kind === 0x6e /* n */) values[i] = null;
      else if (kind === 0x75 /* u */) values[i] = UNCHANGED_TOAST;
      else if (kind === 0x62 /* b */) this.fail('a binary column value: protocol version 1 in text format sends none', this.offset - 1);
      else this.fail(`unknown column value kind ${describeByte(kind)}`, this.offset - 1);
    }
    return values;
  }
}
