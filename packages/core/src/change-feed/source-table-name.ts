import { InvalidOptionsError } from '../errors/errors.js';

/**
 * Reads a source table's name as users write it in mappings and installs: plain (taken exactly
 * as written, no quotes inside; `Mixed Case`, `sales.Orders`), or SQL-quoted when it starts with
 * a double quote (`"Sales"."Order Items"`, `"Sales".items`, `"a.b"` for a table whose name holds
 * a dot; `""` is a quote inside). At most two parts: `table` or `schema.table`. A name without a
 * schema is found through the search path, as Postgres finds it.
 */
export function parseSourceTableName(name: string): { readonly schema: string | null; readonly table: string } {
  if (typeof name !== 'string' || name === '')
    throw new InvalidOptionsError(`a table name must be a non-empty string; got ${String(name)}`);
  const parts: string[] = [];
  let at = 0;
  while (at <= name.length) {
    let part: string;
    if (name[at] === '"') {
      const quoted = /^"((?:[^"]|"")+)"/.exec(name.slice(at));
      if (quoted === null) throw new InvalidOptionsError(`table name '${name}' has a quoted part that is empty or not closed`);
      part = (quoted[1] as string).replaceAll('""', '"');
      at += quoted[0].length;
      if (at < name.length && name[at] !== '.') {
        throw new InvalidOptionsError(`table name '${name}' has text after a quoted part; separate schema and table with a dot`);
      }
    } else {
      const dot = name.indexOf('.', at);
      part = name.slice(at, dot === -1 ? name.length : dot);
      if (part === '') throw new InvalidOptionsError(`table name '${name}' has an empty schema or table part`);
      at += part.length;
    }
    parts.push(part);
    at++; // past the dot, or past the end
  }
  if (parts.length > 2)
    throw new InvalidOptionsError(`table name '${name}' has more than two parts; quote a part that holds a dot ("a.b")`);
  return parts.length === 1 ? { schema: null, table: parts[0] as string } : { schema: parts[0] as string, table: parts[1] as string };
}
