import type { KeyDecoder } from '@tablecache/core';
import { PayloadError } from './payload.js';

/** A `KeyDecoder` from a parser of one value (pg's or PGlite's parsers for a type). */
export function keyDecoder(parse: (text: string, typeId: number) => unknown): KeyDecoder {
  return (columns, rows) =>
    rows.map((row) => {
      if (row.length !== columns.length)
        throw new PayloadError(
          `a key has ${row.length} values for ${columns.length} key columns (${columns.map((c) => c.name).join(', ')})`,
        );
      return row.map((text, i) => parse(text, columns[i]!.typeId));
    });
}
