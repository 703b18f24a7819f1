import { type PGlite, types as pgliteTypes } from '@electric-sql/pglite';
import { describeError, describeValue, type KeyColumn, TablecacheError } from '@tablecache/core';
import { CompiledQuery, type Kysely } from 'kysely';

/** What key decoding needs of a `PostgresAccess`: its rows' parsers, where it knows them, and its queries. */
export interface KeyReader {
  /**
   * The function that turns a value of this type, as Postgres text, into what the access's rows
   * hold, when it is known without asking the database; undefined when it is not (the keys then
   * take the round trip).
   */
  localParser(typeId: number): ((text: string) => unknown) | undefined;
  /** Runs one plain statement (no transaction of its own) the way the access runs its queries, and returns its rows. */
  query(sql: string, parameters: readonly unknown[]): Promise<readonly Readonly<Record<string, unknown>>[]>;
}

/** Keys as PGlite reads them: locally for the types it can, through the instance for the rest. */
export function pgliteKeyReader(pglite: PGlite): KeyReader {
  return {
    // PGlite turns every value of a result into JS with exactly this call: its instance's parsers, text format.
    localParser: (typeId) => (text) => pgliteTypes.parseType(text, typeId, pglite.parsers),
    query: async (sql, parameters) => (await pglite.query<Record<string, unknown>>(sql, [...parameters])).rows,
  };
}

/** Keys as a kysely instance given by the caller reads them: always through the database, since its parsers are out of sight. */
export function kyselyKeyReader<DB>(kysely: Kysely<DB>): KeyReader {
  return {
    localParser: () => undefined,
    query: async (sql, parameters) => (await kysely.executeQuery<Record<string, unknown>>(CompiledQuery.raw(sql, [...parameters]))).rows,
  };
}

/** Key values could not be decoded: the input is malformed, or the database refused a text as a value of its type. */
export class KeyDecodeError extends TablecacheError {
  override name = 'KeyDecodeError';
  constructor(
    readonly columns: readonly KeyColumn[],
    problem: string,
    options?: { readonly cause?: unknown },
  ) {
    super(`cannot decode key values of ${columns.map((c) => `${c.name} (type ${c.typeId})`).join(', ')}: ${problem}`, options);
  }
}

type Decoded = readonly (readonly unknown[])[];

/**
 * Decodes key values sent as Postgres text into exactly what the access's rows hold for those
 * columns, whatever parses its rows (pg's defaults or a copy of pg with its own, a pool's
 * `types`, PGlite's parsers) and whatever its session settings (TimeZone, DateStyle, ...).
 *
 * The general way is a round trip: the database casts each text to the column's type, and the
 * access reads the result as it reads any row. That is exact by construction: the same parsers
 * see the same text the access's own queries would get, rendered in the reader's session (a
 * timestamptz kept as a string comes back in that session's TimeZone, which nothing local could
 * reproduce).
 *
 * Where it is provably the same, keys are decoded locally and synchronously instead: the type's
 * text output depends on no session setting, the text is exactly what that output function
 * writes (so the database would hand the parser that very text), and the access knows the parser
 * its rows get. Anything else, including a text that is not a value of its type, takes the round
 * trip, where the database rejects what its type rejects.
 */
export class KeyDecoding {
  readonly #reader: KeyReader;
  /** Each type's name as a cast target (`pg_catalog.int4`), by oid; `format_type` is no good here: it names bpchar `character`, which casts to char(1). */
  readonly #typeNames = new Map<number, string>();

  constructor(reader: KeyReader) {
    this.#reader = reader;
  }

  decode(columns: readonly KeyColumn[], rows: readonly (readonly string[])[]): Decoded | Promise<Decoded> {
    const problem = malformed(columns, rows);
    if (problem !== undefined) return Promise.reject(new KeyDecodeError(columns, problem));
    if (rows.length === 0) return [];
    const parsers = this.#localParsers(columns, rows);
    if (parsers === undefined) return this.#roundTrip(columns, rows);
    try {
      return rows.map((row) => row.map((text, i) => parsers[i]!(text)));
    } catch (error) {
      return Promise.reject(new KeyDecodeError(columns, describeError(error), { cause: error }));
    }
  }

  /** Each column's local parser, or undefined when any value must take the round trip. */
  #localParsers(columns: readonly KeyColumn[], rows: readonly (readonly string[])[]): ((text: string) => unknown)[] | undefined {
    const parsers: ((text: string) => unknown)[] = [];
    for (const [i, { typeId }] of columns.entries()) {
      const isOutput = SESSION_INDEPENDENT_OUTPUT.get(typeId);
      if (isOutput === undefined || !rows.every((row) => isOutput(row[i]!))) return undefined;
      const parser = this.#reader.localParser(typeId);
      if (parser === undefined) return undefined;
      parsers.push(parser);
    }
    return parsers;
  }

  async #roundTrip(columns: readonly KeyColumn[], rows: readonly (readonly string[])[]): Promise<Decoded> {
    const typeIds = columns.map((column) => column.typeId);
    try {
      const names = await this.#names(typeIds);
      // One text array per column, cast row by row; ORDINALITY keeps the rows in the order given.
      const aliases = columns.map((_, i) => `k${i}`);
      const sql =
        `SELECT ${aliases.map((alias, i) => `${alias}::${names[i]} AS ${alias}`).join(', ')}` +
        ` FROM unnest(${aliases.map((_, i) => `$${i + 1}::pg_catalog.text[]`).join(', ')})` +
        ` WITH ORDINALITY AS u(${aliases.join(', ')}, n) ORDER BY n`;
      const decoded = await this.#reader.query(
        sql,
        columns.map((_, i) => rows.map((row) => row[i])),
      );
      return decoded.map((row) => aliases.map((alias) => row[alias]));
    } catch (error) {
      // A type renamed or dropped since its name was read must not fail every later decode.
      for (const typeId of typeIds) this.#typeNames.delete(typeId);
      throw new KeyDecodeError(columns, describeError(error), { cause: error });
    }
  }

  /** The cast target of each type, read from the catalog once per oid (quoted by Postgres, never pasted). */
  async #names(typeIds: readonly number[]): Promise<string[]> {
    const unknown = [...new Set(typeIds.filter((typeId) => !this.#typeNames.has(typeId)))];
    if (unknown.length > 0) {
      const rows = await this.#reader.query(
        "SELECT t.oid::pg_catalog.text AS oid, pg_catalog.format('%I.%I', n.nspname, t.typname) AS name FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE t.oid = ANY($1::pg_catalog.oid[])",
        [unknown],
      );
      for (const { oid, name } of rows) {
        if (typeof oid === 'string' && typeof name === 'string') this.#typeNames.set(Number(oid), name);
      }
    }
    return typeIds.map((typeId) => {
      const name = this.#typeNames.get(typeId);
      if (name === undefined) throw new Error(`the database has no type with oid ${typeId}`);
      return name;
    });
  }
}

/** Why the input cannot be decoded at all, or undefined when it is well formed. */
function malformed(columns: readonly KeyColumn[], rows: readonly (readonly string[])[]): string | undefined {
  if (!Array.isArray(columns) || columns.length === 0) return 'expected at least one key column';
  for (const column of columns) {
    if (typeof column?.name !== 'string' || !Number.isInteger(column.typeId) || column.typeId <= 0 || column.typeId > 0xffffffff) {
      return `a key column needs a name and a type oid; got ${describeValue(column)}`;
    }
  }
  if (!Array.isArray(rows)) return 'expected an array of rows';
  for (const row of rows) {
    if (!Array.isArray(row) || row.length !== columns.length || !row.every((value) => typeof value === 'string')) {
      return `each row must hold ${columns.length} text value(s), one per key column`;
    }
  }
  return undefined;
}

const SIGNED = /^(?:0|-?[1-9][0-9]*)$/;
const UNSIGNED = /^(?:0|[1-9][0-9]*)$/;

/** Whether a text is an integer as Postgres writes it (no sign on 0, no leading zeros or spaces) within [min, max]. */
function integerOutput(form: RegExp, min: bigint, max: bigint): (text: string) => boolean {
  const longest = Math.max(String(min).length, String(max).length);
  // Texts two characters shorter than the longest bound are inside the bounds without a BigInt.
  return (text) => form.test(text) && text.length <= longest && (text.length < longest - 1 || (BigInt(text) >= min && BigInt(text) <= max));
}

const NUMERIC = /^(?:-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?|NaN|-?Infinity)$/;
/** Postgres writes a negative zero without its sign. */
const NEGATIVE_ZERO = /^-0(?:\.0+)?$/;
/** Long numbers take the round trip rather than checking numeric's digit limits here. */
const LONGEST_LOCAL_NUMERIC = 1000;
/** Half a surrogate pair: not encodable in UTF-8, so not a text Postgres could have sent. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** Longest name in bytes (NAMEDATALEN - 1); a longer text is truncated by the type, so it is not a name's output. */
const NAME_BYTES = 63;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** No Postgres text holds a NUL. */
const isText = (text: string) => !text.includes('\0') && !LONE_SURROGATE.test(text);

/** "char" writes one ASCII byte as itself, the zero byte as nothing, and bytes above 127 as octal escapes (left to the round trip). */
const isCharOutput = (text: string) => text === '' || (text.length === 1 && text !== '\0' && text.charCodeAt(0) <= 0x7f);

/**
 * The types whose text output no session setting changes (unlike dates, timestamps, intervals,
 * floats, money, bytea), by oid, each with a test that a text is exactly what its output
 * function writes. Text types assume the usual UTF-8 client encoding, which pg and PGlite use.
 */
const SESSION_INDEPENDENT_OUTPUT: ReadonlyMap<number, (text: string) => boolean> = new Map([
  [16, (text: string) => text === 't' || text === 'f'], // bool
  [18, isCharOutput], // "char"
  [19, (text: string) => isText(text) && Buffer.byteLength(text) <= NAME_BYTES], // name
  [20, integerOutput(SIGNED, -(2n ** 63n), 2n ** 63n - 1n)], // int8
  [21, integerOutput(SIGNED, -(2n ** 15n), 2n ** 15n - 1n)], // int2
  [23, integerOutput(SIGNED, -(2n ** 31n), 2n ** 31n - 1n)], // int4
  [25, isText], // text
  [26, integerOutput(UNSIGNED, 0n, 2n ** 32n - 1n)], // oid
  [1042, isText], // bpchar (its padding is part of the text)
  [1043, isText], // varchar
  [1700, (text: string) => text.length <= LONGEST_LOCAL_NUMERIC && NUMERIC.test(text) && !NEGATIVE_ZERO.test(text)], // numeric
  [2950, (text: string) => UUID.test(text)], // uuid
]);
