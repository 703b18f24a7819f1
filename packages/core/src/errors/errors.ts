/**
 * Every error tablecache raises on purpose is a `TablecacheError`, so callers can tell "the cache
 * refused this" from "the database failed" with one `instanceof`.
 */
export class TablecacheError extends Error {
  override name = 'TablecacheError';
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
      JSON.stringify(value, (_key, v: unknown) => {
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
