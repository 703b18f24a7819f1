import { CachedTable, type InvalidationPlan, type Key, NamedIndexes } from '@tablecache/core';
import { LocalStorageTable } from '@tablecache/local';
import { PgNotifyFeed, PostgresAccess } from '@tablecache/postgres';
import { type OpenBackend, testBackends } from '@tablecache/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

/** A source table of a shape: its key columns and the values each column takes (small domains, so rows collide). */
interface SourceTableSpec {
  readonly name: string;
  readonly key: readonly string[];
  readonly columns: Readonly<Record<string, readonly (number | string | null)[]>>;
}

/** A cached query over several tables, the tables it reads, and how its records are keyed. */
interface Shape {
  readonly name: string;
  readonly schema: string;
  readonly create: string;
  readonly tables: readonly SourceTableSpec[];
  /** Every record, ordered by its primary key. */
  readonly query: string;
  /** The output columns of each record's primary key. */
  readonly keyColumns: readonly string[];
  /** How the plan follows each source table (by name): row by row, or whole. */
  readonly plan: Readonly<Record<string, 'rows' | 'whole'>>;
}

const ids = [1, 2, 3, 4, 5, 6];
const names = ['a', 'b', 'c'];

const SEED_TABLES: readonly SourceTableSpec[] = [
  { name: 'users', key: ['user_id'], columns: { user_id: ids, name: names } },
  { name: 'cities', key: ['city_id'], columns: { city_id: ids, name: names } },
  { name: 'users_cities', key: ['user_id'], columns: { user_id: ids, city_id: ids } },
];

/** An identifier as SQL, quoted. */
const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

const SHAPES: readonly Shape[] = [
  {
    name: 'the seed join (users ⟕ users_cities ⟕ cities)',
    schema: 'auto_seed',
    create: `
      CREATE TABLE auto_seed.users (user_id integer PRIMARY KEY, name text);
      CREATE TABLE auto_seed.cities (city_id integer PRIMARY KEY, name text);
      CREATE TABLE auto_seed.users_cities (user_id integer PRIMARY KEY, city_id integer);`,
    tables: SEED_TABLES,
    query: `SELECT u.user_id, u.name, c.city_id, c.name AS city_name
      FROM auto_seed.users u
      LEFT JOIN auto_seed.users_cities uc ON uc.user_id = u.user_id
      LEFT JOIN auto_seed.cities c ON c.city_id = uc.city_id
      ORDER BY u.user_id`,
    keyColumns: ['user_id'],
    plan: { cities: 'rows', users: 'rows', users_cities: 'rows' },
  },
  {
    name: 'a four-table join through a many-to-many link (users ⋈ memberships ⋈ groups ⟕ orgs)',
    schema: 'auto_m2m',
    create: `
      CREATE TABLE auto_m2m.users (user_id integer PRIMARY KEY, name text);
      CREATE TABLE auto_m2m.memberships (user_id integer, group_id integer, role text, PRIMARY KEY (user_id, group_id));
      CREATE TABLE auto_m2m.groups (group_id integer PRIMARY KEY, name text, org_id integer);
      CREATE TABLE auto_m2m.orgs (org_id integer PRIMARY KEY, name text);`,
    tables: [
      { name: 'users', key: ['user_id'], columns: { user_id: ids, name: names } },
      { name: 'memberships', key: ['user_id', 'group_id'], columns: { user_id: ids, group_id: ids, role: names } },
      { name: 'groups', key: ['group_id'], columns: { group_id: ids, name: names, org_id: [1, 2, 3, null] } },
      { name: 'orgs', key: ['org_id'], columns: { org_id: [1, 2, 3, 4], name: names } },
    ],
    query: `SELECT m.user_id, m.group_id, m.role, u.name AS user_name, g.name AS group_name, o.org_id, o.name AS org_name
      FROM auto_m2m.memberships m
      JOIN auto_m2m.users u ON u.user_id = m.user_id
      JOIN auto_m2m.groups g ON g.group_id = m.group_id
      LEFT JOIN auto_m2m.orgs o ON o.org_id = g.org_id
      ORDER BY m.user_id, m.group_id`,
    keyColumns: ['user_id', 'group_id'],
    plan: { groups: 'rows', memberships: 'rows', orgs: 'rows', users: 'rows' },
  },
  {
    name: 'a view over an inner join',
    schema: 'auto_view',
    create: `
      CREATE TABLE auto_view.users (user_id integer PRIMARY KEY, name text);
      CREATE TABLE auto_view.cities (city_id integer PRIMARY KEY, name text);
      CREATE TABLE auto_view.users_cities (user_id integer PRIMARY KEY, city_id integer);
      CREATE VIEW auto_view.located AS
        SELECT u.user_id, u.name, c.city_id, c.name AS city_name
          FROM auto_view.users u
          JOIN auto_view.users_cities uc ON uc.user_id = u.user_id
          JOIN auto_view.cities c ON c.city_id = uc.city_id;`,
    tables: SEED_TABLES,
    query: 'SELECT * FROM auto_view.located ORDER BY user_id',
    keyColumns: ['user_id'],
    plan: { cities: 'rows', users: 'rows', users_cities: 'rows' },
  },
  {
    name: 'a GROUP BY (the table aggregated over is whole-table)',
    schema: 'auto_group',
    create: `
      CREATE TABLE auto_group.cities (city_id integer PRIMARY KEY, name text);
      CREATE TABLE auto_group.users_cities (user_id integer PRIMARY KEY, city_id integer);`,
    tables: SEED_TABLES.filter((table) => table.name !== 'users'),
    query: `SELECT uc.city_id, c.name, count(*)::integer AS users
      FROM auto_group.users_cities uc JOIN auto_group.cities c ON c.city_id = uc.city_id
      GROUP BY uc.city_id, c.name ORDER BY uc.city_id`,
    keyColumns: ['city_id'],
    plan: { cities: 'rows', users_cities: 'whole' },
  },
  {
    name: 'a CTE',
    schema: 'auto_cte',
    create: `
      CREATE TABLE auto_cte.users (user_id integer PRIMARY KEY, name text);
      CREATE TABLE auto_cte.users_cities (user_id integer PRIMARY KEY, city_id integer);`,
    tables: SEED_TABLES.filter((table) => table.name !== 'cities'),
    query: `WITH located AS (SELECT uc.user_id, uc.city_id FROM auto_cte.users_cities uc)
      SELECT u.user_id, u.name, l.city_id FROM auto_cte.users u JOIN located l ON l.user_id = u.user_id ORDER BY u.user_id`,
    keyColumns: ['user_id'],
    plan: { users: 'rows', users_cities: 'rows' },
  },
  {
    name: 'quoted identifiers and a composite key',
    schema: 'Auto Sales',
    create: `
      CREATE TABLE "Auto Sales"."Orders" ("Order Id" integer PRIMARY KEY, "Customer" text);
      CREATE TABLE "Auto Sales"."Order Items" ("Order Id" integer, "Line" integer, "Product" text, PRIMARY KEY ("Order Id", "Line"));`,
    tables: [
      { name: 'Orders', key: ['Order Id'], columns: { 'Order Id': ids, Customer: names } },
      { name: 'Order Items', key: ['Order Id', 'Line'], columns: { 'Order Id': ids, Line: [1, 2, 3], Product: names } },
    ],
    query: `SELECT o."Order Id", o."Customer", i."Line", i."Product"
      FROM "Auto Sales"."Orders" o JOIN "Auto Sales"."Order Items" i ON i."Order Id" = o."Order Id"
      ORDER BY 1, 3`,
    keyColumns: ['Order Id', 'Line'],
    plan: { 'Order Items': 'rows', Orders: 'rows' },
  },
  {
    name: 'a self-join under a LEFT JOIN (each occurrence linked apart)',
    schema: 'auto_self',
    create: 'CREATE TABLE auto_self.employees (employee_id integer PRIMARY KEY, name text, manager_id integer);',
    tables: [{ name: 'employees', key: ['employee_id'], columns: { employee_id: ids, name: names, manager_id: [...ids, null] } }],
    query: `SELECT e.employee_id, e.name, m.employee_id AS manager_id, m.name AS manager
      FROM auto_self.employees e LEFT JOIN auto_self.employees m ON m.employee_id = e.manager_id
      ORDER BY e.employee_id`,
    keyColumns: ['employee_id'],
    plan: { employees: 'rows' },
  },
];

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

for (const shape of SHAPES) {
  describe.skipIf(!server?.available)(`tables: 'auto' keeps ${shape.name} equal to the database (property)`, () => {
    let database: OpenBackend;
    let access: PostgresAccess;

    beforeAll(async () => {
      database = await (server as NonNullable<typeof server>).open();
      access = new PostgresAccess(database.connection);
      await database.exec(`CREATE SCHEMA ${quote(shape.schema)}; ${shape.create}`);
    });

    afterAll(async () => {
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
          const feed = new PgNotifyFeed(database.connection);
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
            await feed.close();
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
    if (source === undefined || source.how === 'whole') return Number.POSITIVE_INFINITY;
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

/** A record's primary key: its key column's value, or a tuple of them. */
function primaryKey(shape: Shape, row: Record<string, unknown>): Key {
  const values = shape.keyColumns.map((column) => row[column] as number);
  return values.length === 1 ? (values[0] as number) : values;
}

/** The shape's query restricted to records with these primary keys. */
function querySome(shape: Shape, keys: readonly Key[]) {
  const columns = shape.keyColumns.map((column) => `q.${quote(column)}`).join(', ');
  const arrays = shape.keyColumns.map((_, i) => `$${i + 1}::integer[]`).join(', ');
  return {
    sql: `SELECT * FROM (${shape.query}) q WHERE (${columns}) IN (SELECT * FROM unnest(${arrays}))`,
    parameters: shape.keyColumns.map((_, i) => keys.map((key) => [key].flat()[i])),
  };
}

function sortByKey(rows: readonly Record<string, unknown>[], shape: Shape): Record<string, unknown>[] {
  const key = (row: Record<string, unknown>) => [primaryKey(shape, row)].flat() as number[];
  return [...rows].sort((a, b) => {
    const [ka, kb] = [key(a), key(b)];
    for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return (ka[i] as number) - (kb[i] as number);
    return 0;
  });
}
