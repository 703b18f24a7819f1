import { bytesToHex } from '../key/bytes.js';
import { describeError } from '../logging/logger.js';

/**
 * Every error tablecache raises on purpose is a `TablecacheError`, so callers can tell "the cache
 * refused this" from "the database failed" with one `instanceof`.
 */
export class TablecacheError extends Error {
  override name = 'TablecacheError';
}

/**
 * The database failed what the cache asked of it (a read that memory could not answer, a load, a
 * refresh), or could not be reached. The driver's error is the `cause`.
 */
export class DatabaseError extends TablecacheError {
  override name = 'DatabaseError';
  constructor(
    /** The table (or feed) that asked. */
    readonly source: string,
    /** What it was doing: 'read', 'load', 'refresh', 'adjust', … */
    readonly operation: string,
    cause: unknown,
  ) {
    super(`table '${source}': the database failed a ${operation}: ${describeError(cause)}`, { cause });
  }
}

/**
 * A query returned two rows with the same primary key (a join that fans out, or timestamps finer
 * than a Date's milliseconds). A cache keyed by that key would keep one and drop the other.
 */
export class DuplicateKeyError extends TablecacheError {
  override name = 'DuplicateKeyError';
  constructor(
    readonly table: string,
    readonly key: unknown,
  ) {
    super(
      `table '${table}': the query returned more than one row with primary key ${describeValue(key)}; ` +
        'each row must have a key of its own (does a join fan out, or are timestamps finer than milliseconds part of the key?)',
    );
  }
}

/** `sync()` did not finish in time: changes may not have arrived (the feed is disconnected, or the database is slow). */
export class SyncTimeoutError extends TablecacheError {
  override name = 'SyncTimeoutError';
  constructor(
    readonly source: string,
    readonly timeoutMs: number,
  ) {
    super(`${source}: sync() did not finish within ${timeoutMs} ms; changes committed before it may not be visible yet`);
  }
}

/**
 * A read memory cannot be trusted with (the table's change feed lost its connection) and the
 * database cannot answer directly (the table has no query for this spec).
 */
export class FeedDisconnectedError extends TablecacheError {
  override name = 'FeedDisconnectedError';
  constructor(
    readonly table: string,
    readonly spec: unknown,
  ) {
    super(
      `table '${table}': its change feed is disconnected, so memory may be stale, and there is no database query for ${describeValue(spec)}`,
    );
  }
}

/** The change feed was closed; it delivers nothing and cannot sync. */
export class FeedClosedError extends TablecacheError {
  override name = 'FeedClosedError';
  constructor(readonly feed: string) {
    super(`${feed} is closed`);
  }
}

/**
 * A change named rows by keys that cannot match the table's records: a key column decoded to
 * another type than the table's keys. The table was invalidated whole instead.
 */
export class UnmatchableChangeError extends TablecacheError {
  override name = 'UnmatchableChangeError';
  constructor(
    readonly table: string,
    /** The changed table, `schema.table`. */
    readonly source: string,
    /** The column whose value did not match, when it could be told. */
    readonly column: string | undefined,
    problem: string,
  ) {
    super(
      `table '${table}': a change to ${source}${column === undefined ? '' : ` (column ${column})`} cannot be matched to cached records: ${problem}; the whole table was invalidated`,
    );
  }
}

/** `getFirstRecord` found nothing for the spec. */
export class RecordNotFoundError extends TablecacheError {
  override name = 'RecordNotFoundError';
  constructor(readonly spec: unknown) {
    super(`no record matches ${describeValue(spec)}`);
  }
}

/** A spec names an index the table does not have. */
export class UnknownIndexError extends TablecacheError {
  override name = 'UnknownIndexError';
  constructor(
    readonly index: unknown,
    readonly knownIndexes: readonly string[],
  ) {
    super(`unknown index ${describeValue(index)}; this table has ${knownIndexes.map((n) => `'${n}'`).join(', ')}`);
  }
}

/** A spec names a known index but does not have the shape that index takes. */
export class MalformedSpecError extends TablecacheError {
  override name = 'MalformedSpecError';
  constructor(
    readonly spec: unknown,
    readonly problem: string,
  ) {
    super(`malformed spec ${describeValue(spec)}: ${problem}`);
  }
}

/** A key (in a spec, or computed from a record) is not a usable key: NaN, an object, an invalid date. */
export class InvalidKeyError extends TablecacheError {
  override name = 'InvalidKeyError';
  constructor(
    readonly key: unknown,
    readonly problem: string,
  ) {
    super(`invalid key ${describeValue(key)}: ${problem}`);
  }
}

/**
 * A key of another type than the index's keys (`'1'` where the keys are numbers, as an HTTP
 * handler passes `req.params.id`): it could never match, so it is refused rather than answered
 * with nothing.
 */
export class KeyTypeError extends InvalidKeyError {
  override name = 'KeyTypeError';
  constructor(
    key: unknown,
    readonly index: string,
    readonly expected: string,
    readonly got: string,
  ) {
    super(key, `index '${index}' has keys of type ${expected}, this is ${got}`);
  }
}

/** A key is `undefined` or `null`: usually a misspelt column in a key function or spec. */
export class UndefinedKeyError extends InvalidKeyError {
  override name = 'UndefinedKeyError';
  constructor(key: undefined | null, where: string) {
    super(key, `a key must not be ${String(key)} (${where})`);
  }
}

/** `load()` was called on a table that is loaded or loading. */
export class AlreadyLoadedError extends TablecacheError {
  override name = 'AlreadyLoadedError';
  constructor(readonly table: string) {
    super(`table '${table}' is already loaded or loading; use adjust() to change what it caches`);
  }
}

/** The table was closed; it serves nothing any more. */
export class TableClosedError extends TablecacheError {
  override name = 'TableClosedError';
  constructor(readonly table: string) {
    super(`table '${table}' is closed`);
  }
}

/** Something that should be a `Query` is not one. */
export class InvalidQueryError extends TablecacheError {
  override name = 'InvalidQueryError';
  constructor(
    readonly query: unknown,
    readonly problem: string,
  ) {
    super(`invalid query ${describeValue(query)}: ${problem}`);
  }
}

/** A short, safe rendering of a value for error messages (bigint and Date included, long values cut). */
export function describeValue(value: unknown): string {
  let text: string;
  try {
    text =
      JSON.stringify(value, function (this: Record<string, unknown>, key, v: unknown) {
        // A Buffer's toJSON has run by now; the holder still has the bytes.
        const original = this[key];
        if (original instanceof Uint8Array) return `\\x${bytesToHex(original)}`;
        if (typeof v === 'bigint') return `${v}n`;
        if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
        if (v === undefined) return 'undefined';
        if (typeof v === 'function') return '[function]';
        return v;
      }) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** An operation that needs a loaded table (such as `adjust`) was called before `load()` succeeded. */
export class NotLoadedError extends TablecacheError {
  override name = 'NotLoadedError';
  constructor(readonly table: string) {
    super(`table '${table}' is not loaded; call load() first`);
  }
}

/** Options given to a constructor or method are not usable; the message says which and why. */
export class InvalidOptionsError extends TablecacheError {
  override name = 'InvalidOptionsError';
}
