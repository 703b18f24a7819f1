import { describeError, TablecacheError } from '@tablecache/core';
import pg from 'pg';
import type { Lsn } from './lsn.js';

/** Text that is not an LSN (`'16/B374D848'`), or a number out of an LSN's 64-bit range. */
export class InvalidLsnError extends TablecacheError {
  override name = 'InvalidLsnError';
  constructor(readonly value: string | bigint) {
    super(`not an LSN: ${typeof value === 'string' ? JSON.stringify(value) : value} (expected two hexadecimal halves like '16/B374D848')`);
  }
}

/**
 * A pgoutput message this decoder cannot read: an unknown tag (a newer protocol version or
 * option), or a malformed message. What it meant is unknown, so a feed treats it as a gap.
 */
export class PgoutputDecodeError extends TablecacheError {
  override name = 'PgoutputDecodeError';
  constructor(
    readonly problem: string,
    /** Where in the message the problem was found. */
    readonly offset: number,
    readonly length: number,
  ) {
    super(`unreadable pgoutput message (${length} bytes, at byte ${offset}): ${problem}`);
  }
}

/** The server writes too little WAL for logical decoding (SQLSTATE 55000 on creating a slot). */
export class WalLevelError extends TablecacheError {
  override name = 'WalLevelError';
  constructor(
    /** As `SHOW wal_level` read it, when it could be read. */
    readonly walLevel: string | undefined,
    cause: unknown,
  ) {
    super(
      `logical replication needs wal_level = logical, the server has ${walLevel ?? 'a lower level'}: run ` +
        `ALTER SYSTEM SET wal_level = logical as a superuser and restart the server (the setting takes effect only at start)`,
      { cause },
    );
  }
}

/** The role may not open a replication connection (SQLSTATE 42501). */
export class ReplicationPermissionError extends TablecacheError {
  override name = 'ReplicationPermissionError';
  constructor(
    readonly role: string,
    cause: unknown,
  ) {
    super(
      `role '${role}' may not open a replication connection: grant it with ALTER ROLE ${pg.escapeIdentifier(role)} REPLICATION ` +
        `(as a superuser), or connect as a role that has the REPLICATION attribute`,
      { cause },
    );
  }
}

/** A publication named in `START_REPLICATION` does not exist (SQLSTATE 42704), or was dropped while streaming. */
export class PublicationMissingError extends TablecacheError {
  override name = 'PublicationMissingError';
  constructor(
    readonly publications: readonly string[],
    cause?: unknown,
  ) {
    super(
      `publication ${publications.map((name) => `'${name}'`).join(', ')} does not exist in this database: create it with ` +
        `installPublication(access, { tables, publication }) or CREATE PUBLICATION ${pg.escapeIdentifier(publications[0] ?? '')} FOR TABLE …`,
      { cause },
    );
  }
}

/** Another connection streams from the slot (SQLSTATE 55006): a slot has one reader at a time. */
export class SlotInUseError extends TablecacheError {
  override name = 'SlotInUseError';
  constructor(
    readonly slot: string,
    cause: unknown,
  ) {
    super(
      `replication slot '${slot}' is in use by another connection (${describeError(cause)}): give each process a slot of its own, ` +
        `or stop the other reader (pg_replication_slots.active_pid shows it; pg_terminate_backend ends it)`,
      { cause },
    );
  }
}

/** A durable slot to resume from does not exist (SQLSTATE 42704): what happened since it was dropped is lost. */
export class SlotMissingError extends TablecacheError {
  override name = 'SlotMissingError';
  constructor(
    readonly slot: string,
    cause?: unknown,
  ) {
    super(
      `replication slot '${slot}' does not exist: open the stream with slotMode 'create-if-missing' to create it ` +
        `(the changes made while it was missing are not in it: treat them as a gap)`,
      { cause },
    );
  }
}

/**
 * The replication connection could not be opened, or was lost once streaming (a socket error,
 * the walsender terminated, the server restarting, or silent for longer than the stream's
 * timeout). The stream is dead; a new one resumes from the last acknowledged position.
 */
export class ReplicationConnectionError extends TablecacheError {
  override name = 'ReplicationConnectionError';
  constructor(
    readonly slot: string,
    /** What failed, e.g. 'lost its connection'. */
    problem: string,
    cause: unknown,
    /** Where the stream was when it was lost: the last position received, if any. */
    readonly lastReceived?: Lsn,
  ) {
    super(`replication stream of slot '${slot}' ${problem}${cause === undefined ? '' : `: ${describeError(cause)}`}`, { cause });
  }
}
