import { type ChangeOp, type EncodedChange, type KeyColumn, TablecacheError } from '@tablecache/core';
import { PAYLOAD_VERSION } from '../triggers/notify-function.js';

/** A NOTIFY payload that is not one tablecache's triggers or feeds send. */
export class PayloadError extends TablecacheError {
  override name = 'PayloadError';
}

export type Payload =
  | { readonly kind: 'marker'; readonly id: string }
  | {
      readonly kind: 'changes';
      /**
       * The statement's changed rows, keys as text. A change with neither `old` nor `new` (a
       * truncate, an overflow) means any row of the table may have changed; its `keyColumns`
       * may then be empty.
       */
      readonly changes: readonly EncodedChange[];
      /** When the statement's trigger ran, in milliseconds since the Unix epoch (the database server's clock). */
      readonly at: number;
    };

const OPS: readonly ChangeOp[] = ['insert', 'update', 'delete', 'truncate'];
const KEY_LISTS = ['keys', 'old', 'new'] as const;

/** The payload a feed sends through its channel to mark a point in it (see `PgNotifyFeed.sync`). */
export function markerPayload(id: string): string {
  return JSON.stringify({ v: PAYLOAD_VERSION, marker: id });
}

/**
 * Reads one payload of wire format version 2 (see `triggers/notify-function.ts`): key values stay
 * text, with their columns' names and type OIDs, for the reading table to decode. Anything else
 * (another version included: triggers of an older tablecache) throws `PayloadError`; the caller
 * treats that as a gap. Nothing here ever becomes cached data: a change only names rows to
 * refresh.
 */
export function parsePayload(text: string): Payload {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    throw new PayloadError(`not JSON: ${text.slice(0, 100)}`);
  }
  if (!isObject(message) || message.v !== PAYLOAD_VERSION) {
    throw new PayloadError(`not a version ${PAYLOAD_VERSION} tablecache payload: ${text.slice(0, 100)}`);
  }
  if ('marker' in message) {
    if (typeof message.marker !== 'string') throw new PayloadError('a marker must be a string');
    return { kind: 'marker', id: message.marker };
  }
  const { op, schema, table, at } = message;
  if (typeof op !== 'string' || !OPS.includes(op as ChangeOp)) throw new PayloadError(`unknown op ${String(op)}`);
  if (typeof schema !== 'string' || typeof table !== 'string') throw new PayloadError('schema and table must be strings');
  if (typeof at !== 'number' || !Number.isFinite(at)) throw new PayloadError('at must be a number of milliseconds');
  const lists = KEY_LISTS.filter((name) => name in message);
  const wholeTable = op === 'truncate' || message.overflow === true;
  if (lists.length !== (wholeTable ? 0 : 1)) {
    throw new PayloadError(`a payload carries exactly one of keys, old, new or overflow; got ${lists.join(', ') || 'none'}`);
  }
  const keyColumns = readKeyColumns(message, !wholeTable);
  const base = { op: op as ChangeOp, schema, table, keyColumns };
  // A truncate, or keys that did not fit: the whole table may have changed.
  if (wholeTable) return { kind: 'changes', changes: [base], at };

  const list = lists[0]!;
  const entries = message[list];
  if (!Array.isArray(entries)) throw new PayloadError(`${list} must be an array`);
  const changes = entries.map((entry: unknown): EncodedChange => {
    if (!Array.isArray(entry) || entry.length !== keyColumns.length || !entry.every((v) => typeof v === 'string')) {
      throw new PayloadError(`each key must be an array of ${keyColumns.length} text values`);
    }
    const key = entry as string[];
    if (list === 'keys') return { ...base, old: key, new: key };
    return list === 'old' ? { ...base, old: key } : { ...base, new: key };
  });
  return { kind: 'changes', changes, at };
}

/** The key columns of a payload; required when it carries keys, else read when present. */
function readKeyColumns(message: Record<string, unknown>, required: boolean): readonly KeyColumn[] {
  const { columns, types } = message;
  if (!required && columns === undefined && types === undefined) return [];
  if (!Array.isArray(columns) || columns.length === 0 || !columns.every((c) => typeof c === 'string')) {
    throw new PayloadError('columns must be a non-empty array of names');
  }
  if (!Array.isArray(types) || types.length !== columns.length || !types.every((t) => Number.isInteger(t) && t > 0)) {
    throw new PayloadError('types must be one type id per column');
  }
  return columns.map((name: string, i) => ({ name, typeId: types[i] as number }));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
