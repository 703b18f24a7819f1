import { CachedTable, type InvalidationPlan, type Key, NamedIndexes } from '@tablecache/core';
import { LocalStorageTable } from '@tablecache/local';
import { PostgresAccess } from '@tablecache/postgres';
import { type OpenBackend, testBackends } from '@tablecache/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FEED_KINDS } from '../packages/postgres/src/feed-kinds.fixture.js';
import { primaryKey, querySome, quote, SHAPES, type Shape } from './auto-invalidation.shapes.js';

/** A statement, and the keys of the source rows it may change (what the bound on refreshed rows counts from). */
interface Statement {
  readonly sql: string;
  readonly parameters: readonly unknown[];
  readonly table: string;
  readonly keys: readonly (readonly unknown[])[];
}

/** Random statements on each source table: inserts, updates of any column (key columns included) and deletes. */
function statementsOf(shape: Shape) {
  return shape.tables.map((table) => {
    const columns = Object.keys(table.columns);
    const value = (column: string) => fc.constantFrom(...(table.columns[column] ?? []));
    const row = fc.record(Object.fromEntries(columns.map((column) => [column, value(column)])));
    const where = fc.record(Object.fromEntries(table.key.map((column) => [column, value(column)])));
    const target = `${quote(shape.schema)}.${quote(table.name)}`;
    const condition = (at: number) => table.key.map((column, i) => `${quote(column)} = $${at + i}`).join(' AND ');
    return {
      insert: row.map(
        (values): Statement => ({
          sql: `INSERT INTO ${target} (${columns.map(quote).join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')}) ON CONFLICT DO NOTHING`,
          parameters: columns.map((column) => values[column]),
          table: table.name,
          keys: [table.key.map((k) => values[k])],
        }),
      ),
      update: fc
        .tuple(fc.constantFrom(...columns), where)
        .chain(([column, key]) => value(column).map((to) => ({ column, key, to })))
        .map(
          ({ column, key, to }): Statement => ({
            sql: `UPDATE ${target} SET ${quote(column)} = $1 WHERE ${condition(2)}`,
            parameters: [to, ...table.key.map((k) => key[k])],
            table: table.name,
            // An update of a key column moves the row to a new key: both are changed.
            keys: [table.key.map((k) => key[k]), table.key.map((k) => (k === column ? to : key[k]))],
          }),
        ),
      delete: where.map(
        (key): Statement => ({
          sql: `DELETE FROM ${target} WHERE ${condition(1)}`,
          parameters: table.key.map((k) => key[k]),
          table: table.name,
          keys: [table.key.map((k) => key[k])],
        }),
      ),
    };
  });
}

const server = testBackends().find((backend) => backend.name === 'postgres');

for (const { kind, shape } of FEED_KINDS.flatMap((kind) => SHAPES.map((shape) => ({ kind, shape })))) {
  describe.skipIf(!server?.available)(`tables: 'auto' keeps ${shape.name} equal to the database (property, ${kind.name} feed)`, () => {
    let database: OpenBackend;
    let access: PostgresAccess;

    beforeAll(async () => {
      database = await (server as NonNullable<typeof server>).open();
      access = new PostgresAccess(database.connection);
      await database.exec(`CREATE SCHEMA ${quote(shape.schema)}; ${shape.create}`);
    });

    afterAll(async () => {
      if (access !== undefined) await kind.uninstall(access);
      await access?.close();
      await database?.close();
    });

    test('after random inserts, updates (keys and join columns too) and deletes on every source table, each sync leaves the cache equal to a direct query, having refreshed no more rows than the changes touch', async () => {
      const statements = statementsOf(shape);
      const statement = fc.oneof(...statements.flatMap((each) => [each.insert, each.update, each.delete]));
      const steps = fc.array(fc.array(statement, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 6 });
      // Enough rows that most of them join: changes then have records to touch.
      const seed = fc.array(fc.oneof(...statements.map((each) => each.insert)), { minLength: 10, maxLength: 30 });
      await fc.assert(
        fc.asyncProperty(seed, steps, async (seedStatements, mutations) => {
          await database.exec(`TRUNCATE ${shape.tables.map((table) => `${quote(shape.schema)}.${quote(table.name)}`).join(', ')}`);
          // A statement the data refuses (a key that is taken) changes nothing, as in an application.
          for (const { sql, parameters } of seedStatements) await database.exec(sql, parameters).catch(() => undefined);
          const indexes = new NamedIndexes<Record<string, unknown>, Key>({
            primaryKey: (row) => primaryKey(shape, row),
            queryAll: { sql: shape.query },
            querySome: (keys) => querySome(shape, keys),
          });
          const table = new CachedTable(indexes, access, new LocalStorageTable(indexes));
          const { feed, close: closeFeed } = kind.open(database.connection);
          try {
            await table.watch(feed, { tables: 'auto', install: true });
            const plan = await table.describeInvalidation();
            expect(Object.fromEntries(plan.sources.map((source) => [source.table.table, source.how]))).toEqual(shape.plan);
            await table.load({ index: 'primaryKey', all: true });
            let before = await database.exec(shape.query);
            for (const step of mutations) {
              for (const { sql, parameters } of step) await database.exec(sql, parameters).catch(() => undefined);
              const refreshed = table.stats.refreshedRows;
              await table.sync();
              const cached = await table.getRecords({ index: 'primaryKey', all: true });
              const direct = await database.exec(shape.query);
              expect(sortByKey(cached, shape)).toEqual(direct);
              expect(table.stats.refreshedRows - refreshed).toBeLessThanOrEqual(touchedBound(plan, step, before, direct, shape));
              before = direct;
            }
          } finally {
            await table.close();
            await closeFeed();
          }
        }),
        { numRuns: 40 },
      );
    });
  });
}

/**
 * The most rows a refresh may write for `statements` where the plan is row-precise, per link
 * (the output columns a changed table's key is found in, shared by the tables linked through
 * them), as the table looks them up: the records that held a changed key before (in memory,
 * exactly) and those that hold one after (in the database, each column tested apart, so for
 * several columns a superset), each once. Infinite when a statement touches a whole-table source.
 */
function touchedBound(
  plan: InvalidationPlan,
  statements: readonly Statement[],
  before: readonly Record<string, unknown>[],
  after: readonly Record<string, unknown>[],
  shape: Shape,
): number {
  const keysByLink = new Map<string, { columns: readonly string[]; keys: (readonly unknown[])[] }>();
  for (const statement of statements) {
    const source = plan.sources.find((each) => each.table.table === statement.table);
    if (source === undefined || source.how !== 'rows') return Number.POSITIVE_INFINITY;
    for (const columns of source.links) {
      const link = keysByLink.get(JSON.stringify(columns)) ?? { columns, keys: [] };
      link.keys.push(...statement.keys);
      keysByLink.set(JSON.stringify(columns), link);
    }
  }
  let bound = 0;
  for (const { columns, keys } of keysByLink.values()) {
    const text = (value: unknown) => String(value);
    const held = (record: Record<string, unknown>) =>
      keys.some((key) => columns.every((column, i) => text(record[column]) === text(key[i])));
    const holds = (record: Record<string, unknown>) =>
      columns.every((column, i) => keys.some((key) => text(record[column]) === text(key[i])));
    const touched = new Set([...before.filter(held), ...after.filter(holds)].map((record) => JSON.stringify(primaryKey(shape, record))));
    bound += touched.size;
  }
  return bound;
}

function sortByKey(rows: readonly Record<string, unknown>[], shape: Shape): Record<string, unknown>[] {
  const key = (row: Record<string, unknown>) => [primaryKey(shape, row)].flat() as number[];
  return [...rows].sort((a, b) => {
    const [ka, kb] = [key(a), key(b)];
    for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return (ka[i] as number) - (kb[i] as number);
    return 0;
  });
}
