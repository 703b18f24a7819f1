import { type Change, type ChangeOp, type Row, TablecacheError } from '@tablecache/core';

/** A NOTIFY payload that is not one tablecache's triggers or feeds send. */
export class PayloadError extends TablecacheError {
  override name = 'PayloadError';
}

/** Turns a key value from its Postgres text form into what the driver gives for that type. */
export type ParseValue = (text: string, typeId: number) => unknown;

export type Payload = { readonly kind: 'marker'; readonly id: string } | { readonly kind: 'changes'; readonly changes: Change[] };

const OPS: readonly ChangeOp[] = ['insert', 'update', 'delete', 'truncate'];
const KEY_LISTS = ['keys', 'old', 'new'] as const;

/**
 * Reads one payload of wire format version 1 (see `triggers/notify-function.ts`). Anything else
 * throws `PayloadError`; the caller treats that as a gap. Nothing here ever becomes cached data:
 * a change only names rows to refresh.
 */
export function parsePayload(text: string, parseValue: ParseValue): Payload {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    throw new PayloadError(`not JSON: ${text.slice(0, 100)}`);
  }
  if (!isObject(message) || message.v !== 1) throw new PayloadError(`not a version 1 tablecache payload: ${text.slice(0, 100)}`);
  if ('marker' in message) {
    if (typeof message.marker !== 'string') throw new PayloadError('a marker must be a string');
    return { kind: 'marker', id: message.marker };
  }
  const { op, schema, table } = message;
  if (typeof op !== 'string' || !OPS.includes(op as ChangeOp)) throw new PayloadError(`unknown op ${String(op)}`);
  if (typeof schema !== 'string' || typeof table !== 'string') throw new PayloadError('schema and table must be strings');
  const base = { op: op as ChangeOp, schema, table };
  // A truncate, or keys that did not fit: the whole table may have changed.
  if (op === 'truncate' || message.overflow === true) return { kind: 'changes', changes: [base] };

  const { columns, types } = message;
  if (!Array.isArray(columns) || columns.length === 0 || !columns.every((c) => typeof c === 'string')) {
    throw new PayloadError('columns must be a non-empty array of names');
  }
  if (!Array.isArray(types) || types.length !== columns.length || !types.every((t) => Number.isInteger(t))) {
    throw new PayloadError('types must be one type id per column');
  }
  const lists = KEY_LISTS.filter((name) => name in message);
  if (lists.length !== 1)
    throw new PayloadError(`a payload carries exactly one of keys, old, new or overflow; got ${lists.join(', ') || 'none'}`);
  const list = lists[0]!;
  const entries = message[list];
  if (!Array.isArray(entries)) throw new PayloadError(`${list} must be an array`);
  const changes = entries.map((entry: unknown): Change => {
    if (!Array.isArray(entry) || entry.length !== columns.length || !entry.every((v) => typeof v === 'string')) {
      throw new PayloadError(`each key must be an array of ${columns.length} text values`);
    }
    const row: Row = Object.fromEntries(columns.map((column: string, i) => [column, parseValue(entry[i] as string, types[i] as number)]));
    if (list === 'keys') return { ...base, old: row, new: row };
    return list === 'old' ? { ...base, old: row } : { ...base, new: row };
  });
  return { kind: 'changes', changes };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
