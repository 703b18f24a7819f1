import { TablecacheError } from '@tablecache/core';

/** A write needs more shared memory than the table's `maxBytes` allows; nothing was changed. */
export class StorageFullError extends TablecacheError {
  override name = 'StorageFullError';
  constructor(
    readonly table: string,
    /** Bytes the write needed on top of what is in use. */
    readonly neededBytes: number,
    readonly usedBytes: number,
    readonly maxBytes: number,
  ) {
    super(
      `table '${table}': shared memory is full: a write needs ${neededBytes} more bytes, ${usedBytes} of at most ${maxBytes} are in use (raise maxBytes)`,
    );
  }
}

/** A value shared memory cannot store exactly (a class instance, a symbol, a function); nothing was stored. */
export class UnstorableValueError extends TablecacheError {
  override name = 'UnstorableValueError';
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`cannot store ${path === '' ? 'the value' : `the value at ${path}`} in shared memory: ${problem}`);
  }
}

/**
 * What a reader raises when memory it read made no sense (an offset outside the buffer, an
 * unknown tag): a write was under way. The read runs again; it never reaches a caller unless
 * no write interleaved, which would mean corrupt memory.
 */
export class TornReadError extends Error {
  override name = 'TornReadError';
}

/**
 * The thread that owns a shared table stopped answering (its heartbeat stood still, or a request
 * went unanswered): it may have exited without closing the table. Memory is not served, since
 * nothing keeps it fresh.
 */
export class OwnerUnavailableError extends TablecacheError {
  override name = 'OwnerUnavailableError';
  constructor(
    readonly table: string,
    readonly problem: string,
  ) {
    super(`table '${table}': the thread that owns it is not answering (${problem})`);
  }
}
