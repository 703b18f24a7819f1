import type { Change, EncodedChange, KeyDecoder, Row } from '@tablecache/core';
import { PayloadError, parsePayload } from './payload.js';

/** A notification as the feed passes it on: a sync marker, or changes with their keys still in text. */
export type Notification =
  | { readonly kind: 'marker'; readonly id: string }
  | { readonly kind: 'changes'; readonly changes: EncodedChange[] };

/** A key value as the payload carries it: Postgres text and the column's type. */
interface TextValue {
  readonly text: string;
  readonly typeId: number;
}

/** Reads one NOTIFY payload; throws `PayloadError` when it is not one tablecache sends. */
export function readNotification(text: string): Notification {
  // Handed this as its value parser, the v1 parser keeps each key value's text and type.
  const payload = parsePayload(text, (value, typeId): TextValue => ({ text: value, typeId }));
  return payload.kind === 'marker' ? payload : { kind: 'changes', changes: payload.changes.map(encodedChange) };
}

/** The one place that knows how the payload parser's changes become `EncodedChange`s. */
function encodedChange(change: Change): EncodedChange {
  const { op, schema, table } = change;
  const sample = change.old ?? change.new;
  // A truncate, or keys that did not fit: no keys, so the whole table may have changed.
  if (sample === undefined) return { op, schema, table, keyColumns: [] };
  const keyColumns = Object.entries(sample).map(([name, value]) => ({ name, typeId: (value as TextValue).typeId }));
  const texts = (row: Row) => keyColumns.map(({ name }) => (row[name] as TextValue).text);
  return {
    op,
    schema,
    table,
    keyColumns,
    ...(change.old === undefined ? {} : { old: texts(change.old) }),
    ...(change.new === undefined ? {} : { new: texts(change.new) }),
  };
}

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
