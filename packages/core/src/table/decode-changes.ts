import { type Change, type EncodedChange, isEncodedChange, type KeyColumn, type KeyDecoder, type Row } from '../change-feed/change-feed.js';
import { TablecacheError } from '../errors/errors.js';

/**
 * The changes with their keys decoded, in order: an `EncodedChange`'s text values through
 * `decode` (the table's own access, so keys come out exactly as its records hold them; one call
 * per set of key columns, however many rows), a `Change` as it is. Without a decoder the values
 * stay text. Synchronous when the decoder is; throws (rejects) when a value cannot be decoded.
 */
export function decodeChanges(
  changes: readonly (Change | EncodedChange)[],
  decode: KeyDecoder | undefined,
): readonly Change[] | Promise<readonly Change[]> {
  const groups = new Map<string, { columns: readonly KeyColumn[]; texts: (readonly string[])[] }>();
  for (const change of changes) {
    if (!isEncodedChange(change)) continue;
    const signature = change.keyColumns.map((column) => `${column.name}\u0000${column.typeId}`).join('\u0000');
    let group = groups.get(signature);
    if (group === undefined) {
      group = { columns: change.keyColumns, texts: [] };
      groups.set(signature, group);
    }
    if (change.old !== undefined) group.texts.push(change.old);
    // An update that kept its key carries one list for both sides: decoded once.
    if (change.new !== undefined && change.new !== change.old) group.texts.push(change.new);
  }
  if (groups.size === 0) return changes as readonly Change[];
  const decodedGroups: (Map<readonly string[], Row> | Promise<Map<readonly string[], Row>>)[] = [];
  try {
    for (const { columns, texts } of groups.values()) {
      const values = decode === undefined ? texts : decode(columns, texts);
      decodedGroups.push(isPromise(values) ? values.then((rows) => rowsOf(columns, texts, rows)) : rowsOf(columns, texts, values));
    }
  } catch (error) {
    // The groups decoding asynchronously are not awaited now: their failures must not go unhandled.
    for (const group of decodedGroups) if (isPromise(group)) group.catch(() => undefined);
    throw error;
  }
  if (decodedGroups.some(isPromise)) return Promise.all(decodedGroups).then((maps) => assemble(changes, maps));
  return assemble(changes, decodedGroups as Map<readonly string[], Row>[]);
}

/** Each text row's decoded row, by the text row it came from. */
function rowsOf(
  columns: readonly KeyColumn[],
  texts: readonly (readonly string[])[],
  values: readonly (readonly unknown[])[],
): Map<readonly string[], Row> {
  if (!Array.isArray(values) || values.length !== texts.length) {
    throw new TablecacheError(`the key decoder returned ${Array.isArray(values) ? values.length : typeof values} rows for ${texts.length}`);
  }
  const rows = new Map<readonly string[], Row>();
  for (const [i, text] of texts.entries()) {
    const decoded = values[i];
    if (!Array.isArray(decoded) || decoded.length !== columns.length) {
      throw new TablecacheError(
        `the key decoder returned a row of ${Array.isArray(decoded) ? decoded.length : typeof decoded} values for ${columns.length} columns`,
      );
    }
    // Object.fromEntries defines own properties, so a column named __proto__ is an ordinary key.
    rows.set(text, Object.fromEntries(columns.map((column, c) => [column.name, decoded[c]])));
  }
  return rows;
}

function assemble(changes: readonly (Change | EncodedChange)[], decoded: readonly Map<readonly string[], Row>[]): Change[] {
  const find = (text: readonly string[]): Row => {
    for (const rows of decoded) {
      const row = rows.get(text);
      if (row !== undefined) return row;
    }
    throw new TablecacheError('a decoded key went missing'); // every text row was decoded above
  };
  return changes.map((change): Change => {
    if (!isEncodedChange(change)) return change;
    const { op, schema, table } = change;
    return {
      op,
      schema,
      table,
      ...(change.old !== undefined && { old: find(change.old) }),
      ...(change.new !== undefined && { new: find(change.new) }),
    };
  });
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
