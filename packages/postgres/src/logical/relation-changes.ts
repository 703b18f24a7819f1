import type { EncodedChange, KeyColumn } from '@tablecache/core';
import type { DeleteMessage, InsertMessage, RelationMessage, TupleData, TupleValue, UpdateMessage } from './pgoutput.js';

/** A relation as the stream described it, with its key columns found once. */
interface KnownRelation {
  readonly message: RelationMessage;
  readonly keyColumns: readonly KeyColumn[];
  /** Where each key column is in a tuple. */
  readonly keyIndexes: readonly number[];
}

/** What a relation message means for what the feed has seen so far. */
export type RelationNews = 'new' | 'same' | 'changed';

/**
 * The relations of one replication session, and the changes their rows make, keyed as the
 * triggers key them: the replica identity's columns (the primary key by default), as text, with
 * their types, for the table to decode as it decodes its rows. A row whose key cannot be read
 * (no replica identity, a key column not sent) becomes a change without keys: the whole table.
 */
export class RelationChanges {
  readonly #relations = new Map<number, KnownRelation>();

  /**
   * Takes a relation's description. pgoutput describes a relation again when its cache entry was
   * invalidated, which a schema change does: a description that differs from the one before is
   * `changed`, and the feed cannot know how earlier rows map.
   */
  describe(message: RelationMessage): RelationNews {
    const known = this.#relations.get(message.relationId);
    const keyIndexes = message.columns.flatMap((column, i) => (column.isKey ? [i] : []));
    this.#relations.set(message.relationId, {
      message,
      keyIndexes,
      keyColumns: keyIndexes.map((i) => ({ name: message.columns[i]!.name, typeId: message.columns[i]!.typeId })),
    });
    if (known === undefined) return 'new';
    return sameRelation(known.message, message) ? 'same' : 'changed';
  }

  /** Whether the stream described this relation (a change to one it did not describe cannot be read). */
  knows(relationId: number): boolean {
    return this.#relations.has(relationId);
  }

  /** The change an insert, update or delete makes; undefined for a relation never described. */
  change(message: InsertMessage | UpdateMessage | DeleteMessage): EncodedChange | undefined {
    const relation = this.#relations.get(message.relationId);
    if (relation === undefined) return undefined;
    const { schema, name: table } = relation.message;
    const base = { schema, table, keyColumns: relation.keyColumns };
    const keyOf = (tuple: TupleData | undefined) => (tuple === undefined ? undefined : keyValues(tuple, relation.keyIndexes));
    if (relation.keyIndexes.length === 0) return { op: message.tag, ...base };
    switch (message.tag) {
      case 'insert': {
        const key = keyOf(message.new);
        return key === undefined ? { op: 'insert', ...base } : { op: 'insert', ...base, new: key };
      }
      case 'update': {
        const newKey = keyOf(message.new);
        // Without a key tuple or an old row, the key did not change.
        const oldKey = message.key !== undefined || message.old !== undefined ? keyOf(message.key ?? message.old) : newKey;
        if (newKey === undefined || oldKey === undefined) return { op: 'update', ...base };
        return { op: 'update', ...base, old: oldKey, new: newKey };
      }
      case 'delete': {
        const key = keyOf(message.key ?? message.old);
        return key === undefined ? { op: 'delete', ...base } : { op: 'delete', ...base, old: key };
      }
    }
  }

  /** The truncate of a described relation: the whole table. */
  truncated(relationId: number): EncodedChange | undefined {
    const relation = this.#relations.get(relationId);
    if (relation === undefined) return undefined;
    return { op: 'truncate', schema: relation.message.schema, table: relation.message.name, keyColumns: [] };
  }

  /** The name a gap's reason gives a relation. */
  describeRelation(relationId: number): string {
    const relation = this.#relations.get(relationId);
    return relation === undefined ? `relation ${relationId}` : `${relation.message.schema}.${relation.message.name}`;
  }
}

/** The key's values as text; undefined when one is NULL or was not sent (an unchanged TOASTed value). */
function keyValues(tuple: TupleData, indexes: readonly number[]): string[] | undefined {
  const values: string[] = [];
  for (const i of indexes) {
    const value: TupleValue | undefined = tuple[i];
    if (typeof value !== 'string') return undefined;
    values.push(value);
  }
  return values;
}

function sameRelation(a: RelationMessage, b: RelationMessage): boolean {
  return (
    a.schema === b.schema &&
    a.name === b.name &&
    a.replicaIdentity === b.replicaIdentity &&
    a.columns.length === b.columns.length &&
    a.columns.every((column, i) => {
      const other = b.columns[i]!;
      return (
        column.name === other.name && column.typeId === other.typeId && column.typeMod === other.typeMod && column.isKey === other.isKey
      );
    })
  );
}
